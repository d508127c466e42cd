"""The schema-evolution rule, checked against the committed snapshot tests/lake/schema_snapshot.json.

Rule (see medscribe/lake/schemas.py): a table may only gain new **nullable** columns appended at the
end; existing columns keep their name, type and position. Old partitions then still read.

How to update the snapshot after an allowed change (a new table, or new nullable columns at the end):

    UPDATE_SCHEMA_SNAPSHOT=1 .venv/bin/python -m pytest tests/lake/test_schema_evolution.py -p no:cacheprovider

then commit the changed schema_snapshot.json together with the schema change. The update refuses to
write a snapshot that breaks the rule: if you truly need a breaking change, that is a new table (or a
new column plus a deprecated old one), not an edit of the snapshot by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake.schemas import TABLES, evolution_violations, schema_snapshot

SNAPSHOT = Path(__file__).with_name("schema_snapshot.json")


def test_schemas_follow_the_evolution_rule_against_the_snapshot():
    snapshot = json.loads(SNAPSHOT.read_text())
    problems = evolution_violations(snapshot)
    assert not problems, "schema-evolution rule broken:\n" + "\n".join(problems)
    current = schema_snapshot()
    if os.environ.get("UPDATE_SCHEMA_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == snapshot, (
        "the schemas changed in an allowed way but the snapshot is stale: run "
        "UPDATE_SCHEMA_SNAPSHOT=1 .venv/bin/python -m pytest tests/lake/test_schema_evolution.py "
        "and commit tests/lake/schema_snapshot.json"
    )


def test_every_table_is_in_the_snapshot():
    assert set(json.loads(SNAPSHOT.read_text())) == set(TABLES)


BASE = {"t": pa.schema([pa.field("a", pa.string(), nullable=False), pa.field("b", pa.int32())])}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([pa.field("a", pa.string(), False), pa.field("b", pa.int32()), pa.field("c", pa.float64())], []),
        (
            [pa.field("a", pa.string(), True), pa.field("b", pa.int32())],
            [],
        ),  # relaxing nullability is allowed
        (
            [pa.field("a", pa.string(), False), pa.field("b", pa.int64())],
            ["t.b: type changed from int32 to int64"],
        ),
        (
            [pa.field("a", pa.string(), False), pa.field("bb", pa.int32())],
            ["t: column 1 is 'bb', was 'b' (renamed, reordered, inserted or dropped)"],
        ),
        ([pa.field("a", pa.string(), False)], ["t.b: column dropped"]),
        ([pa.field("a", pa.string(), False), pa.field("b", pa.int32(), False)], ["t.b: made non-nullable"]),
        (
            [pa.field("a", pa.string(), False), pa.field("b", pa.int32()), pa.field("c", pa.int8(), False)],
            ["t.c: new column must be nullable"],
        ),
        (
            [pa.field("a", pa.string(), False), pa.field("c", pa.int8()), pa.field("b", pa.int32())],
            ["t: column 1 is 'c', was 'b' (renamed, reordered, inserted or dropped)"],
        ),
    ],
)
def test_the_rule_itself(fields, expected):
    assert evolution_violations(schema_snapshot(BASE), {"t": pa.schema(fields)}) == expected


def test_dropped_table_and_new_table():
    assert evolution_violations(schema_snapshot(BASE), {}) == ["t: table dropped"]
    assert evolution_violations(schema_snapshot(BASE), {**BASE, "u": BASE["t"]}) == []
