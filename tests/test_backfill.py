"""An Airflow 3 backfill over two nights, run by the real scheduler, triggerer and dag-processor
(LocalExecutor, SQLite), processes each night once: two partitions, one job per recording. Discovery
runs as one shard here (sharding has its own tests): each task is a process start on 2 cores."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medscribe.lake.store import read_table
from medscribe_harness.airflow_services import AirflowServices, airflow_env
from medscribe_harness.demo import OUTPUT_BUCKET, RECORDINGS_BUCKET, s3_client, seed_night
from medscribe_harness.devstack import LocalStack
from tests.conftest import boto3_client
from tests.test_nightly_operations import rid, wav_slice

pytestmark = pytest.mark.e2e
NIGHTS = ["2026-11-05", "2026-11-06"]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow(env: dict, *args: str) -> str:
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def wait_for(condition, timeout: float, what: str, interval: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_backfill_two_nights(tmp_path):
    recordings = {night: wav_slice("dictation.wav", 3.0 * i, 5.0) for i, night in enumerate(NIGHTS)}
    with LocalStack.start(run_dir=tmp_path / "stack") as stack:
        s3 = s3_client(stack.s3_endpoint)
        seed_night(s3, NIGHTS[0], samples={})
        for night, data in recordings.items():
            s3.put_object(
                Bucket=RECORDINGS_BUCKET, Key=f"incoming/{night}/dictations/dr-9/note.wav", Body=data
            )
        lake, home = tmp_path / "lake", tmp_path / "airflow"
        env = {
            **os.environ,
            **airflow_env(home, stack.airflow_connection_uri_json()),
            "MEDSCRIBE_LAKE_URI": str(lake),
            "MEDSCRIBE_RECORDINGS_BUCKET": RECORDINGS_BUCKET,
            "MEDSCRIBE_OUTPUT_BUCKET": OUTPUT_BUCKET,
            "MEDSCRIBE_DISCOVERY_SHARDS": "1",
        }
        home.mkdir()
        airflow(env, "db", "migrate")
        airflow(
            env,
            "pools",
            "set",
            "transcribe_jobs",
            "20",
            "concurrent transcription jobs",
            "--include-deferred",
        )
        db = home / "airflow.db"

        def query(sql: str) -> list:
            with sqlite3.connect(db) as connection:
                return connection.execute(sql).fetchall()

        with AirflowServices.start(env, tmp_path / "logs") as services:
            # The dag-processor writes the DAG row, then its serialized form and version; backfills need all.
            wait_for(
                lambda: (
                    query("select dag_id from serialized_dag where dag_id = 'medscribe_nightly'")
                    and query("select dag_id from dag_version where dag_id = 'medscribe_nightly'")
                ),
                180,
                "the DAG to be serialized",
            )
            airflow(services.env, "dags", "unpause", "medscribe_nightly")
            create = [
                AIRFLOW,
                "backfill",
                "create",
                "--dag-id",
                "medscribe_nightly",
                "--from-date",
                NIGHTS[0],
                "--to-date",
                f"{NIGHTS[-1]}T23:00:00",
                "--max-active-runs",
                "1",
            ]
            # Once in CI the create call failed right after the DAG appeared (output not kept then); retry a
            # few times and show the output if it keeps failing.
            for _ in range(5):
                result = subprocess.run(create, env=services.env, capture_output=True, text=True)
                if result.returncode == 0:
                    break
                time.sleep(5)
            assert result.returncode == 0, (
                f"backfill create failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )

            def finished():
                runs = query("select state from dag_run where run_type = 'backfill'")
                return (
                    len(runs) == len(NIGHTS)
                    and all(state in ("success", "failed") for (state,) in runs)
                    and runs
                )

            runs = wait_for(finished, 900, "the backfill runs", interval=5)
        assert [state for (state,) in runs] == ["success"] * len(NIGHTS)
        # each night's flatten task (Airflow's task logs under AIRFLOW_HOME/logs) flattened its transcript
        flatten_logs = [
            p.read_text(errors="replace")
            for p in (home / "logs").rglob("*")
            if "task_id=flatten" in str(p) and p.is_file()
        ]
        assert sum("(1 transcripts)" in text for text in flatten_logs) == len(NIGHTS), len(flatten_logs)
        for night in NIGHTS:
            (entry,) = read_table("recordings", str(lake), night=night).to_pylist()
            assert (entry["recording_id"], entry["state"], entry["attempts"]) == (
                rid(recordings[night]),
                "succeeded",
                1,
            )
            assert read_table("transcript_words", str(lake), night=night).num_rows > 5
        partitions = sorted(
            p.name for p in (lake / "recordings").iterdir() if p.name.startswith("night=2026-11-0")
        )
        assert partitions == [f"night={night}" for night in NIGHTS]
        transcribe = boto3_client("transcribe", stack.engine_endpoint)
        names = [
            j["MedicalTranscriptionJobName"]
            for j in transcribe.list_medical_transcription_jobs(MaxResults=100)[
                "MedicalTranscriptionJobSummaries"
            ]
        ]
        assert len(names) == len(set(names)) == len(NIGHTS)  # each night's recording got exactly one job
