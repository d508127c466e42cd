"""``medscribe_forget`` end to end: a night of three recordings through the nightly DAG (moto S3 and the
engine), then one of them forgotten through ``airflow dags test medscribe_forget``.

After the forget no object, lake row or file, ledger entry or engine job holds the recording's id or the
canary name it says (only its ``governance_audit`` row keeps the id), and the other two recordings'
rows are unchanged. A second run finds nothing and records it. The night uses its own buckets, so the
checks can read every object in them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import wave
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medscribe.governance.audit import AUDIT_TABLE
from medscribe.governance.forget import RECORDING_TABLES
from medscribe.governance.places import PLACES
from medscribe.lake.store import read_table
from medscribe_harness.airflow_services import airflow_env
from medscribe_harness.demo import run_night, s3_client
from tests.conftest import boto3_client
from tests.test_nightly_operations import canary_audio, wav_slice

pytestmark = pytest.mark.e2e
NIGHT = "2026-11-26"
BUCKETS = {"recordings_bucket": "governance-recordings", "output_bucket": "governance-outputs"}
CANARY_KEY = f"incoming/{NIGHT}/conversations/Canary-Ellen/Canary-visit.wav"


def padded(data: bytes, seconds: float) -> bytes:
    """The WAV with silence appended: audio of its own (another id than other tests' canary clip)."""
    with wave.open(io.BytesIO(data)) as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setparams(params)
        out.writeframes(frames + bytes(int(seconds * params.framerate) * params.sampwidth * params.nchannels))
    return buffer.getvalue()


def rid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def run_forget(stack, workdir: dict, recordings: list[str], log_name: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **airflow_env(workdir["home"], stack.airflow_connection_uri_json()),
        "MEDSCRIBE_LAKE_URI": workdir["lake"],
    }
    conf = json.dumps({"recordings": recordings, **BUCKETS})
    with open(workdir["base"] / log_name, "w") as out:
        return subprocess.run(
            [
                str(Path(sys.executable).with_name("airflow")),
                "dags",
                "test",
                "medscribe_forget",
                "--conf",
                conf,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def bucket_objects(s3) -> dict[str, bytes]:
    objects = {}
    for bucket in BUCKETS.values():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                objects[f"{bucket}/{item['Key']}"] = s3.get_object(Bucket=bucket, Key=item["Key"])[
                    "Body"
                ].read()
    return objects


def job_names(stack, contains: str) -> list[str]:
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    names = [
        j["MedicalScribeJobName"]
        for j in transcribe.list_medical_scribe_jobs(JobNameContains=contains, MaxResults=100)[
            "MedicalScribeJobSummaries"
        ]
    ]
    names += [
        j["MedicalTranscriptionJobName"]
        for j in transcribe.list_medical_transcription_jobs(JobNameContains=contains, MaxResults=100)[
            "MedicalTranscriptionJobSummaries"
        ]
    ]
    return sorted(names)


def rows_of(lake: str, ids: set[str]) -> dict[str, list[dict]]:
    return {
        name: sorted(
            (r for r in read_table(name, lake, night=NIGHT).to_pylist() if r["recording_id"] in ids),
            key=lambda r: json.dumps(r, sort_keys=True, default=str),
        )
        for name in RECORDING_TABLES
    }


@pytest.fixture(scope="module")
def night(stack, tmp_path_factory):
    base = tmp_path_factory.mktemp("governance")
    workdir = {"lake": str(base / "lake"), "home": base / "airflow", "base": base}
    s3 = s3_client(stack.s3_endpoint)
    for bucket in BUCKETS.values():
        s3.create_bucket(Bucket=bucket)
    canary = padded(canary_audio(base), 0.3)
    others = {
        f"incoming/{NIGHT}/conversations/clinic-g/visit-1.wav": wav_slice(
            "conversation_stereo.wav", 2.2, 7.0
        ),
        f"incoming/{NIGHT}/dictations/dr-g/note-1.wav": wav_slice("dictation.wav", 1.3, 6.2),
    }
    for key, data in {CANARY_KEY: canary, **others}.items():
        s3.put_object(Bucket=BUCKETS["recordings_bucket"], Key=key, Body=data)
    result = run_night(NIGHT, stack, workdir["lake"], workdir["home"], base / "night.log", conf=BUCKETS)
    assert result.returncode == 0, (base / "night.log").read_text()[-5000:]
    other_ids = {rid(d) for d in others.values()}
    words = read_table("transcript_words", workdir["lake"], night=NIGHT).to_pylist()
    said = " ".join(w["content"] or "" for w in words if w["recording_id"] == rid(canary)).lower()
    return {
        **workdir,
        "canary": rid(canary),
        "sha256": hashlib.sha256(canary).hexdigest(),
        "said": said,
        "others": other_ids,
        "other_keys": sorted(others),
        "before": rows_of(workdir["lake"], other_ids),
        "jobs_before": {i: job_names(stack, i) for i in other_ids | {rid(canary)}},
    }


@pytest.fixture(scope="module")
def forgotten(stack, night):
    result = run_forget(stack, night, [CANARY_KEY], "forget.log")
    assert result.returncode == 0, (night["base"] / "forget.log").read_text()[-5000:]
    return night


def test_positive_controls_before_the_forget(night):
    assert "canary" in night["said"]  # the name really is in the transcript
    assert all(len(names) == 1 for names in night["jobs_before"].values())
    assert all(night["before"][t] for t in ("recordings", "jobs", "transcript_words"))


def test_no_object_holds_the_recording_or_its_canary(stack, forgotten):
    objects = bucket_objects(s3_client(stack.s3_endpoint))
    for needle in (forgotten["canary"], "canary"):
        assert [k for k in objects if needle in k.lower()] == []
        assert [k for k, body in objects.items() if needle.encode() in body.lower()] == []
    # the other recordings keep their original, staged copy, ledger entry and outputs
    recordings = BUCKETS["recordings_bucket"]
    assert {f"{recordings}/{k}" for k in forgotten["other_keys"]} <= set(objects)
    for other in forgotten["others"]:
        assert f"{recordings}/ledger/{NIGHT}/{other}.json" in objects
        assert any(k.startswith(f"{recordings}/staging/media/{other}") for k in objects)
        job = forgotten["jobs_before"][other][0]
        assert any(job in k for k in objects if k.startswith(BUCKETS["output_bucket"]))


def test_no_engine_job_holds_it_and_the_others_keep_theirs(stack, forgotten):
    assert job_names(stack, forgotten["canary"]) == []
    assert all(job_names(stack, i) == forgotten["jobs_before"][i] for i in forgotten["others"])


def test_no_lake_row_or_file_holds_it_except_the_audit_row(forgotten):
    lake = Path(forgotten["lake"])
    files = [p for p in lake.rglob("*") if p.is_file()]
    assert any(p.parts[-3] == "_quality" for p in files if p.name == "word_confidence.json")
    for path in files:
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str).lower()
        else:
            text = path.read_bytes().decode(errors="replace").lower()
        assert "canary" not in text, path
        if AUDIT_TABLE not in path.parts:
            assert forgotten["canary"] not in text, path


def test_other_recordings_rows_are_unchanged(forgotten):
    assert rows_of(forgotten["lake"], forgotten["others"]) == forgotten["before"]
    remaining = {
        r["recording_id"] for r in read_table("recordings", forgotten["lake"], night=NIGHT).to_pylist()
    }
    assert remaining == forgotten["others"]


def test_audit_row_counts_every_place(forgotten):
    rows = read_table(AUDIT_TABLE, forgotten["lake"]).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["action"], row["outcome"], row["recording_id"], row["recording_nights"]) == (
        "forget",
        "removed",
        forgotten["canary"],
        NIGHT,
    )
    counts = {k: row[k] for k in PLACES if k != "lake_rows"}  # lake rows: checked by table below
    # a HealthScribe job: transcript and clinical document; the ledger entry and the night's four
    # manifests that name it (its discovery shard's part, discover, its batch, the batch's outcomes)
    assert counts == {
        "originals": 1,
        "staged": 1,
        "quarantined": 0,
        "service_outputs": 2,
        "service_jobs": 1,
        "ledger_entries": 5,
        "quality_reports": 1,
    }
    by_table = json.loads(row["lake_rows_by_table"])
    assert by_table["recordings"] == 1 and by_table["jobs"] == 1 and by_table["transcript_words"] > 5
    assert row["lake_rows"] == sum(by_table.values())
    assert row["run_id"] and row["acted_at"] is not None


def test_second_run_finds_nothing_and_says_so(stack, forgotten):
    result = run_forget(stack, forgotten, [forgotten["canary"], CANARY_KEY], "forget-again.log")
    log = (forgotten["base"] / "forget-again.log").read_text()
    assert result.returncode == 0, log[-5000:]
    assert f"Recording {forgotten['canary']}: nothing found in any place" in log
    rows = read_table(AUDIT_TABLE, forgotten["lake"]).to_pylist()
    again = [r for r in rows if r["outcome"] != "removed"]
    assert sorted((r["outcome"], r["recording_id"]) for r in again) == [
        ("input_not_found", None),
        ("nothing_found", forgotten["canary"]),
    ]
    assert all(r[p] == 0 for r in again for p in PLACES)
    assert rows_of(forgotten["lake"], forgotten["others"]) == forgotten["before"]


def test_forget_xcom_and_logs_carry_ids_and_counts_only(forgotten):
    with sqlite3.connect(forgotten["home"] / "airflow.db") as db:
        values = [str(v) for (v,) in db.execute("select value from xcom where dag_id = 'medscribe_forget'")]
    logs = [
        (forgotten["base"] / name).read_text(errors="replace") for name in ("forget.log", "forget-again.log")
    ]
    assert (
        any(forgotten["canary"] in v for v in values) and forgotten["canary"] in logs[0]
    )  # ids do reach them
    assert [v for v in values + logs if "canary" in v.lower()] == []
