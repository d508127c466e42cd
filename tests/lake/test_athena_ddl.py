"""Athena DDL generated from the lake schemas: every column with its Hive type, partition projection."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from medscribe.lake.athena import athena_ddl, athena_ddl_all, hive_type
from medscribe.lake.schemas import TABLES

HIVE = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.int16(): "smallint",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.timestamp("us", tz="UTC"): "timestamp",
}
COLUMN = re.compile(r"^  `(\w+)` (\w+)(?: COMMENT '(?:[^'\\]|\\.)*')?,?$")


def columns(ddl: str) -> list[tuple[str, str]]:
    """(name, type) of the column lines between the opening parenthesis and PARTITIONED BY."""
    body = ddl.split("(\n", 1)[1].split("\n)\nPARTITIONED BY", 1)[0]
    found = [COLUMN.match(line) for line in body.splitlines()]
    assert all(found), body
    return [(m.group(1), m.group(2)) for m in found]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_with_its_hive_type(table):
    ddl = athena_ddl(table, f"s3://lake-bucket/lake/{table}")
    assert ddl.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` (\n")
    assert columns(ddl) == [(f.name, HIVE[f.type]) for f in TABLES[table]]
    assert "`night`" not in ddl.split("PARTITIONED BY")[0]  # the partition column is not a data column


@pytest.mark.parametrize("table", sorted(TABLES))
def test_partition_projection_and_location(table):
    ddl = athena_ddl(table, f"s3://lake-bucket/lake/{table}/")  # a trailing slash is tolerated
    tail = ddl.split("\n)\n", 1)[1]
    assert tail == (
        "PARTITIONED BY (`night` string)\n"
        "STORED AS PARQUET\n"
        f"LOCATION 's3://lake-bucket/lake/{table}/'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled'='true',\n"
        "  'projection.night.type'='date',\n"
        "  'projection.night.format'='yyyy-MM-dd',\n"
        "  'projection.night.range'='2026-01-01,NOW',\n"
        "  'projection.night.interval'='1',\n"
        "  'projection.night.interval.unit'='DAYS',\n"
        f"  'storage.location.template'='s3://lake-bucket/lake/{table}/night=${{night}}'\n"
        ");"
    )


def test_specific_types_and_comments():
    recordings = dict(columns(athena_ddl("recordings", "s3://b/l/recordings")))
    assert (recordings["size_bytes"], recordings["attempts"], recordings["channels"]) == ("bigint", "int", "smallint")
    assert recordings["discovered_at"] == recordings["finished_at"] == "timestamp"
    insights = athena_ddl("clinical_insights", "s3://b/l/clinical_insights")
    assert "`negated` boolean COMMENT 'True if a NEGATION trait is present" in insights
    assert "`end_exclusive` int COMMENT 'end_character_offset + 1: a Python-slice / half-open end.'" in insights
    assert dict(columns(athena_ddl("transcript_words", "s3://b/l/w")))["confidence"] == "double"


def test_database_qualifier_and_all_tables():
    assert athena_ddl("jobs", "s3://b/l/jobs", database="medscribe").startswith(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `medscribe`.`jobs` (\n"
    )
    everything = athena_ddl_all("s3://b/lake/")
    assert everything.count("CREATE EXTERNAL TABLE") == len(TABLES)
    for table in TABLES:
        assert f"LOCATION 's3://b/lake/{table}/'" in everything


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown table"):
        athena_ddl("words", "s3://b/l")
    with pytest.raises(ValueError, match="s3://"):
        athena_ddl("jobs", "/local/lake/jobs")
    with pytest.raises(ValueError, match="no Hive type"):
        hive_type(pa.list_(pa.string()))


def test_ddl_parses_with_sqlglot_if_installed():
    sqlglot = pytest.importorskip("sqlglot")
    for table in TABLES:
        statement = sqlglot.parse_one(athena_ddl(table, f"s3://b/l/{table}"), read="athena")
        assert statement.key == "create"
