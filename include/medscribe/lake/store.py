"""Write and read the Parquet lake: one directory per table, hive-partitioned by night.

Layout::

    <lake>/<table>/night=<YYYY-MM-DD>/part-<i>.parquet

``lake_uri`` is a local path, a ``file://`` URI or an ``s3://bucket/prefix`` URI (credentials, region
and endpoint from the environment, e.g. ``AWS_ENDPOINT_URL=http://127.0.0.1:5055`` for a local S3, or
options in the URI such as ``?endpoint_override=127.0.0.1:5055&scheme=http``); any function also takes
``filesystem=`` (e.g. ``pyarrow.fs.S3FileSystem(endpoint_override=...)``), ``lake_uri`` then being the
path inside it (``s3://`` is stripped).

Replacing a partition (``write_partition``):

- The new files are written into a hidden sibling directory ``<table>/.night=<night>.tmp-<token>``;
  readers ignore it (pyarrow skips names starting with "." or "_", the DuckDB views glob ``night=*``).
  If writing fails, it is removed and the previous partition is untouched.
- Local filesystems: the swap is two renames, ``night=<night>`` -> ``.night=<night>.old-<token>`` then
  the temporary directory -> ``night=<night>``, then the old copy is deleted. Readers see the whole old
  or the whole new partition; a process killed exactly between the two renames leaves the night absent
  until the next ``write_partition`` for that table and night, which first restores the ``.old`` copy
  and removes leftovers of interrupted writes.
- Other filesystems (S3) have no rename: the old partition's files are deleted and the new ones moved
  (copied) in. Not atomic: a reader during the swap may see the night missing or partial, and a crash
  there is repaired by running the write again.
- One writer per table and night at a time (in Airflow: one task owns a table-night); a second
  concurrent writer may have its temporary directory removed as a leftover and fail.
- Writing the same table twice gives the same partition (no duplicates). An empty table still replaces
  the partition: the night is then represented by one zero-row ``part-0.parquet`` carrying the full
  schema, which DuckDB and pyarrow read as zero rows with the right columns (a partition directory with
  no file would make DuckDB's glob fail when no other night has data).

DuckDB (``duckdb_connect``) reads local lakes directly and ``s3://`` lakes through fsspec: an
``s3fs.S3FileSystem`` registered on the connection (DuckDB's own httpfs extension is a run-time download,
and the PyPI builds of it target DuckDB 1.5, not the pinned 2.0). Endpoint, region and credentials as for
the other functions (URI options or the environment).
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import re
import urllib.parse
import uuid
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

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


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _write_files(table: pa.Table, fs: pafs.FileSystem, directory: str) -> None:
    """Write table as part-<i>.parquet files into a new directory (one zero-row file if it is empty)."""
    if table.num_rows == 0:
        fs.create_dir(directory, recursive=True)
        pq.write_table(table, f"{directory}/part-0.parquet", filesystem=fs)
        return
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
    )


def _recover(fs: pafs.FileSystem, table_dir: str, night: str) -> None:
    """Undo what an interrupted write of this night left: restore a lost partition, drop leftovers."""
    final = f"{table_dir}/night={night}"
    prefix = f".{PARTITION_COLUMN}={night}."
    entries = fs.get_file_info(pafs.FileSelector(table_dir))
    leftovers = sorted((i for i in entries if i.base_name.startswith(prefix)), key=lambda i: i.mtime_ns or 0)
    olds = [info.path for info in leftovers if ".old-" in info.base_name]
    if olds and not _exists(fs, final):
        fs.move(olds[-1], final)
    for info in leftovers:
        if _exists(fs, info.path):
            fs.delete_dir(info.path)


def _swap(fs: pafs.FileSystem, tmp: str, final: str, old: str) -> None:
    """Put the finished directory tmp in place of final (see the module docstring)."""
    if isinstance(fs, pafs.LocalFileSystem):
        had_old = os.path.exists(final)
        if had_old:
            os.rename(final, old)
        try:
            os.rename(tmp, final)
        except BaseException:
            if had_old:
                os.rename(old, final)
            raise
        if had_old:
            fs.delete_dir(old)
        return
    fs.delete_dir_contents(final, missing_dir_ok=True)
    fs.create_dir(final, recursive=True)
    for info in fs.get_file_info(pafs.FileSelector(tmp)):
        fs.move(info.path, f"{final}/{info.base_name}")
    fs.delete_dir(tmp)


def write_partition(
    table_name: str,
    table: pa.Table,
    lake_uri: str,
    night: str,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> str:
    """Replace the whole ``night=<night>`` partition of a table with these rows, in one call.

    :param table_name: a key of ``TABLES``.
    :param table: the rows for that night, with the table's schema (cast if needed, see ``conform``); a
        ``night`` column, if present, must hold only this night and is dropped.
    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: the partition, ``YYYY-MM-DD``.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: path of the partition directory (prefixed with the filesystem's scheme when not local).
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
    table_dir = f"{root}/{table_name}"
    final = f"{table_dir}/{PARTITION_COLUMN}={night}"
    token = uuid.uuid4().hex[:12]
    tmp = f"{table_dir}/.{PARTITION_COLUMN}={night}.tmp-{token}"
    fs.create_dir(table_dir, recursive=True)
    _recover(fs, table_dir, night)
    try:
        _write_files(data, fs, tmp)
        _swap(fs, tmp, final, f"{table_dir}/.{PARTITION_COLUMN}={night}.old-{token}")
    except BaseException:
        if _exists(fs, tmp):
            fs.delete_dir(tmp)
        raise
    return final if isinstance(fs, pafs.LocalFileSystem) else f"{fs.type_name}://{final}"


def _with_night(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field(PARTITION_COLUMN, pa.string()))


def _dataset(table_name: str, fs: pafs.FileSystem, root: str) -> ds.Dataset | None:
    """Dataset over a table's partitions read with its declared schema, or None if it has no data yet."""
    schema = _with_night(_schema(table_name))
    table_dir = f"{root}/{table_name}"
    if not _exists(fs, table_dir):
        return None
    partitioning = ds.partitioning(pa.schema([schema.field(PARTITION_COLUMN)]), flavor="hive")
    return ds.dataset(table_dir, schema=schema, format="parquet", filesystem=fs, partitioning=partitioning)


def _night_filter(night: str | None) -> Any:
    return None if night is None else ds.field(PARTITION_COLUMN) == _check_night(night)


def read_table(
    table_name: str,
    lake_uri: str,
    night: str | None = None,
    *,
    filesystem: pafs.FileSystem | None = None,
) -> pa.Table:
    """Read a table, all nights or one, with its declared schema plus the ``night`` column (string).

    Partitions written before a column was added read as nulls in that column.

    :param table_name: a key of ``TABLES``.
    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: ``YYYY-MM-DD`` to read one partition; None for all.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    """
    dataset = _dataset(table_name, *resolve(lake_uri, filesystem))
    if dataset is None:
        return _with_night(_schema(table_name)).empty_table()
    return dataset.to_table(filter=_night_filter(night))


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
    fs, root = resolve(lake_uri, filesystem)
    counts = {}
    for name in TABLES:
        dataset = _dataset(name, fs, root)
        counts[name] = 0 if dataset is None else dataset.count_rows(filter=_night_filter(night))
    return counts


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

    Each view is ``read_parquet('<lake>/<table>/night=*/*.parquet', hive_partitioning=true,
    union_by_name=true, hive_types={'night': 'VARCHAR'})``: ``night`` is a string column as in
    ``read_table`` (not auto-cast to DATE), hidden temporary directories are not matched, and partitions
    written before a column was added read as nulls there. A table with no data at connect time is an
    empty view with the declared columns (it does not see data written later; reconnect).

    :param lake_uri: local path, ``file://`` URI, or ``s3://bucket/prefix`` URI (read through ``s3fs``
        registered with DuckDB; see ``s3_fsspec`` for the endpoint and credentials).
    """
    con = duckdb.connect()
    if lake_uri.startswith("s3://"):
        filesystem, bucket_root = s3_fsspec(lake_uri)
        con.register_filesystem(filesystem)
        root = f"s3://{bucket_root}"

        def has_files(table_root: str, pattern: str) -> bool:
            return bool(filesystem.glob(table_root[len("s3://"):] + pattern))

    elif "://" in lake_uri and not lake_uri.startswith("file://"):
        con.close()
        raise ValueError("duckdb_connect reads local paths, file:// and s3:// lakes")
    else:
        _, root = resolve(lake_uri)

        def has_files(table_root: str, pattern: str) -> bool:
            return bool(glob.glob(glob.escape(table_root) + pattern))

    hive_types = f"{{'{PARTITION_COLUMN}': 'VARCHAR'}}"
    options = f"hive_partitioning = true, union_by_name = true, hive_types = {hive_types}"
    for name, schema in TABLES.items():
        pattern = f"/{PARTITION_COLUMN}=*/*.parquet"
        if has_files(f"{root}/{name}", pattern):
            files = _sql_string(f"{root}/{name}{pattern}")
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({files}, {options})')
        else:
            con.register(name, _with_night(schema).empty_table())
    return con
