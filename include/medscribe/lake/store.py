"""Write and read the Parquet lake: one directory per table, hive-partitioned by night.

Layout (see ``generations`` for the why)::

    <lake>/<table>/night=<YYYY-MM-DD>/gen-<time>-<hex>/part-<i>.parquet     a generation's files
    <lake>/_symlink_format_manifest/<table>/night=<YYYY-MM-DD>/manifest     names the current generation

``lake_uri`` is a local path, a ``file://`` URI or an ``s3://bucket/prefix`` URI (credentials, region
and endpoint from the environment, e.g. ``AWS_ENDPOINT_URL=http://127.0.0.1:5055`` for a local S3, or
options in the URI such as ``?endpoint_override=127.0.0.1:5055&scheme=http``); any function also takes
``filesystem=`` (e.g. ``pyarrow.fs.S3FileSystem(endpoint_override=...)``), ``lake_uri`` then being the
path inside it (``s3://`` is stripped).

Replacing a partition (``write_partition``), the same on S3 and on a local disk:

- The new files are written as a new generation, under a prefix no reader looks at; then the night's
  pointer (one small object) is replaced in one atomic step. Readers (``read_table``, ``row_counts``,
  ``duckdb_connect``, Athena) read only the files the pointer names, so they see the whole old or the
  whole new partition, never a mix; a writer that fails or is killed at any point leaves the old
  partition current (its unnamed files are garbage, collected later).
- Superseded generations are deleted once they have been superseded for ``generations.GRACE`` (by the
  next write of that night, or by ``collect_garbage``, which the retention DAG runs daily), so a reader
  that read the previous pointer can finish.
- One writer per table and night at a time (in Airflow: one task owns a table-night); of two
  concurrent writers the last pointer written wins, each partition whole.
- Writing the same table twice gives the same rows (no duplicates). An empty table still replaces the
  partition: the night is then one zero-row ``part-0.parquet`` carrying the full schema.

DuckDB (``duckdb_connect``) reads local lakes directly and ``s3://`` lakes through fsspec: an
``s3fs.S3FileSystem`` registered on the connection (DuckDB's own httpfs extension is a run-time download,
and the PyPI builds of it target DuckDB 1.5, not the pinned 2.0). Endpoint, region and credentials as for
the other functions (URI options or the environment). A connection's views name the files current when
it was opened: a snapshot of the lake, consistent across tables; reconnect to see later writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import urllib.parse
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from medscribe.lake import generations
from medscribe.lake.schemas import PARTITION_COLUMN, TABLES

MAX_ROWS_PER_FILE = 5_000_000
MAX_ROWS_PER_GROUP = 250_000


def _schema(table_name: str) -> pa.Schema:
    if table_name not in TABLES:
        raise ValueError(f"unknown table {table_name!r}; known: {sorted(TABLES)}")
    return TABLES[table_name]


def _check_night(night: str) -> str:
    try:
        if isinstance(night, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", night):
            dt.date.fromisoformat(night)
            return night
    except ValueError:
        pass
    raise ValueError(f"night must be a date as YYYY-MM-DD, got {night!r}")


def resolve(lake_uri: str, filesystem: pafs.FileSystem | None = None) -> tuple[pafs.FileSystem, str]:
    """Return the filesystem and the root path of a lake.

    :param lake_uri: local path, ``file://`` or ``s3://`` URI.
    :param filesystem: filesystem to use instead of the one the URI names.
    :return: (filesystem, root path inside it, without a trailing slash).
    """
    if filesystem is not None:
        path = lake_uri.split("://", 1)[1] if "://" in lake_uri else lake_uri
        return filesystem, path.rstrip("/")
    if "://" not in lake_uri:
        return pafs.LocalFileSystem(), os.path.abspath(lake_uri)
    fs, path = pafs.FileSystem.from_uri(lake_uri)
    return fs, path.rstrip("/")


def conform(table_name: str, table: pa.Table) -> pa.Table:
    """Return table with exactly the declared schema of table_name (column order, types, metadata).

    :param table_name: a key of ``TABLES``.
    :param table: the rows; same column names as the schema, types castable to it.
    :raises ValueError: other column names, nulls in a non-nullable column, or types that do not cast
        (the message names columns and types only, never values).
    """
    schema = _schema(table_name)
    missing = [n for n in schema.names if n not in table.column_names]
    unexpected = [n for n in table.column_names if n not in schema.names]
    if missing or unexpected:
        raise ValueError(
            f"{table_name}: columns differ from the schema: missing {missing}, unexpected {unexpected}"
        )
    if table.schema.equals(schema, check_metadata=True):
        return table
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise ValueError(f"{table_name}.{field.name} is not nullable but has nulls")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        changes = [
            f"{f.name}: {table.schema.field(f.name).type} -> {f.type}"
            for f in schema
            if table.schema.field(f.name).type != f.type
        ]
        raise ValueError(f"{table_name}: cannot cast to the schema ({', '.join(changes)})") from None


def _write_files(table: pa.Table, fs: pafs.FileSystem, directory: str) -> list[str]:
    """Write table as part-<i>.parquet files into a new directory (one zero-row file if it is empty).

    :return: the paths written, in order.
    """
    if table.num_rows == 0:
        fs.create_dir(directory, recursive=True)
        pq.write_table(table, f"{directory}/part-0.parquet", filesystem=fs)
        return [f"{directory}/part-0.parquet"]
    written: list[str] = []
    ds.write_dataset(
        table,
        directory,
        filesystem=fs,
        format="parquet",
        basename_template="part-{i}.parquet",
        preserve_order=True,
        max_rows_per_file=MAX_ROWS_PER_FILE,
        max_rows_per_group=MAX_ROWS_PER_GROUP,
        existing_data_behavior="error",
        file_visitor=lambda written_file: written.append(written_file.path),
    )
    return sorted(written, key=lambda path: int(path.rsplit("-", 1)[1].split(".")[0]))


def write_partition(
    table_name: str,
    table: pa.Table,
    lake_uri: str,
    night: str,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> str:
    """Replace the whole ``night=<night>`` partition of a table with these rows, atomically, in one call.

    The rows are written as a new generation, then the night's pointer is replaced in one step (see the
    module docstring); generations of this night superseded more than ``generations.GRACE`` ago are
    deleted first.

    :param table_name: a key of ``TABLES``.
    :param table: the rows for that night, with the table's schema (cast if needed, see ``conform``); a
        ``night`` column, if present, must hold only this night and is dropped.
    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: the partition, ``YYYY-MM-DD``.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: path of the new generation's directory (prefixed with the filesystem's scheme when not local).
    :raises ValueError: unknown table, bad night, or rows that do not fit the schema.
    """
    _check_night(night)
    if PARTITION_COLUMN in table.column_names:
        values = table.column(PARTITION_COLUMN).unique().to_pylist()
        if values not in ([], [night]):
            raise ValueError(f"{table_name}: the {PARTITION_COLUMN} column holds other nights than {night}")
        table = table.drop_columns([PARTITION_COLUMN])
    data = conform(table_name, table)
    fs, root = resolve(lake_uri, filesystem)
    generations.collect_garbage(fs, root, table_name, night)
    directory = f"{generations.night_dir(root, table_name, night)}/{generations.new_generation()}"
    try:
        paths = _write_files(data, fs, directory)
    except BaseException:
        with contextlib.suppress(OSError):  # best effort: what is left is unnamed garbage, collected later
            fs.delete_dir(directory)
        raise
    # A failure here keeps the files: the pointer may name them already (an upload whose answer was
    # lost); if it does not, they are garbage like any unnamed generation.
    generations.replace_pointer(fs, root, table_name, night, paths)
    return directory if isinstance(fs, pafs.LocalFileSystem) else f"{fs.type_name}://{directory}"


def collect_garbage(
    lake_uri: str,
    *,
    table_name: str | None = None,
    night: str | None = None,
    grace: dt.timedelta | None = None,
    filesystem: pafs.FileSystem | None = None,
) -> int:
    """Delete superseded generations (and files of writers that died) across the lake, or of one table/night.

    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param table_name: one table; every table of ``TABLES`` if None.
    :param night: ``YYYY-MM-DD``, one night; every night with a pointer if None.
    :param grace: keep what was superseded less than this long ago; ``generations.GRACE`` if None
        (0: delete at once, e.g. after a recording is forgotten; ``read_table`` then resolves the pointers
        again if a file it was about to read has gone; an open DuckDB connection may fail: reconnect).
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: the number of files deleted.
    """
    fs, root = resolve(lake_uri, filesystem)
    deleted = 0
    for name in [table_name] if table_name else list(TABLES):
        _schema(name)
        nights = [_check_night(night)] if night else generations.pointed_nights(fs, root, name)
        for each in nights:
            deleted += generations.collect_garbage(fs, root, name, each, grace=grace)
    return deleted


def adopt_legacy_partitions(
    lake_uri: str, *, filesystem: pafs.FileSystem | None = None
) -> dict[str, list[str]]:
    """Write pointers for nights written before generations existed (files directly in ``night=...``), so
    Athena's symlink tables see them too; no data is copied. Idempotent.

    :return: {table: nights adopted}, tables with none left out.
    """
    fs, root = resolve(lake_uri, filesystem)
    adopted = {name: generations.adopt_legacy(fs, root, name) for name in TABLES}
    return {name: nights for name, nights in adopted.items() if nights}


def _with_night(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(PARTITION_COLUMN, pa.string()))


def _files(table_name: str, fs: pafs.FileSystem, root: str, night: str | None) -> list[str]:
    """The current files of a table, all nights or one, in night order."""
    _schema(table_name)
    found = generations.current_files(fs, root, table_name, _check_night(night) if night else None)
    return [path for each in sorted(found) for path in found[each]]


def _dataset(table_name: str, fs: pafs.FileSystem, root: str, files: list[str]) -> ds.Dataset:
    """Dataset over the given files of a table, read with its declared schema plus ``night`` from the path."""
    schema = _with_night(_schema(table_name))
    partitioning = ds.partitioning(pa.schema([schema.field(PARTITION_COLUMN)]), flavor="hive")
    return ds.dataset(
        files,
        schema=schema,
        format="parquet",
        filesystem=fs,
        partitioning=partitioning,
        partition_base_dir=f"{root}/{table_name}",
    )


# A read that lost a race with a garbage collection (grace 0) resolves the pointers again; a file still
# missing after that many tries is an error.
READ_ATTEMPTS = 10


def _read(table_name: str, lake_uri: str, night: str | None, filesystem: pafs.FileSystem | None, action):
    """``action(dataset)`` over the current files, again from the pointers if a named file has gone."""
    fs, root = resolve(lake_uri, filesystem)
    files = _files(table_name, fs, root, night)
    for attempt in range(1, READ_ATTEMPTS + 1):
        if not files:
            return action(None)
        try:
            dataset = _dataset(table_name, fs, root, files)
            if len(dataset.files) != len(files):  # the factory leaves out files that have gone
                raise FileNotFoundError(f"{table_name}: a file named by a pointer has gone")
            return action(dataset)
        except OSError:
            again = _files(table_name, fs, root, night)
            if again == files or attempt == READ_ATTEMPTS:
                raise
            files = again


def read_table(
    table_name: str,
    lake_uri: str,
    night: str | None = None,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> pa.Table:
    """Read a table, all nights or one, with its declared schema plus the ``night`` column (string).

    Only the files each night's pointer names are read (one whole generation per night). Partitions
    written before a column was added read as nulls in that column.

    :param table_name: a key of ``TABLES``.
    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: ``YYYY-MM-DD`` to read one partition; None for all.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    """
    empty = _with_night(_schema(table_name)).empty_table()
    return _read(
        table_name,
        lake_uri,
        night,
        filesystem,
        lambda dataset: empty if dataset is None else dataset.to_table(),
    )


def row_counts(
    lake_uri: str,
    night: str | None = None,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> dict[str, int]:
    """Count rows per table (from Parquet footers), for all nights or one.

    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: ``YYYY-MM-DD`` to count one partition; None for all.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: {table name: rows}, every table of ``TABLES`` included.
    """
    return {
        name: _read(
            name, lake_uri, night, filesystem, lambda dataset: 0 if dataset is None else dataset.count_rows()
        )
        for name in TABLES
    }


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def s3_fsspec(lake_uri: str) -> tuple[Any, str]:
    """Return an fsspec S3 filesystem (``s3fs``) and the ``bucket/prefix`` root of an ``s3://`` lake.

    The URI may carry pyarrow's options (``endpoint_override``, ``scheme``, ``region``); otherwise the
    endpoint comes from ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3`` and the credentials from boto's usual
    chain. Listings are not cached, so a connection opened after a rewrite sees the new partition.
    """
    import s3fs

    parsed = urllib.parse.urlsplit(lake_uri)
    options = dict(urllib.parse.parse_qsl(parsed.query))
    client_kwargs = {"region_name": options["region"]} if "region" in options else {}
    endpoint = options.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{options.get('scheme', 'https')}://{endpoint}"
    filesystem = s3fs.S3FileSystem(
        endpoint_url=endpoint, client_kwargs=client_kwargs, use_listings_cache=False, skip_instance_cache=True
    )
    return filesystem, f"{parsed.netloc}{parsed.path}".rstrip("/")


def duckdb_connect(lake_uri: str) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection with one view per table over a local or S3 lake.

    Each view is ``read_parquet([<the files the nights' pointers name>], hive_partitioning=true,
    union_by_name=true, hive_types={'night': 'VARCHAR'})``: ``night`` is a string column as in
    ``read_table`` (not auto-cast to DATE), only current generations are read, and partitions written
    before a column was added read as nulls there. The file lists are taken when the connection opens:
    the connection sees the lake as it was then (reconnect to see later writes). A table with no data
    then is an empty view with the declared columns.

    :param lake_uri: local path, ``file://`` URI, or ``s3://bucket/prefix`` URI (read through ``s3fs``
        registered with DuckDB; see ``s3_fsspec`` for the endpoint and credentials).
    """
    if "://" in lake_uri and not lake_uri.startswith(("s3://", "file://")):
        raise ValueError("duckdb_connect reads local paths, file:// and s3:// lakes")
    fs, root = resolve(lake_uri)
    con = duckdb.connect()
    prefix = ""
    if lake_uri.startswith("s3://"):
        filesystem, _ = s3_fsspec(lake_uri)
        con.register_filesystem(filesystem)
        prefix = "s3://"
    hive_types = f"{{'{PARTITION_COLUMN}': 'VARCHAR'}}"
    options = f"hive_partitioning = true, union_by_name = true, hive_types = {hive_types}"
    for name, schema in TABLES.items():
        files = _files(name, fs, root, None)
        if files:
            listed = ", ".join(_sql_string(prefix + path) for path in files)
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}], {options})')
        else:
            con.register(name, _with_night(schema).empty_table())
    return con
