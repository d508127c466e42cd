"""Athena / Glue DDL for the lake's tables, generated from the same Arrow schemas (``schemas.TABLES``).

Each table is an external **symlink** table over the nights' pointers (``generations``): Parquet read
through ``SymlinkTextInputFormat``, its partition ``night=<YYYY-MM-DD>`` located at
``<lake>/_symlink_format_manifest/<table>/night=<night>/``, whose one file (``manifest``) lists the
``s3://`` URIs of the night's current generation. Athena reads only those files, so a query sees each
night whole, old or new, never a partition being replaced. Partitioned by ``night string`` with
**partition projection** (dates from 2026-01-01 to today): no ``MSCK REPAIR`` or Glue crawler is
needed, a new night is queryable as soon as its pointer is written. Columns are matched by name
(Athena's default for Parquet), so partitions written before a column was appended read as null
there, as with ``store.read_table``.
"""

from __future__ import annotations

import pyarrow as pa

from medscribe.lake.generations import POINTER_DIR
from medscribe.lake.schemas import PARTITION_COLUMN, TABLES

PROJECTION_START = "2026-01-01"


def hive_type(arrow_type: pa.DataType) -> str:
    """The Hive/Athena type of an Arrow type used in the lake.

    :param arrow_type: a column's Arrow type.
    :raises ValueError: a type the lake does not use (add it here before using it in a schema).
    """
    checks = (
        (pa.types.is_string, "string"),
        (pa.types.is_large_string, "string"),
        (pa.types.is_int64, "bigint"),
        (pa.types.is_int32, "int"),
        (pa.types.is_int16, "smallint"),
        (pa.types.is_int8, "tinyint"),
        (pa.types.is_float64, "double"),
        (pa.types.is_float32, "float"),
        (pa.types.is_boolean, "boolean"),
        (pa.types.is_timestamp, "timestamp"),
        (pa.types.is_date32, "date"),
    )
    for check, name in checks:
        if check(arrow_type):
            return name
    raise ValueError(f"no Hive type mapped for Arrow type {arrow_type}")


def _quote(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def athena_ddl(table_name: str, lake_location: str, *, database: str | None = None) -> str:
    """``CREATE EXTERNAL TABLE IF NOT EXISTS`` for one lake table: a symlink table over the nights'
    pointers, with partition projection on night.

    :param table_name: a key of ``TABLES``.
    :param lake_location: ``s3://`` URI of the lake root (the table's pointers are under
        ``<lake_location>/_symlink_format_manifest/<table_name>/``).
    :param database: Glue database to qualify the table with; unqualified if None.
    :return: the DDL statement (ends with ``;``).
    :raises ValueError: unknown table, a location that is not ``s3://``, or an unmapped column type.
    """
    if table_name not in TABLES:
        raise ValueError(f"unknown table {table_name!r}; known: {sorted(TABLES)}")
    if not lake_location.startswith("s3://") or "'" in lake_location:
        raise ValueError("location must be an s3:// URI without quotes")
    location = f"{lake_location.rstrip('/')}/{POINTER_DIR}/{table_name}"
    columns = []
    for field in TABLES[table_name]:
        description = (field.metadata or {}).get(b"description", b"").decode()
        comment = f" COMMENT {_quote(description)}" if description else ""
        columns.append(f"  `{field.name}` {hive_type(field.type)}{comment}")
    name = f"`{database}`.`{table_name}`" if database else f"`{table_name}`"
    properties = [
        ("projection.enabled", "true"),
        (f"projection.{PARTITION_COLUMN}.type", "date"),
        (f"projection.{PARTITION_COLUMN}.format", "yyyy-MM-dd"),
        (f"projection.{PARTITION_COLUMN}.range", f"{PROJECTION_START},NOW"),
        (f"projection.{PARTITION_COLUMN}.interval", "1"),
        (f"projection.{PARTITION_COLUMN}.interval.unit", "DAYS"),
        ("storage.location.template", f"{location}/{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}"),
    ]
    props = ",\n".join(f"  {_quote(key)}={_quote(value)}" for key, value in properties)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n"
        + ",\n".join(columns)
        + f"\n)\nPARTITIONED BY (`{PARTITION_COLUMN}` string)\n"
        + f"ROW FORMAT SERDE {_quote(SERDE)}\n"
        + f"STORED AS INPUTFORMAT {_quote(INPUT_FORMAT)}\nOUTPUTFORMAT {_quote(OUTPUT_FORMAT)}\n"
        + f"LOCATION {_quote(location + '/')}\nTBLPROPERTIES (\n{props}\n);"
    )


def athena_ddl_all(lake_location: str, *, database: str | None = None) -> str:
    """The DDL of every table of ``TABLES`` over the lake at ``lake_location``, separated by blank lines.

    :param lake_location: ``s3://`` URI of the lake root.
    :param database: Glue database to qualify the tables with.
    """
    return "\n\n".join(athena_ddl(name, lake_location, database=database) for name in TABLES) + "\n"
