"""Command: flatten transcript files with a process pool straight into a night's partitions.

    python -m medscribe.lake.flatten_pool --lake URI --night YYYY-MM-DD [--processes 2] [--chunk-bytes N] < files

``nightly.flatten_night`` runs this as a child process instead of starting a pool itself: a pool started
inside an Airflow task would re-import the task process's ``__main__`` (the ``airflow`` command, whose
import needs the metadata database a task may not reach) in every worker (spawn, forkserver), or inherit
its threads, S3 clients and supervisor connection (fork). This process is clean: its pool is forked from a
fork server that has the flattener imported.

Standard input: one line per file, ``recording_id<TAB>job_name<TAB>path``, read as they come (the caller
may still be downloading the next files); each chunk goes to the pool as soon as it is full
(``columnar.flatten_files_to_lake``). Standard output: one JSON line, the result of
``flatten_files_to_lake``; on a file the flattener refuses, ``{"error": message}`` and exit status 1 (the
message names the file's position, never its content or path). Nothing is logged.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections.abc import Iterable, Iterator

from medscribe.lake.columnar import BATCH_BYTES, flatten_files_to_lake

PRELOAD = ["medscribe.lake.columnar", "medscribe.lake.store"]


def read_files(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(recording_id, job_name, path) of each non-empty ``id<TAB>job<TAB>path`` line."""
    for line in lines:
        line = line.rstrip("\n")
        if line:
            recording_id, job_name, path = line.split("\t", 2)
            yield recording_id, job_name, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", required=True, help="lake root: local path or s3:// URI")
    parser.add_argument("--night", required=True, help="the partition, YYYY-MM-DD")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--chunk-bytes", type=int, default=2 * BATCH_BYTES)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    try:
        result = flatten_files_to_lake(
            read_files(sys.stdin),
            args.lake,
            args.night,
            processes=args.processes,
            chunk_bytes=args.chunk_bytes,
            mp_context=context,
        )
    except ValueError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
