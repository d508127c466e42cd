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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from phases import phase_arrow, phase_baseline, phase_columnar, phase_duckdb, phase_json, phase_nightly
from transcripts import ENGINE_OUTPUTS, generate


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
