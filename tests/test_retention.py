"""``apply_retention`` against moto S3 and the engine: copies are aged by moving the clock (``now``),
since moto cannot backdate an object's LastModified nor the engine a job's CreationTime.

One module fixture runs the policy four times on the same buckets, engine and lake: a dry run and a
real run 31 days ahead (staged and quarantined audio go and, with ``lake_text_days`` set, the text
rows of a night 40 days old; those of a night 5 days old stay), a run 91 days ahead with the default
policy (outputs and job records go), and the same again (nothing left). The buckets are this module's
own, and the jobs' names carry a token of this run, so other tests' copies and jobs are never candidates.
Then the DAG itself (``airflow dags test``, its logical date 31 and 32 days ahead): a dry run, a real run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.governance import (
    Places,
    RetentionPolicy,
    append_audit,
    apply_retention,
    retention_audit_rows,
)
from medscribe.governance.audit import AUDIT_TABLE
from medscribe.governance.places import PLACES
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import read_table, write_partition
from medscribe_harness.airflow_services import airflow_env
from tests.conftest import boto3_client

pytestmark = pytest.mark.e2e
RECORDINGS, OUTPUTS = "retention-recordings", "retention-outputs"
ROLE_ARN = "arn:aws:iam::123456789012:role/medscribe-healthscribe"
TOKEN = uuid.uuid4().hex[:8]
SHA = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("visit", "dictation", "bad", "other")}
RID = {name: sha[:32] for name, sha in SHA.items()}
TODAY = datetime.now(UTC).date()
OLD_NIGHT, NEW_NIGHT = (TODAY - timedelta(days=40)).isoformat(), (TODAY - timedelta(days=5)).isoformat()
VISIT_JOB = f"medscribe-hs-{SHA['visit'][:40]}-rt{TOKEN}"
DICTATION_JOB = f"medscribe-tm-{SHA['dictation'][:40]}-rt{TOKEN}"
OTHER_JOB = f"medscribe-tm-{SHA['other'][:40]}-kp{TOKEN}"  # not named by the run's filter: never touched
STAGED = {f"staging/media/{SHA['visit']}.wav", f"staging/media/{SHA['dictation']}.flac"}
QUARANTINED = {f"quarantine/{NEW_NIGHT}/{RID['bad']}"}
SERVICE_OUTPUTS = {
    f"{VISIT_JOB}/transcript.json",
    f"{VISIT_JOB}/clinical-document.json",
    f"transcribe-medical/{DICTATION_JOB}.json",
}
ALWAYS_KEPT = {
    RECORDINGS: {
        f"incoming/{NEW_NIGHT}/clinic/Jane-Doe-visit.wav",  # originals: the site's, never
        f"ledger/{NEW_NIGHT}/{RID['visit']}.json",
    },
    OUTPUTS: {"exports/monthly-report.csv"},  # names no job: not the pipeline's
}


def places(lake: str) -> Places:
    return Places(
        recordings_bucket=RECORDINGS,
        recordings_prefix="incoming",
        staging_prefix="staging/media",
        quarantine_prefix="quarantine",
        ledger_prefix="ledger",
        output_bucket=OUTPUTS,
        lake_uri=lake,
    )


def words(recording: str, count: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "recording_id": RID[recording],
                "job_name": "j",
                "service": "healthscribe",
                "item_index": i,
                "content": f"word{i}",
                "is_punctuation": False,
                "alternative_rank": 0,
            }
            for i in range(count)
        ],
        schema=TABLES["transcript_words"],
    )


def objects(s3) -> dict[str, set[str]]:
    return {
        bucket: {
            i["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for i in page.get("Contents", [])
        }
        for bucket in (RECORDINGS, OUTPUTS)
    }


def jobs(transcribe) -> set[str]:
    names = {
        j["MedicalScribeJobName"]
        for j in transcribe.list_medical_scribe_jobs(JobNameContains=TOKEN, MaxResults=100)[
            "MedicalScribeJobSummaries"
        ]
    }
    return names | {
        j["MedicalTranscriptionJobName"]
        for j in transcribe.list_medical_transcription_jobs(JobNameContains=TOKEN, MaxResults=100)[
            "MedicalTranscriptionJobSummaries"
        ]
    }


def lake_state(lake: str) -> dict[str, int]:
    return {
        "old_words": read_table("transcript_words", lake, night=OLD_NIGHT).num_rows,
        "new_words": read_table("transcript_words", lake, night=NEW_NIGHT).num_rows,
        "old_recordings": read_table("recordings", lake, night=OLD_NIGHT).num_rows,
    }


def start_failing_jobs(transcribe) -> None:
    """Jobs whose media does not exist: they fail at once, and ended jobs are what retention deletes."""
    missing = f"s3://{RECORDINGS}/staging/media/missing.wav"
    transcribe.start_medical_scribe_job(
        MedicalScribeJobName=VISIT_JOB,
        Media={"MediaFileUri": missing},
        OutputBucketName=OUTPUTS,
        DataAccessRoleArn=ROLE_ARN,
        Settings={"ChannelIdentification": True},
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
    )
    for name in (DICTATION_JOB, OTHER_JOB):
        transcribe.start_medical_transcription_job(
            MedicalTranscriptionJobName=name,
            LanguageCode="en-US",
            Media={"MediaFileUri": missing},
            OutputBucketName=OUTPUTS,
            Specialty="PRIMARYCARE",
            Type="DICTATION",
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        scribe = transcribe.get_medical_scribe_job(MedicalScribeJobName=VISIT_JOB)["MedicalScribeJob"]
        statuses = [scribe["MedicalScribeJobStatus"]] + [
            transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=n)[
                "MedicalTranscriptionJob"
            ]["TranscriptionJobStatus"]
            for n in (DICTATION_JOB, OTHER_JOB)
        ]
        if all(s == "FAILED" for s in statuses):
            return
        time.sleep(0.3)
    raise AssertionError(f"jobs did not end: {statuses}")


@pytest.fixture(scope="module")
def runs(stack, tmp_path_factory):
    lake = str(tmp_path_factory.mktemp("retention") / "lake")
    s3 = boto3_client("s3", stack.s3_endpoint)
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    for bucket in (RECORDINGS, OUTPUTS):
        s3.create_bucket(Bucket=bucket)
    for key in STAGED | QUARANTINED | ALWAYS_KEPT[RECORDINGS]:
        s3.put_object(Bucket=RECORDINGS, Key=key, Body=b"audio or json")
    for key in SERVICE_OUTPUTS | ALWAYS_KEPT[OUTPUTS]:
        s3.put_object(Bucket=OUTPUTS, Key=key, Body=b"{}")
    start_failing_jobs(transcribe)
    old_words = pa.concat_tables([words("visit", 3), words("dictation", 2)])
    write_partition("transcript_words", old_words, lake, OLD_NIGHT)
    write_partition("transcript_words", words("visit", 4), lake, NEW_NIGHT)
    recording = pa.Table.from_pylist(
        [{"recording_id": RID["visit"], "state": "succeeded"}], schema=TABLES["recordings"]
    )
    for night in (OLD_NIGHT, NEW_NIGHT):
        write_partition("recordings", recording, lake, night)
    now = datetime.now(UTC)
    text_too = RetentionPolicy(lake_text_days=60)  # 31 days on, the old night is past 60 days, the new not
    state = {"lake": lake, "start": (objects(s3), jobs(transcribe), lake_state(lake)), "steps": {}}

    def step(name: str, policy: RetentionPolicy, days: int, dry_run: bool = False) -> None:
        result = apply_retention(
            s3,
            transcribe,
            places(lake),
            policy,
            now + timedelta(days=days),
            dry_run=dry_run,
            job_name_contains=f"rt{TOKEN}",
        )
        if not dry_run:
            append_audit(retention_audit_rows(result, run_id=f"retention-{name}", requested_by=None), lake)
        state["steps"][name] = {"result": result, "after": (objects(s3), jobs(transcribe), lake_state(lake))}

    step("dry", text_too, 31, dry_run=True)
    step("day31", text_too, 31)
    step("day91", RetentionPolicy(), 91)
    step("again", RetentionPolicy(), 91)
    state["audit"] = read_table(AUDIT_TABLE, lake).to_pylist()
    return state


def counts(result: dict) -> dict[str | None, dict[str, int]]:
    return {r["recording_id"]: {p: r[p] for p in PLACES if r[p]} for r in result["results"]}


def test_positive_controls(runs):
    buckets, names, lake = runs["start"]
    assert buckets[RECORDINGS] >= STAGED | QUARANTINED and buckets[OUTPUTS] >= SERVICE_OUTPUTS
    assert names == {VISIT_JOB, DICTATION_JOB, OTHER_JOB}
    assert lake == {"old_words": 5, "new_words": 4, "old_recordings": 1}


def test_dry_run_deletes_nothing_and_counts_what_the_real_run_deletes(runs):
    dry, real = runs["steps"]["dry"], runs["steps"]["day31"]
    assert dry["after"] == runs["start"]
    assert dry["result"]["dry_run"] is True
    assert dry["result"]["totals"] == real["result"]["totals"]
    assert dry["result"]["results"] == real["result"]["results"]
    assert [r for r in runs["audit"] if r["run_id"] == "retention-dry"] == []


def test_day_31_deletes_audio_copies_and_old_text_only(runs):
    buckets, names, lake = runs["steps"]["day31"]["after"]
    assert buckets[RECORDINGS] == ALWAYS_KEPT[RECORDINGS]
    assert buckets[OUTPUTS] == SERVICE_OUTPUTS | ALWAYS_KEPT[OUTPUTS]
    assert names == {VISIT_JOB, DICTATION_JOB, OTHER_JOB}
    assert lake == {"old_words": 0, "new_words": 4, "old_recordings": 1}
    assert counts(runs["steps"]["day31"]["result"]) == {
        RID["visit"]: {"staged": 1, "lake_rows": 3},
        RID["dictation"]: {"staged": 1, "lake_rows": 2},
        RID["bad"]: {"quarantined": 1},
    }


def test_day_91_deletes_outputs_and_ended_jobs_and_keeps_lake_text_by_default(runs):
    buckets, names, lake = runs["steps"]["day91"]["after"]
    assert buckets == ALWAYS_KEPT
    assert names == {OTHER_JOB}
    assert lake == {"old_words": 0, "new_words": 4, "old_recordings": 1}
    assert counts(runs["steps"]["day91"]["result"]) == {
        RID["visit"]: {"service_outputs": 2, "service_jobs": 1},
        RID["dictation"]: {"service_outputs": 1, "service_jobs": 1},
    }


def test_a_run_with_nothing_old_finds_nothing(runs):
    again = runs["steps"]["again"]
    assert again["result"]["results"] == [] and set(again["result"]["totals"].values()) == {0}
    assert again["after"] == runs["steps"]["day91"]["after"]


def test_audit_rows_count_each_recording_per_run(runs):
    by_run: dict[str, dict] = {}
    for row in runs["audit"]:
        assert row["action"] == "retention" and row["requested_by"] is None
        by_run.setdefault(row["run_id"], {})[row["recording_id"]] = (
            row["outcome"],
            {p: row[p] for p in PLACES if row[p]},
            row["recording_nights"],
        )
    assert by_run == {
        "retention-day31": {
            RID["visit"]: ("removed", {"staged": 1, "lake_rows": 3}, OLD_NIGHT),
            RID["dictation"]: ("removed", {"staged": 1, "lake_rows": 2}, OLD_NIGHT),
            RID["bad"]: ("removed", {"quarantined": 1}, NEW_NIGHT),
        },
        "retention-day91": {
            RID["visit"]: ("removed", {"service_outputs": 2, "service_jobs": 1}, None),
            RID["dictation"]: ("removed", {"service_outputs": 1, "service_jobs": 1}, None),
        },
        "retention-again": {None: ("nothing_found", {}, None)},
    }
    lake_rows = {
        r["recording_id"]: r["lake_rows_by_table"] for r in runs["audit"] if r["run_id"] == "retention-day31"
    }
    assert lake_rows[RID["visit"]] == '{"transcript_words": 3}'


def test_policy_rejects_periods_that_are_not_whole_days():
    for bad in (0, -1, 1.5, "30", True):
        with pytest.raises(ValueError, match="staged_days"):
            RetentionPolicy(staged_days=bad)
    policy = RetentionPolicy.from_params({"staged_days": None, "dry_run": True})
    assert policy == RetentionPolicy(staged_days=None)


def test_now_without_a_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        apply_retention(None, None, places("unused"), RetentionPolicy(), datetime(2027, 1, 1))


DAG_BUCKETS = {"recordings_bucket": "retention-dag-recordings", "output_bucket": "retention-dag-outputs"}
DAG_STAGED = f"staging/media/{SHA['visit']}.wav"
DAG_ORIGINAL = f"incoming/{NEW_NIGHT}/clinic/Jane-Doe-visit.wav"


def run_retention_dag(stack, workdir: dict, days_ahead: int, conf: dict, log_name: str):
    """``airflow dags test medscribe_retention`` with a logical date ``days_ahead`` days from now."""
    env = {
        **os.environ,
        **airflow_env(workdir["home"], stack.airflow_connection_uri_json()),
        "MEDSCRIBE_LAKE_URI": workdir["lake"],
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    logical = (datetime.now(UTC) + timedelta(days=days_ahead)).replace(microsecond=0).isoformat()
    with open(workdir["base"] / log_name, "w") as out:
        return subprocess.run(
            [
                airflow,
                "dags",
                "test",
                "medscribe_retention",
                logical,
                "--conf",
                json.dumps({**DAG_BUCKETS, **conf}),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture(scope="module")
def dag_runs(stack, tmp_path_factory):
    base = tmp_path_factory.mktemp("retention-dag")
    workdir = {"base": base, "home": base / "airflow", "lake": str(base / "lake")}
    s3 = boto3_client("s3", stack.s3_endpoint)
    for bucket in DAG_BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
    for key in (DAG_STAGED, DAG_ORIGINAL):
        s3.put_object(Bucket=DAG_BUCKETS["recordings_bucket"], Key=key, Body=b"audio")
    env = {**os.environ, **airflow_env(workdir["home"], stack.airflow_connection_uri_json())}
    workdir["home"].mkdir(parents=True)
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )

    def keys() -> set[str]:
        listed = s3.list_objects_v2(Bucket=DAG_BUCKETS["recordings_bucket"]).get("Contents", [])
        return {i["Key"] for i in listed}

    # 31 days on: the staged copy is past 30 days; nothing is near 90, so no job record is a candidate
    dry = run_retention_dag(stack, workdir, 31, {"dry_run": True}, "dry.log")
    after_dry = keys()
    real = run_retention_dag(stack, workdir, 32, {}, "real.log")
    return {
        **workdir,
        "codes": (dry.returncode, real.returncode),
        "after_dry": after_dry,
        "after": keys(),
        "audit": read_table(AUDIT_TABLE, workdir["lake"]).to_pylist(),
    }


def test_dag_dry_run_then_real_run(dag_runs):
    logs = {name: (dag_runs["base"] / f"{name}.log").read_text(errors="replace") for name in ("dry", "real")}
    assert dag_runs["codes"] == (0, 0), logs["dry"][-3000:] + logs["real"][-3000:]
    assert dag_runs["after_dry"] == {DAG_STAGED, DAG_ORIGINAL}
    assert "Retention (dry run, nothing deleted)" in logs["dry"] and "'staged': 1" in logs["dry"]
    assert dag_runs["after"] == {DAG_ORIGINAL}
    assert [(r["action"], r["outcome"], r["recording_id"], r["staged"]) for r in dag_runs["audit"]] == [
        ("retention", "removed", RID["visit"], 1)
    ]  # the dry run wrote none


def test_dag_logs_and_xcom_carry_ids_and_counts_only(dag_runs):
    with sqlite3.connect(dag_runs["home"] / "airflow.db") as db:
        rows = db.execute("select value from xcom where dag_id = 'medscribe_retention'")
        values = [str(v) for (v,) in rows]
    logs = [(dag_runs["base"] / f"{name}.log").read_text(errors="replace") for name in ("dry", "real")]
    assert any(RID["visit"] in v for v in values)  # ids do reach XCom
    assert [v for v in values + logs if "Jane-Doe" in v or DAG_STAGED in v] == []
