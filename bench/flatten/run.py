"""Benchmark: flatten offline-engine transcript files into the Parquet lake, against a naive baseline.

    .venv/bin/python bench/flatten/run.py [--files 1000] [--scale 15] [--duckdb-rows 10000000]

1. Generates ``--files`` transcript files from the five real engine outputs in tests/fixtures/engine
   (two HealthScribe, three Transcribe Medical: speaker labels, channel identification, alternatives),
   cycling over them. Each file is one output repeated ``--scale`` times end to end, as one longer
   recording: items, segments, speaker segments, channel items and alternative segments concatenated
   with times shifted by the recording's length, ids kept unique. Files are written as the engine
   writes them (UTF-8 JSON, indent 2) into a temporary directory.
2. Each phase runs in a fresh child process (peak RSS = its ``ru_maxrss``); wall time and CPU time
   (``process_time``: all threads of the process) are measured from after the imports:
   - ``baseline``: per file ``json.loads`` + ``pandas.json_normalize`` of the items' alternatives
     (times and type as meta, recording_id and job_name added), then the night's frames concatenated
     per service and written with ``DataFrame.to_parquet`` (one file per service);
   - ``columnar`` (1 thread, then 2): read the bytes, ``lake.columnar.flatten_transcripts`` (the lake's
     one transcript flattener), one ``store.write_partition`` per table (words, segments, insights,
     attributes);
   - ``nightly``: ``night.flatten.flatten_night``, the DAG's ``flatten`` call, on the same files as the
     night's completed jobs (S3 replaced by the local files); must give the rows of ``columnar``;
   - ``json`` / ``arrow``: only read and parse the files (``json.loads``; Arrow's reader as the fast
     path calls it, one thread): the floors of the two approaches.
   Rows/s counts word rows (one per item alternative), the same number in every phase; the ratio is
   baseline time / phase time, for wall and for CPU time.
3. DuckDB: writes ``--duckdb-rows`` word rows generated with pyarrow (1,000 recordings) to a lake
   partition, then times ``select recording_id, avg(confidence) ... group by recording_id`` over the
   view of ``store.duckdb_connect`` (first run and best of 3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "tests" / "fixtures" / "engine"
NIGHT = "2026-03-02"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


ENGINE_OUTPUTS = (
    "healthscribe_stereo",
    "healthscribe_mono",
    "transcribe_medical_speakers",
    "transcribe_medical_channels",
    "transcribe_medical_alternatives",
)
_LISTS = (
    ("Conversation", "TranscriptItems"),
    ("Conversation", "TranscriptSegments"),
    ("Conversation", "ClinicalInsights"),
    ("results", "items"),
    ("results", "speaker_labels", "segments"),
    ("results", "segments"),
)


def _format_time(seconds: float) -> str:
    """As the engine's writers.format_time: "0.74", "1.0"."""
    text = f"{seconds:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _shifted(node, shift: float, copy_index: int, id_offset: int):
    """A copy of a JSON node with times shifted, segment/insight ids suffixed and item ids offset."""
    if isinstance(node, list):
        return [_shifted(value, shift, copy_index, id_offset) for value in node]
    if not isinstance(node, dict):
        return node
    untimed = not node.get("BeginAudioTime") and not node.get("EndAudioTime")  # HealthScribe's 0/0
    out = {}
    for key, value in node.items():
        if key in ("start_time", "end_time") and isinstance(value, str):
            out[key] = _format_time(float(value) + shift)
        elif key in ("BeginAudioTime", "EndAudioTime") and isinstance(value, (int, float)):
            out[key] = value if untimed else round(value + shift, 3)
        elif key in ("SegmentId", "InsightId", "AttributeId") and isinstance(value, str):
            out[key] = f"{value}-{copy_index}"
        elif key == "id" and isinstance(value, int):
            out[key] = value + id_offset
        else:
            out[key] = _shifted(value, shift, copy_index, id_offset)
    return out


