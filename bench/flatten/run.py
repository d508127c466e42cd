"""Benchmark: flatten engine-format transcript files into the Parquet lake, against a naive baseline.

    .venv/bin/python bench/flatten/run.py [--files 1000] [--scale 160] [--duckdb-rows 10000000]

1. Generates ``--files`` documents by scaling up AWS's published examples (tests/fixtures/aws): half
   HealthScribe transcript files, half Transcribe Medical (speaker labels) files. Each document repeats
   the example's items ``--scale`` times with times shifted by the example's duration (segments and
   insights too, with renamed ids), so the files have realistic structure and size. They are written
   as JSON files into a temporary directory.
2. Each phase runs in a fresh child process, so its peak RSS (``ru_maxrss``) is its own:
   - ``lake``: read each file, ``json.load``, flatten with medscribe.lake.parse, one
     ``store.write_partition`` per table for the night;
   - ``json``: only read and ``json.loads`` each file (the share of both runs no flattener avoids);
   - ``baseline``: read each file, ``json.load``, ``pandas.json_normalize`` of its items (alternatives
     as records, times as meta), ``DataFrame.to_parquet`` per file.
   Rows/s counts word rows (one per item alternative), the same number in both.
3. DuckDB: writes ``--duckdb-rows`` word rows generated with pyarrow (1,000 recordings) to a lake
   partition, then times ``select recording_id, avg(confidence) ... group by recording_id`` over the
   view of ``store.duckdb_connect`` (first run and best of 3).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "aws"
NIGHT = "2026-03-02"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def scaled_healthscribe(example: dict, scale: int, n: int) -> dict:
    """The HealthScribe example repeated ``scale`` times, times shifted, ids suffixed per copy."""
    conv = example["Conversation"]
    span = max(s["EndAudioTime"] for s in conv["TranscriptSegments"]) + 0.5
    items, segments, insights = [], [], []
    for k in range(scale):
        shift = k * span
        for item in conv["TranscriptItems"]:
            item = copy.deepcopy(item)
            if item["BeginAudioTime"] or item["EndAudioTime"]:
                item["BeginAudioTime"] = round(item["BeginAudioTime"] + shift, 3)
                item["EndAudioTime"] = round(item["EndAudioTime"] + shift, 3)
            items.append(item)
        for seg in conv["TranscriptSegments"]:
            seg = copy.deepcopy(seg)
            seg["SegmentId"] = f"{seg['SegmentId']}-{k}"
            seg["BeginAudioTime"] = round(seg["BeginAudioTime"] + shift, 3)
            seg["EndAudioTime"] = round(seg["EndAudioTime"] + shift, 3)
            segments.append(seg)
        for insight in conv["ClinicalInsights"]:
            insight = copy.deepcopy(insight)
            insight["InsightId"] = f"{insight['InsightId']}-{k}"
            for sp in insight["Spans"] + [s for a in insight["Attributes"] for s in a["Spans"]]:
                sp["SegmentId"] = f"{sp['SegmentId']}-{k}"
            insights.append(insight)
    return {"Conversation": {**conv, "JobName": f"bench-hs-{n}", "TranscriptItems": items,
                             "TranscriptSegments": segments, "ClinicalInsights": insights}}


def scaled_transcribe(example: dict, scale: int, n: int) -> dict:
    """The Transcribe Medical example repeated ``scale`` times, string times shifted."""
    results = example["results"]
    times = [float(i["end_time"]) for i in results["items"] if "end_time" in i]
    span = max(times) + 0.5

    def shifted(item: dict, shift: float) -> dict:
        item = copy.deepcopy(item)
        for key in ("start_time", "end_time"):
            if key in item:
                item[key] = f"{float(item[key]) + shift:.3f}"
        return item

    items, segments = [], []
    for k in range(scale):
        shift = k * span
        items += [shifted(i, shift) for i in results["items"]]
        for seg in results["speaker_labels"]["segments"]:
            seg = shifted(seg, shift)
            seg["items"] = [shifted(i, shift) for i in seg["items"]]
            segments.append(seg)
    labels = {**results["speaker_labels"], "segments": segments}
    return {**example, "jobName": f"bench-tm-{n}", "results": {**results, "items": items, "speaker_labels": labels}}


def generate(directory: Path, files: int, scale: int) -> list[Path]:
    hs = json.loads((FIXTURES / "healthscribe_transcript.json").read_text())
    tm = json.loads((FIXTURES / "transcribe_medical_speaker_labels.json").read_text())
    paths = []
    for n in range(files):
        doc = scaled_healthscribe(hs, scale, n) if n % 2 == 0 else scaled_transcribe(tm, scale * 3, n)
        path = directory / f"{'hs' if n % 2 == 0 else 'tm'}-{n:05d}.json"
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def phase_lake(inputs: Path, out: Path) -> dict:
    import pyarrow as pa

    from medscribe.lake.parse import healthscribe_transcript_tables, transcribe_medical_words_table
    from medscribe.lake.schemas import TABLES
    from medscribe.lake.store import write_partition

    rss_before = _rss_mb()
    started = time.perf_counter()
    parts: dict[str, list] = {}
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        ids = {"recording_id": path.stem, "job_name": f"job-{path.stem}"}
        if "Conversation" in doc:
            tables = healthscribe_transcript_tables(doc, **ids, with_insights=True)
        else:
            tables = {"transcript_words": transcribe_medical_words_table(doc, **ids)}
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    for name, tables in parts.items():
        write_partition(name, pa.concat_tables(tables) if tables else TABLES[name].empty_table(), str(out), NIGHT)
    seconds = time.perf_counter() - started
    rows = {name: sum(t.num_rows for t in tables) for name, tables in parts.items()}
    return {"seconds": seconds, "word_rows": rows["transcript_words"], "rows": rows,
            "rss_before_mb": rss_before, "peak_rss_mb": _rss_mb()}


def phase_baseline(inputs: Path, out: Path) -> dict:
    import pandas as pd

    rss_before = _rss_mb()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    word_rows = 0
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        if "Conversation" in doc:
            frame = pd.json_normalize(doc["Conversation"]["TranscriptItems"], record_path="Alternatives",
                                      meta=["BeginAudioTime", "EndAudioTime", "Type"])
        else:
            frame = pd.json_normalize(doc["results"]["items"], record_path="alternatives",
                                      meta=["start_time", "end_time", "type"], errors="ignore")
        frame.to_parquet(out / f"{path.stem}.parquet")
        word_rows += len(frame)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "word_rows": word_rows, "rss_before_mb": rss_before, "peak_rss_mb": _rss_mb()}


def phase_json(inputs: Path) -> dict:
    """Only read and ``json.loads`` every file: the floor of any flattener that parses with json."""
    started = time.perf_counter()
    items = 0
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        items += len(doc["Conversation"]["TranscriptItems"] if "Conversation" in doc else doc["results"]["items"])
    return {"seconds": time.perf_counter() - started, "items": items}


def phase_duckdb(out: Path, rows: int) -> dict:
    import numpy as np
    import pyarrow as pa

    from medscribe.lake.schemas import TABLES
    from medscribe.lake.store import duckdb_connect, write_partition

    rng = np.random.default_rng(8)
    ids = pa.array([f"rec-{i:04d}" for i in range(1000)])
    pick = pa.array(rng.integers(0, 1000, rows))
    recording = ids.take(pick)
    table = pa.table(
        {
            "recording_id": recording,
            "job_name": recording,
            "service": pa.array(["healthscribe"] * rows),
            "item_index": pa.array(np.arange(rows, dtype=np.int32)),
            "is_punctuation": pa.array(rng.random(rows) < 0.1),
            "confidence": pa.array(rng.random(rows)),
            "alternative_rank": pa.array(np.zeros(rows, dtype=np.int16)),
        }
    )
    schema = TABLES["transcript_words"]
    table = pa.table({f.name: table[f.name] if f.name in table.column_names else pa.nulls(rows, f.type)
                      for f in schema}, schema=schema)
    started = time.perf_counter()
    write_partition("transcript_words", table, str(out), NIGHT)
    write_seconds = time.perf_counter() - started
    del table
    query = ("select recording_id, avg(confidence) as mean_confidence, count(*) as words "
             "from transcript_words where not is_punctuation group by recording_id")
    con = duckdb_connect(str(out))
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        result = con.execute(query).fetchall()
        timings.append(time.perf_counter() - started)
    return {"rows": rows, "groups": len(result), "write_seconds": write_seconds, "first_seconds": timings[0],
            "best_of_3_seconds": min(timings[1:]), "threads": con.execute("select current_setting('threads')").fetchone()[0],
            "peak_rss_mb": _rss_mb()}


def child(phase: str, *args: str) -> dict:
    """Run one phase in a fresh interpreter and return its JSON result."""
    result = subprocess.run([sys.executable, __file__, "--phase", phase, *args],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=160, help="copies of the example per HealthScribe file")
    parser.add_argument("--duckdb-rows", type=int, default=10_000_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "lake":
        print(json.dumps(phase_lake(Path(args.paths[0]), Path(args.paths[1]))))
        return 0
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(Path(args.paths[0]), Path(args.paths[1]))))
        return 0
    if args.phase == "json":
        print(json.dumps(phase_json(Path(args.paths[0]))))
        return 0
    if args.phase == "duckdb":
        print(json.dumps(phase_duckdb(Path(args.paths[0]), int(args.paths[1]))))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-flatten-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        started = time.perf_counter()
        paths = generate(tmp / "in", args.files, args.scale)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"generated {len(paths)} files ({size_mb:.1f} MB JSON) in {time.perf_counter() - started:.1f} s")
        lake = child("lake", str(tmp / "in"), str(tmp / "lake"))
        base = child("baseline", str(tmp / "in"), str(tmp / "baseline"))
        assert lake["word_rows"] == base["word_rows"], (lake["word_rows"], base["word_rows"])
        lake_rate, base_rate = lake["word_rows"] / lake["seconds"], base["word_rows"] / base["seconds"]
        print(f"word rows: {lake['word_rows']:,} (all lake tables: {lake['rows']})")
        print(f"lake (parse.py + store.py): {lake['seconds']:.2f} s, {lake_rate:,.0f} word rows/s, "
              f"peak RSS {lake['peak_rss_mb']:.0f} MB (after imports {lake['rss_before_mb']:.0f} MB)")
        print(f"baseline (json_normalize + to_parquet per file): {base['seconds']:.2f} s, {base_rate:,.0f} word rows/s, "
              f"peak RSS {base['peak_rss_mb']:.0f} MB (after imports {base['rss_before_mb']:.0f} MB)")
        print(f"ratio lake / baseline: {lake_rate / base_rate:.1f}x")
        floor = child("json", str(tmp / "in"))
        print(f"reading + json.loads alone: {floor['seconds']:.2f} s "
              f"({floor['seconds'] / base['seconds']:.0%} of the baseline, {floor['seconds'] / lake['seconds']:.0%} of the lake run)")
        if args.duckdb_rows:
            db = child("duckdb", str(tmp / "duck"), str(args.duckdb_rows))
            print(f"duckdb: {db['rows']:,} word rows ({db['groups']} recordings) written in {db['write_seconds']:.1f} s; "
                  f"group-by avg(confidence): first {db['first_seconds']:.3f} s, best of 3 {db['best_of_3_seconds']:.3f} s "
                  f"({db['threads']} threads), peak RSS {db['peak_rss_mb']:.0f} MB")
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
