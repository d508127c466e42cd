"""Replacing one night: the lake's generation pointer against Delta Lake and Apache Iceberg, same run.

Neither table format is a dependency of the project; this script measured them when the design was
chosen (``include/medscribe/lake/README.md``, *Atomic replacement*). To run it again, in a separate
environment (not ``.venv``)::

    python3.11 -m venv /tmp/tf && /tmp/tf/bin/pip install deltalake==1.6.6 "pyiceberg[sql-sqlite]==0.12.0" \\
        pyarrow==26.0.1 duckdb==2.0.1 numpy
    /tmp/tf/bin/python bench/flatten/table_formats.py [--rows 200000 1360000] [--repeat 3]

For each size, on a local disk: the median time of ``--repeat`` replaces of an existing night of
``transcript_words`` (the table of ``partition_write.py``) by ``store.write_partition``, by
``deltalake.write_deltalake(mode="overwrite", predicate="night = ...")`` and by pyiceberg's
``Table.overwrite(..., overwrite_filter=night == ...)`` with a SQL (SQLite) catalog; the time to read
the night back; and the files each leaves per replace.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa
from partition_write import NIGHT, TABLE, words

from medscribe.lake import store


def files_under(path: str) -> int:
    return sum(len(names) for _, _, names in os.walk(path))


def with_night(table: pa.Table) -> pa.Table:
    return table.append_column("night", pa.array([NIGHT] * table.num_rows, pa.string()))


def generation(lake: str):
    def write(table: pa.Table) -> None:
        store.write_partition(TABLE, table, lake, NIGHT)

    def read() -> int:
        return store.read_table(TABLE, lake, NIGHT).num_rows

    return write, read


def delta(lake: str):
    import deltalake

    path = f"{lake}/{TABLE}"

    def write(table: pa.Table) -> None:
        if not os.path.exists(path):
            deltalake.write_deltalake(path, with_night(table), partition_by=["night"])
        else:
            deltalake.write_deltalake(
                path, with_night(table), mode="overwrite", predicate=f"night = '{NIGHT}'"
            )

    def read() -> int:
        return (
            deltalake.DeltaTable(path)
            .to_pyarrow_dataset()
            .to_table(filter=pa.compute.field("night") == NIGHT)
            .num_rows
        )

    return write, read


def iceberg(lake: str):
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import EqualTo
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    os.makedirs(lake, exist_ok=True)
    catalog = SqlCatalog("bench", uri=f"sqlite:///{lake}/catalog.db", warehouse=f"file://{lake}")
    catalog.create_namespace("lake")
    state = {}

    def write(table: pa.Table) -> None:
        data = with_night(table)
        if "table" not in state:
            created = catalog.create_table("lake.words", schema=data.schema)
            field = created.schema().find_field("night")
            spec = PartitionSpec(PartitionField(field.field_id, 1000, IdentityTransform(), "night"))
            catalog.drop_table("lake.words")
            state["table"] = catalog.create_table("lake.words", schema=created.schema(), partition_spec=spec)
            state["table"].append(data)
        else:
            state["table"] = catalog.load_table("lake.words")
            state["table"].overwrite(data, overwrite_filter=EqualTo("night", NIGHT))

    def read() -> int:
        return catalog.load_table("lake.words").scan(row_filter=EqualTo("night", NIGHT)).to_arrow().num_rows

    return write, read


def timed(action, *args, **kwargs) -> float:
    """Wall seconds of ``action(*args, **kwargs)``."""
    started = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_360_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import deltalake
    import pyiceberg

    print(
        f"replace of one {TABLE} night on a local disk, median of {args.repeat}; pyarrow {pa.__version__}, "
        f"deltalake {deltalake.__version__}, pyiceberg {pyiceberg.__version__}, {os.cpu_count()} CPUs"
    )
    for rows in args.rows:
        tables = [words(rows, seed) for seed in (1, 2)]
        with tempfile.TemporaryDirectory(prefix="formats-bench-") as tmp:
            ways = {
                name: make(f"{tmp}/{name}")
                for name, make in (
                    ("generation pointer", generation),
                    ("delta lake", delta),
                    ("iceberg (sql)", iceberg),
                )
            }
            times = {name: [] for name in ways}
            for write, _ in ways.values():
                write(tables[1])
            before = {name: files_under(f"{tmp}/{name}") for name in ways}
            for i in range(args.repeat):
                for name, (write, _) in ways.items():  # interleaved: the same machine load for each
                    times[name].append(timed(write, tables[i % 2]))
            for name, (_, read) in ways.items():
                assert read() == rows
                added = (files_under(f"{tmp}/{name}") - before[name]) / args.repeat
                print(
                    f"{rows:>9,} rows  {name:18}  replace {statistics.median(times[name]):6.3f} s  "
                    f"read {statistics.median(timed(read) for _ in range(args.repeat)):6.3f} s  "
                    f"files added per replace {added:4.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
