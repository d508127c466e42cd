"""DAG integrity: the DagBag loads with no import error, every task retries, tags are set, parsing is fast."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from medscribe_harness.airflow_services import airflow_env
from medscribe_harness.devstack import REPO_ROOT

PARSE = """
import json, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={folder!r})
elapsed = time.perf_counter() - started
print(json.dumps({{
    "seconds": elapsed,
    "errors": {{k: str(v)[:500] for k, v in bag.import_errors.items()}},
    "dags": {{d.dag_id: {{"tags": sorted(d.tags), "tasks": {{t.task_id: t.retries for t in d.tasks}},
                         "upstream": {{t.task_id: sorted(t.upstream_task_ids) for t in d.tasks}},
                         "schedule": str(getattr(d.timetable, "summary", None) or type(d.timetable).__name__)}}
              for d in bag.dags.values()}},
}}))
"""


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    env = {**os.environ, **airflow_env(tmp_path_factory.mktemp("airflow"))}
    code = PARSE.format(folder=str(REPO_ROOT / "dags"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_import_errors(dagbag):
    assert dagbag["errors"] == {}
    assert "medscribe_nightly" in dagbag["dags"]


def test_every_task_has_retries_and_every_dag_tags(dagbag):
    for dag_id, dag in dagbag["dags"].items():
        assert dag["tags"], dag_id
        no_retries = [task for task, retries in dag["tasks"].items() if not retries]
        assert no_retries == [], f"{dag_id}: tasks without retries {no_retries}"


def test_nightly_wiring(dagbag):
    tasks = set(dagbag["dags"]["medscribe_nightly"]["tasks"])
    assert {"discover", "plan", "jobs", "settle", "flatten", "word_confidence_gate", "summary"} <= tasks
    # the night's streaming sessions are recorded before settle counts the states, and flattened
    upstream = dagbag["dags"]["medscribe_nightly"]["upstream"]
    assert "streaming_sessions" in upstream["settle"] and "streaming_sessions" in upstream["flatten"]
    assert "0 2 * * *" in dagbag["dags"]["medscribe_nightly"]["schedule"]


def test_forget_wiring(dagbag):
    assert set(dagbag["dags"]["medscribe_forget"]["tasks"]) == {"resolve", "forget", "audit"}
    assert dagbag["dags"]["medscribe_forget"]["schedule"] == "NullTimetable"  # manual trigger only


def test_weekly_report_wiring(dagbag):
    report = dagbag["dags"]["medscribe_weekly_report"]
    assert set(report["tasks"]) == {"clinical_terms_per_week"}
    assert report["schedule"] == "AssetTriggeredTimetable"  # data-aware: on the clinical_insights asset


def test_parse_time_under_two_seconds(dagbag):
    assert dagbag["seconds"] < 2.0, f"DAG folder parse took {dagbag['seconds']:.2f}s"


def test_retention_wiring(dagbag):
    assert set(dagbag["dags"]["medscribe_retention"]["tasks"]) == {"retain", "audit"}
    assert "0 5 * * *" in dagbag["dags"]["medscribe_retention"]["schedule"]  # daily, after the nightly run