def _get(doc: dict, path: tuple):
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def scaled(doc: dict, copies: int) -> dict:
    """An engine output repeated ``copies`` times end to end, as one longer recording: items, segments,
    speaker segments, channel items and alternatives segments concatenated with times shifted by the
    recording's length (+0.5 s), ids kept unique, the transcript text repeated."""
    times = []
    text = json.dumps(doc)
    for key in ("start_time", "end_time"):
        times += [float(t) for t in re.findall(rf'"{key}": "([0-9.]+)"', text)]
    for key in ("BeginAudioTime", "EndAudioTime"):
        times += [float(t) for t in re.findall(rf'"{key}": ([0-9.]+)', text)]
    span = max(times) + 0.5
    items = _get(doc, ("results", "items")) or _get(doc, ("Conversation", "TranscriptItems")) or []
    copy_list = [_shifted(doc, k * span, k, k * len(items)) for k in range(copies)]
    out = copy_list[0]
    for path in _LISTS:
        if isinstance(_get(out, path), list):
            _get(out, path[:-1])[path[-1]] = [x for c in copy_list for x in _get(c, path)]
    for index, channel in enumerate(_get(out, ("results", "channel_labels", "channels")) or []):
        channel["items"] = [
            x for c in copy_list for x in c["results"]["channel_labels"]["channels"][index]["items"]
        ]
    for index, transcript in enumerate(_get(out, ("results", "transcripts")) or []):
        transcript["transcript"] = " ".join(
            c["results"]["transcripts"][index]["transcript"] for c in copy_list
        )
    return out


def generate(directory: Path, files: int, scale: int) -> list[Path]:
    """``files`` files cycling over the engine outputs, each scaled ``scale`` times and written as the
    engine writes (UTF-8, indent 2), with its own job name."""
    templates = [scaled(json.loads((ENGINE / f"{name}.json").read_text()), scale) for name in ENGINE_OUTPUTS]
    paths = []
    for n in range(files):
        name = ENGINE_OUTPUTS[n % len(templates)]
        doc = templates[n % len(templates)]
        if "Conversation" in doc:
            doc["Conversation"]["JobName"] = f"bench-{n:05d}"
        else:
            doc["jobName"] = f"bench-{n:05d}"
        path = directory / f"{n:05d}-{name}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        paths.append(path)
    return paths


def _write_night(parts: dict, out: Path) -> dict:
    """One write_partition per table; returns the row counts."""
    import pyarrow as pa

    from medscribe.lake.schemas import TABLES
    from medscribe.lake.store import write_partition

    for name, tables in parts.items():
        write_partition(
            name, pa.concat_tables(tables) if tables else TABLES[name].empty_table(), str(out), NIGHT
        )
    return {name: sum(t.num_rows for t in tables) for name, tables in parts.items()}


