"""Time to replace one night partition: the generation-pointer writer against the previous writer.

    .venv/bin/python bench/flatten/partition_write.py [--rows 10000 200000 1360000] [--repeat 3]

Both writers replace an existing ``transcript_words`` partition of the same synthetic table (the shape of
``run.py``'s DuckDB phase; 1.36 M rows is the night of 1,000 transcripts in ``README.md``), in the same
run, on a local disk and on an S3 served by moto in this process (loopback HTTP: it shows the requests'
cost, not S3's latency). Each line prints the median wall time of ``--repeat`` replaces, previous and
new, and the new writer's overhead; the time to read the night back (``read_table``) from each layout;
and on S3 the HTTP requests of one replace, previous / new.

The previous writer (before issue 25) is kept here only as the baseline: files written to a hidden
temporary directory, then on S3 the old files deleted and the new ones moved in (a copy and a delete per
object: not atomic); on a local disk two renames.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "include"))

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from medscribe.lake import store
from medscribe.lake.schemas import TABLES

NIGHT = "2026-12-01"
TABLE = "transcript_words"


def words(rows: int, seed: int) -> pa.Table:
    """A synthetic transcript_words table of ``rows`` rows (1,000 recordings, random confidences)."""
    rng = np.random.default_rng(seed)
    recording = pa.array([f"rec-{i:04d}" for i in range(1000)]).take(pa.array(rng.integers(0, 1000, rows)))
    columns = {
        "recording_id": recording,
        "job_name": recording,
        "service": pa.array(["healthscribe"] * rows),
        "item_index": pa.array(np.arange(rows, dtype=np.int32)),
        "content": pa.array(rng.choice(["the", "patient", "reports", "pain", "."], rows)),
        "is_punctuation": pa.array(rng.random(rows) < 0.1),
        "confidence": pa.array(rng.random(rows)),
        "alternative_rank": pa.array(np.zeros(rows, dtype=np.int16)),
    }
    schema = TABLES[TABLE]
    return pa.table({f.name: columns.get(f.name, pa.nulls(rows, f.type)) for f in schema}, schema=schema)


def previous_write_partition(
    table: pa.Table, lake: str, night: str, filesystem: pafs.FileSystem | None
) -> None:
    """The previous writer's replace of one partition (its recovery listing included)."""
    data = store.conform(TABLE, table)
    fs, root = store.resolve(lake, filesystem)
    table_dir = f"{root}/{TABLE}"
    final, token = f"{table_dir}/night={night}", uuid.uuid4().hex[:12]
    tmp, old = f"{table_dir}/.night={night}.tmp-{token}", f"{table_dir}/.night={night}.old-{token}"
    fs.create_dir(table_dir, recursive=True)
    fs.get_file_info(pafs.FileSelector(table_dir))  # its _recover: one listing of the table directory
    store._write_files(data, fs, tmp)
    if isinstance(fs, pafs.LocalFileSystem):
        had_old = os.path.exists(final)
        if had_old:
            os.rename(final, old)
        os.rename(tmp, final)
        if had_old:
            fs.delete_dir(old)
        return
    fs.delete_dir_contents(final, missing_dir_ok=True)
    fs.create_dir(final, recursive=True)
    for info in fs.get_file_info(pafs.FileSelector(tmp)):
        fs.move(info.path, f"{final}/{info.base_name}")
    fs.delete_dir(tmp)


class RequestCounter(logging.Handler):
    """Counts the HTTP requests moto's server logs (one record per request)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


REQUESTS = RequestCounter()


def timed(action, *args, **kwargs) -> float:
    """Wall seconds of ``action(*args, **kwargs)``."""
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


def measure(where: str, lakes: dict[str, str], filesystem, rows: int, repeat: int) -> str:
    tables = [words(rows, seed) for seed in (1, 2)]
    writers = {
        "previous": lambda t: previous_write_partition(t, lakes["previous"], NIGHT, filesystem),
        "new": lambda t: store.write_partition(TABLE, t, lakes["new"], NIGHT, filesystem=filesystem),
    }
    times: dict[str, list[float]] = {name: [] for name in writers}
    requests: dict[str, int] = {}
    for write in writers.values():
        write(tables[1])  # the partition exists before each timed replace
    for i in range(repeat):
        for name, write in writers.items():  # interleaved, so that both see the same machine load
            before = REQUESTS.count
            times[name].append(timed(write, tables[i % 2]))
            requests[name] = REQUESTS.count - before
    reads = {
        name: statistics.median(
            timed(store.read_table, TABLE, lakes[name], NIGHT, filesystem=filesystem) for _ in range(repeat)
        )
        for name in writers
    }
    previous, new = (statistics.median(times[n]) for n in ("previous", "new"))
    counted = f"  S3 requests {requests['previous']} / {requests['new']}" if filesystem is not None else ""
    return (
        f"{where:6} {rows:>9,} rows  replace: previous {previous:6.3f} s  new {new:6.3f} s  "
        f"({(new - previous) / previous:+.0%})   read: previous {reads['previous']:6.3f} s  "
        f"new {reads['new']:6.3f} s{counted}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 200_000, 1_360_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    werkzeug.handlers = [REQUESTS]

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = pafs.S3FileSystem(
            endpoint_override=f"{host}:{port}",
            scheme="http",
            access_key="bench",
            secret_key="bench",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        s3.create_dir("bench-lake")
        print(
            f"replace of one {TABLE} partition, median of {args.repeat}; pyarrow {pa.__version__}, "
            f"{os.cpu_count()} CPUs"
        )
        with tempfile.TemporaryDirectory(prefix="partition-bench-") as tmp:
            for rows in args.rows:
                local = {name: f"{tmp}/{name}-{rows}" for name in ("previous", "new")}
                print(measure("local", local, None, rows, args.repeat), flush=True)
                remote = {name: f"bench-lake/{name}-{rows}" for name in ("previous", "new")}
                print(measure("moto", remote, s3, rows, args.repeat), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
