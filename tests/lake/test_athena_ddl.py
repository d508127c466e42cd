"""Athena DDL generated from the lake schemas: every column with its Hive type, a symlink table over the
nights' pointers, partition projection; and what it points at on S3 is the night's current files."""

from __future__ import annotations

import re
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from medscribe.lake.athena import athena_ddl, athena_ddl_all, hive_type
from medscribe.lake.parse import healthscribe_transcript_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import read_table, write_partition

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
    ddl = athena_ddl(table, "s3://lake-bucket/lake")
    assert ddl.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` (\n")
    assert columns(ddl) == [(f.name, HIVE[f.type]) for f in TABLES[table]]
    assert "`night`" not in ddl.split("PARTITIONED BY")[0]  # the partition column is not a data column


@pytest.mark.parametrize("table", sorted(TABLES))
def test_symlink_table_partition_projection_and_location(table):
    ddl = athena_ddl(table, "s3://lake-bucket/lake/")  # a trailing slash is tolerated
    tail = ddl.split("\n)\n", 1)[1]
    assert tail == (
        "PARTITIONED BY (`night` string)\n"
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION 's3://lake-bucket/lake/_symlink_format_manifest/{table}/'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled'='true',\n"
        "  'projection.night.type'='date',\n"
        "  'projection.night.format'='yyyy-MM-dd',\n"
        "  'projection.night.range'='2026-01-01,NOW',\n"
        "  'projection.night.interval'='1',\n"
        "  'projection.night.interval.unit'='DAYS',\n"
        f"  'storage.location.template'='s3://lake-bucket/lake/_symlink_format_manifest/{table}/night=${{night}}'\n"
        ");"
    )


def test_specific_types_and_comments():
    recordings = dict(columns(athena_ddl("recordings", "s3://b/l")))
    assert (recordings["size_bytes"], recordings["attempts"], recordings["channels"]) == (
        "bigint",
        "int",
        "smallint",
    )
    assert recordings["discovered_at"] == recordings["finished_at"] == "timestamp"
    insights = athena_ddl("clinical_insights", "s3://b/l")
    assert "`negated` boolean COMMENT 'True if a NEGATION trait is present" in insights
    assert (
        "`end_exclusive` int COMMENT 'end_character_offset + 1: a Python-slice / half-open end.'" in insights
    )
    assert dict(columns(athena_ddl("transcript_words", "s3://b/l")))["confidence"] == "double"


def test_database_qualifier_and_all_tables():
    assert athena_ddl("jobs", "s3://b/l", database="medscribe").startswith(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `medscribe`.`jobs` (\n"
    )
    everything = athena_ddl_all("s3://b/lake/")
    assert everything.count("CREATE EXTERNAL TABLE") == len(TABLES)
    for table in TABLES:
        assert f"LOCATION 's3://b/lake/_symlink_format_manifest/{table}/'" in everything


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown table"):
        athena_ddl("words", "s3://b/l")
    with pytest.raises(ValueError, match="s3://"):
        athena_ddl("jobs", "/local/lake")
    with pytest.raises(ValueError, match="no Hive type"):
        hive_type(pa.list_(pa.string()))


def test_ddl_parses_with_sqlglot_if_installed():
    sqlglot = pytest.importorskip("sqlglot")
    for table in TABLES:
        statement = sqlglot.parse_one(athena_ddl(table, "s3://b/l"), read="athena")
        assert statement.key == "create"


def test_what_athena_reads_is_the_nights_current_generation(hs_transcript):
    """Follow the DDL on S3 (moto) as Athena does: the partition location of a night holds one file, the
    manifest, whose lines are s3:// URIs of existing objects whose rows are the night's, after a replace."""
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = fs.S3FileSystem(
            endpoint_override=f"{host}:{port}",
            scheme="http",
            access_key="test",
            secret_key="test",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        bucket = f"athena-{uuid.uuid4().hex[:8]}"
        s3.create_dir(bucket)
        lake, night = f"s3://{bucket}/lake", "2026-12-01"
        words = healthscribe_transcript_tables(hs_transcript, recording_id="r1", job_name="j1")[
            "transcript_words"
        ]
        write_partition("transcript_words", words, lake, night, filesystem=s3)
        write_partition("transcript_words", words.slice(0, 4), lake, night, filesystem=s3)  # replaced
        ddl = athena_ddl("transcript_words", lake)
        template = re.search(r"'storage.location.template'='([^']+)'", ddl).group(1)
        location = template.replace("${night}", night)[len("s3://") :]
        files = [
            i
            for i in s3.get_file_info(fs.FileSelector(location, recursive=True))
            if i.type == fs.FileType.File
        ]
        assert [i.base_name for i in files] == ["manifest"]
        with s3.open_input_stream(files[0].path) as stream:
            uris = stream.read().decode().splitlines()
        assert uris and all(
            u.startswith(f"s3://{bucket}/lake/transcript_words/night={night}/gen-") for u in uris
        )
        rows = pa.concat_tables([pq.read_table(u[len("s3://") :], filesystem=s3) for u in uris])
        assert rows.equals(words.slice(0, 4))
        assert rows.equals(read_table("transcript_words", lake, night, filesystem=s3).drop_columns(["night"]))
    finally:
        server.stop()