def phase_columnar(inputs: Path, out: Path, threads: int) -> dict:
    """The fast path: read the bytes, ``columnar.flatten_transcripts``, one write_partition per table."""
    import pyarrow as pa

    import medscribe.lake.store  # noqa: F401  (imported before the clock starts, like pandas for the baseline)
    from medscribe.lake.columnar import flatten_transcripts

    pa.set_cpu_count(threads)
    pa.set_io_thread_count(threads)
    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    files = ((p.stem, f"job-{p.stem}", p.read_bytes()) for p in sorted(inputs.glob("*.json")))
    tables = flatten_transcripts(files, use_threads=threads > 1)
    flatten_cpu = time.process_time() - cpu
    rows = _write_night({name: [table] for name, table in tables.items()}, out)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "write_cpu_seconds": cpu_seconds - flatten_cpu,
        "word_rows": rows["transcript_words"],
        "rows": rows,
        "threads": threads,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def phase_baseline(inputs: Path, out: Path) -> dict:
    """Naive pandas: per file ``json.loads`` + ``json_normalize`` of the items' alternatives (times and
    type as meta); the night's frames concatenated per service and written with ``to_parquet``."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (to_parquet imports it on first use)

    rss_before = _rss_mb()
    out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    frames: dict[str, list] = {"healthscribe": [], "transcribe_medical": []}
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        if "Conversation" in doc:
            frame = pd.json_normalize(
                doc["Conversation"]["TranscriptItems"],
                record_path="Alternatives",
                meta=["BeginAudioTime", "EndAudioTime", "Type"],
            )
            frames["healthscribe"].append(frame.assign(recording_id=path.stem, job_name=f"job-{path.stem}"))
        else:
            frame = pd.json_normalize(
                doc["results"]["items"],
                record_path="alternatives",
                meta=["start_time", "end_time", "type"],
                errors="ignore",
            )
            frames["transcribe_medical"].append(
                frame.assign(recording_id=path.stem, job_name=f"job-{path.stem}")
            )
    word_rows = 0
    for service, parts in frames.items():
        if parts:
            night = pd.concat(parts, ignore_index=True)
            night.to_parquet(out / f"{service}.parquet", index=False)
            word_rows += len(night)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "word_rows": word_rows,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def phase_json(inputs: Path) -> dict:
    """Only read and ``json.loads`` every file: the floor of any flattener that parses with json."""
    started, cpu = time.perf_counter(), time.process_time()
    items = 0
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        items += len(
            doc["Conversation"]["TranscriptItems"] if "Conversation" in doc else doc["results"]["items"]
        )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "items": items,
    }


def phase_arrow(inputs: Path) -> dict:
    """Only read the files and parse them with Arrow's JSON reader as the fast path does (one thread):
    the floor of the column-wise flattener."""
    import pyarrow as pa

    from medscribe.lake.columnar import BATCH_BYTES
    from medscribe.lake.columnar.reader import _read

    pa.set_cpu_count(1)
    started, cpu = time.perf_counter(), time.process_time()
    batch, size, rows = [], 0, 0
    for path in sorted(inputs.glob("*.json")):
        batch.append((path.stem, path.stem, path.read_bytes()))
        size += len(batch[-1][2])
        if size >= BATCH_BYTES:
            rows += _read(batch, use_threads=False).num_rows
            batch, size = [], 0
    rows += _read(batch, use_threads=False).num_rows if batch else 0
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, "files": rows}


def phase_nightly(inputs: Path, out: Path) -> dict:
    """The night's own call: ``night.flatten.flatten_night``, as the DAG's ``flatten`` task makes it (the
    column-wise flattener in the task's process, Arrow using every core). The outputs are served from
    the local files in place of S3 (``get_object`` only), so the S3 downloads are not in the figure; the
    jobs table is."""
    import medscribe.lake.store  # noqa: F401
    from medscribe.night.flatten import flatten_night

    class LocalObjects:
        def get_object(self, Bucket: str, Key: str) -> dict:
            return {"Body": open(inputs / Key, "rb")}

    recordings, jobs = [], {}
    for path in sorted(inputs.glob("*.json")):
        service = "healthscribe" if "healthscribe" in path.stem else "transcribe_medical"
        name = f"job-{path.stem}"
        uri = f"s3://bench/{path.name}"
        recordings.append(
            {
                "recording_id": path.stem,
                "job_name": name,
                "service": service,
                "options": {},
                "audio": {"media_format": "wav", "sample_rate_hz": 16000},
            }
        )
        jobs[name] = (
            {"MedicalScribeJobStatus": "COMPLETED", "MedicalScribeOutput": {"TranscriptFileUri": uri}}
            if service == "healthscribe"
            else {"TranscriptionJobStatus": "COMPLETED", "Transcript": {"TranscriptFileUri": uri}}
        )
    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    rows = flatten_night(
        recordings=recordings,
        describe_job=lambda _service, name: jobs[name],
        s3_client=LocalObjects(),
        lake_uri=str(out),
        night=NIGHT,
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "word_rows": rows["transcript_words"],
        "rows": {
            name: rows[name]
            for name in ("transcript_words", "transcript_segments", "clinical_insights", "insight_attributes")
        },
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


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
    table = pa.table(
        {f.name: table[f.name] if f.name in table.column_names else pa.nulls(rows, f.type) for f in schema},
        schema=schema,
    )
    started = time.perf_counter()
    write_partition("transcript_words", table, str(out), NIGHT)
    write_seconds = time.perf_counter() - started
    del table
    query = (
        "select recording_id, avg(confidence) as mean_confidence, count(*) as words "
        "from transcript_words where not is_punctuation group by recording_id"
    )
    con = duckdb_connect(str(out))
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        result = con.execute(query).fetchall()
        timings.append(time.perf_counter() - started)
    return {
        "rows": rows,
        "groups": len(result),
        "write_seconds": write_seconds,
        "first_seconds": timings[0],
        "best_of_3_seconds": min(timings[1:]),
        "threads": con.execute("select current_setting('threads')").fetchone()[0],
        "peak_rss_mb": _rss_mb(),
    }


def child(phase: str, *args: str) -> dict:
    """Run one phase in a fresh interpreter and return its JSON result."""
    load = os.getloadavg()[0]
    result = subprocess.run(
        [sys.executable, __file__, "--phase", phase, *args], capture_output=True, text=True, check=True
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["load"] = load  # 1-minute load average when the phase started
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--scale", type=int, default=15, help="copies of each engine output per file")
    parser.add_argument("--duckdb-rows", type=int, default=10_000_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    phases = {
        "columnar": lambda a: phase_columnar(Path(a[0]), Path(a[1]), int(a[2])),
        "baseline": lambda a: phase_baseline(Path(a[0]), Path(a[1])),
        "json": lambda a: phase_json(Path(a[0])),
        "arrow": lambda a: phase_arrow(Path(a[0])),
        "nightly": lambda a: phase_nightly(Path(a[0]), Path(a[1])),
        "duckdb": lambda a: phase_duckdb(Path(a[0]), int(a[1])),
    }
    if args.phase:
        print(json.dumps(phases[args.phase](args.paths)))
        return 0

    def line(label: str, run: dict, base: dict) -> str:
        rate = run["word_rows"] / run["seconds"]
        return (
            f"{label}: {run['seconds']:.2f} s wall, {rate:,.0f} word rows/s, "
            f"{base['seconds'] / run['seconds']:.1f}x the baseline; {run['cpu_seconds']:.2f} s CPU, "
            f"{base['cpu_seconds'] / run['cpu_seconds']:.1f}x; peak RSS {run['peak_rss_mb']:.0f} MB "
            f"(after imports {run['rss_before_mb']:.0f} MB); load {run['load']:.1f}"
        )

    load = os.getloadavg()[0]
    print(f"uptime at start: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with tempfile.TemporaryDirectory(prefix="bench-flatten-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        started = time.perf_counter()
        paths = generate(tmp / "in", args.files, args.scale)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        print(
            f"generated {len(paths)} files ({size_mb:.1f} MB JSON) from {len(ENGINE_OUTPUTS)} engine outputs "
            f"x {args.scale} in {time.perf_counter() - started:.1f} s"
        )
        inputs = str(tmp / "in")
        base = child("baseline", inputs, str(tmp / "baseline"))
        fast = {
            threads: child("columnar", inputs, str(tmp / f"lake-{threads}"), str(threads))
            for threads in (1, 2)
        }
        for run in fast.values():
            assert run["word_rows"] == base["word_rows"], (run["word_rows"], base["word_rows"])
        print(f"word rows: {base['word_rows']:,} (all lake tables: {fast[2]['rows']})")
        print(line("baseline (json.loads + json_normalize + to_parquet)", base, base))
        for threads, label in (
            (1, "columnar, 1 thread"),
            (2, "columnar, 2 threads (what flatten_night calls)"),
        ):
            print(
                line(label, fast[threads], base)
                + f"; of which write_partition {fast[threads]['write_cpu_seconds']:.2f} s CPU"
            )
        night = child("nightly", inputs, str(tmp / "lake-nightly"))
        assert night["rows"] == fast[2]["rows"], (night["rows"], fast[2]["rows"])
        print(
            "night.flatten.flatten_night (the DAG's call: column-wise in the task's process; S3 downloads excluded): "
            f"{night['seconds']:.2f} s wall, {night['word_rows'] / night['seconds']:,.0f} word rows/s, "
            f"{base['seconds'] / night['seconds']:.1f}x the baseline in wall time; {night['cpu_seconds']:.2f} s CPU, "
            f"{base['cpu_seconds'] / night['cpu_seconds']:.1f}x; peak RSS {night['peak_rss_mb']:.0f} MB; load {night['load']:.1f}"
        )
        for name, label in (
            ("json", "read + json.loads alone"),
            ("arrow", "read + Arrow JSON reader alone, 1 thread"),
        ):
            floor = child(name, inputs)
            print(
                f"{label}: {floor['seconds']:.2f} s wall, {floor['cpu_seconds']:.2f} s CPU "
                f"({floor['cpu_seconds'] / base['cpu_seconds']:.0%} of the baseline's CPU: a path that parses "
                f"this way is at most {base['cpu_seconds'] / floor['cpu_seconds']:.1f}x the baseline in CPU time)"
            )
        if args.duckdb_rows:
            db = child("duckdb", str(tmp / "duck"), str(args.duckdb_rows))
            print(
                f"duckdb: {db['rows']:,} word rows ({db['groups']} recordings) written in "
                f"{db['write_seconds']:.1f} s; group-by avg(confidence): first {db['first_seconds']:.3f} s, "
                f"best of 3 {db['best_of_3_seconds']:.3f} s ({db['threads']} threads), "
                f"peak RSS {db['peak_rss_mb']:.0f} MB"
            )
        print(f"uptime at end: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        print(
            f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
