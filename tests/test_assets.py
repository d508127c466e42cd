"""Airflow 3 assets (issue 23): the lake tables are assets the night updates, and the example report DAG.

* the assets cover every table the night writes, and the nightly DAG's write tasks declare them;
* a night run with ``airflow dags test`` (moto S3; a night of quarantined files needs no engine) leaves
  one event per table with the night in its extra, and XCom values that are keys and counts;
* the weekly report's task function gives medications and conditions per ISO week from a lake
  written here.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.assets import GATED, LAKE_ASSETS, table_uri
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import write_partition
from medscribe.lake.tables import FLATTENED_TABLES
from medscribe.weekly_report import REPORT_PATH, write_weekly_report
from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import REPO_ROOT
from tests.test_discovery import tone_wav

NIGHT = "2026-11-24"


def load_dag(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "dags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_assets_cover_every_table_the_night_writes():
    assert set(FLATTENED_TABLES) <= set(TABLES)
    assert set(GATED) == {"review_queue", "jobs", "transcript_words", "transcript_segments"}
    assert set(LAKE_ASSETS) <= set(TABLES)
    nightly = load_dag("medscribe_nightly")
    outlets = {
        task_id: {a.name for a in nightly.get_task(task_id).outlets}
        for task_id in ("flatten", "word_confidence_gate")
    }
    assert outlets["flatten"] == {f"medscribe_lake.{t}" for t in FLATTENED_TABLES}
    assert outlets["word_confidence_gate"] == {f"medscribe_lake.{t}" for t in GATED}
    report = load_dag("medscribe_weekly_report")
    assert [a.name for a in report.timetable.asset_condition.objects] == ["medscribe_lake.clinical_insights"]


def test_table_uris():
    assert (
        table_uri("s3://lake-bucket/lake?endpoint_override=localhost:9000&scheme=http", "jobs")
        == "s3://lake-bucket/lake/jobs"
    )
    assert table_uri("/data/lake/", "jobs") == "file:///data/lake/jobs"


def insight(recording: str, insight_id: str, category: str, span: int = 0) -> dict:
    return {
        "recording_id": recording,
        "job_name": f"job-{recording}",
        "insight_id": insight_id,
        "span_index": span,
        "insight_index": int(insight_id[-1]),
        "insight_type": "ClinicalEntity",
        "category": category,
        "content": "metformin" if category == "MEDICATION" else "x",
    }


def test_weekly_report_rows_from_a_lake(tmp_path):
    lake = str(tmp_path / "lake")
    nights = {  # 2026-11-02 and -08 are ISO week 45, 2026-11-09 is week 46
        "2026-11-02": [
            insight("r1", "i1", "MEDICATION"),
            insight("r1", "i1", "MEDICATION", span=1),  # one mention
            insight("r1", "i2", "MEDICAL_CONDITION"),
            insight("r1", "i3", "ANATOMY"),
        ],
        "2026-11-08": [insight("r2", "i1", "MEDICATION"), insight("r3", "i1", "MEDICATION")],
        "2026-11-09": [insight("r4", "i1", "MEDICAL_CONDITION"), insight("r4", "i2", "MEDICAL_CONDITION")],
    }
    for night, rows in nights.items():
        write_partition(
            "clinical_insights", pa.Table.from_pylist(rows, schema=TABLES["clinical_insights"]), lake, night
        )
    result = write_weekly_report(lake)
    with open(f"{lake}/{REPORT_PATH}", newline="") as report:
        rows = [tuple(row.values()) for row in csv.DictReader(report)]
    assert rows == [
        ("2026-W45", "MEDICAL_CONDITION", "1", "1", "1"),
        ("2026-W45", "MEDICATION", "3", "3", "2"),
        ("2026-W46", "MEDICAL_CONDITION", "2", "1", "1"),
    ]
    assert result == {"path": f"{lake}/{REPORT_PATH}", "rows": 3, "weeks": 2}
    assert "metformin" not in Path(f"{lake}/{REPORT_PATH}").read_text()


def test_weekly_report_of_an_empty_lake_has_the_header_only(tmp_path):
    assert write_weekly_report(str(tmp_path / "lake"))["rows"] == 0
    assert (tmp_path / "lake" / REPORT_PATH).read_text().splitlines() == [
        '"iso_week","category","mentions","recordings","nights"'
    ]


@pytest.fixture(scope="module")
def quarantined_night(s3_only, tmp_path_factory):
    """A night whose recordings are all quarantined: the whole DAG runs, no job is needed."""
    base = tmp_path_factory.mktemp("assets")
    s3 = s3_client(s3_only.s3_endpoint)
    seed_night(s3, "2000-01-01", samples={})  # buckets only
    s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{NIGHT}/clinic-z/empty.wav", Body=b"")
    s3.put_object(
        Bucket=RECORDINGS_BUCKET, Key=f"incoming/{NIGHT}/clinic-z/phone.wav", Body=tone_wav(rate=8000)
    )
    lake, home = str(base / "lake"), base / "airflow"
    result = run_night(NIGHT, s3_only, lake, home, base / "night.log")
    assert result.returncode == 0, (base / "night.log").read_text()[-5000:]
    return {"lake": lake, "db": home / "airflow.db"}


def test_night_leaves_an_event_per_table_with_the_night(quarantined_night):
    with sqlite3.connect(quarantined_night["db"]) as db:
        events = db.execute(
            "select a.name, a.uri, e.extra, e.source_task_id from asset_event e join asset a on a.id = e.asset_id"
        ).fetchall()
    by_task = {}
    for name, uri, extra, task_id in events:
        table = name.removeprefix("medscribe_lake.")
        assert uri == table_uri(quarantined_night["lake"], table)
        by_task.setdefault(task_id, {})[table] = json.loads(extra)
    assert set(by_task["flatten"]) == set(FLATTENED_TABLES)
    assert set(by_task["word_confidence_gate"]) == set(GATED)
    assert by_task["flatten"]["recordings"] == {"night": NIGHT, "rows": 2}
    assert by_task["flatten"]["transcript_words"] == {"night": NIGHT, "rows": 0}
    assert by_task["word_confidence_gate"]["review_queue"] == {"night": NIGHT, "rows": 0}


def test_night_xcom_holds_keys_and_counts(quarantined_night):
    with sqlite3.connect(quarantined_night["db"]) as db:
        values = {
            task: json.loads(value)
            for task, value in db.execute("select task_id, value from xcom where key = 'return_value'")
        }
    assert values["discover"] == {
        "manifest": f"ledger/_manifests/{NIGHT}/discover.json",
        "recordings": 0,
        "rejected": 2,
    }
    assert values["plan"] == []
    assert values["settle"] == {"quarantined": 2}
