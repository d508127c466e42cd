"""Bounded XCom (issue 23): the nightly steps pass manifest keys and counts, never per-recording lists.

The steps run as the DAG's tasks run them (discovery, plan, the batch results, settle) on moto S3, for a
night of N and of 4N recordings: XCom grows by the extra batches' keys and results only, while the
manifests under the ledger prefix hold every recording.
"""

from __future__ import annotations

import json
import math

import pytest

from medscribe.aws.operators.transcribe_batch import StartMedicalJobsBatchOperator
from medscribe.ledger import Ledger
from medscribe.manifests import manifest_key, read_manifest, save_batch_outcomes
from medscribe.night.discover import discover_night
from medscribe.night.discover_manifest import night_recordings, save_discovery
from medscribe.night.plan import plan_batch_manifests
from medscribe.night.settle import batch_outcomes, settle_night
from tests.conftest import boto3_client
from tests.test_discovery import tone_wav

BUCKET, OUTPUT, ROLE = (
    "manifests-recordings",
    "manifests-outputs",
    "arn:aws:iam::000000000000:role/medscribe-healthscribe",
)
BATCH_SIZE, N = 4, 10  # 10 and 40 recordings: counts of the same width, 3 and 10 batches
SECRET = "dr-hartmann"  # a name in the keys: must reach no XCom value and no manifest


def seed(s3, night: str, count: int) -> None:
    for i in range(count):
        s3.put_object(
            Bucket=BUCKET,
            Key=f"incoming/{night}/{SECRET}/visit-{i}.wav",
            Body=tone_wav(seconds=0.6 + i / 100),
        )
    s3.put_object(Bucket=BUCKET, Key=f"incoming/{night}/{SECRET}/empty.wav", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=f"incoming/{night}/{SECRET}/notes.wav", Body=b"%PDF-1.7 not audio" * 50)


def run_steps(s3, night: str) -> dict:
    """The steps' XCom values, in the DAG's order; every job's outcome is COMPLETED."""
    ledger = Ledger(s3, BUCKET, "ledger")
    recordings, rejected = discover_night(
        s3,
        bucket=BUCKET,
        prefix="incoming",
        night=night,
        staging_prefix="staging/media",
        output_bucket=OUTPUT,
        data_access_role_arn=ROLE,
        ledger=ledger,
    )
    found = save_discovery(ledger, night, recordings, rejected)
    keys = plan_batch_manifests(
        night_recordings(ledger, found),
        ledger=ledger,
        night=night,
        batch_size=BATCH_SIZE,
        output_bucket=OUTPUT,
        data_access_role_arn=ROLE,
    )
    results = []
    for key in keys:  # what each mapped job task returns, from the batch operator's own result
        jobs = read_manifest(s3, BUCKET, key)["jobs"]
        names = [
            job["request"].get("MedicalScribeJobName") or job["request"]["MedicalTranscriptionJobName"]
            for job in jobs
        ]
        result = StartMedicalJobsBatchOperator._result(
            {name: {"status": "COMPLETED", "failure_reason": None} for name in names}
        )
        results.append(save_batch_outcomes(s3, BUCKET, key, result))

    def never_described(service, name):
        raise AssertionError("every outcome is in the outcomes manifests")

    states = settle_night(
        recordings=night_recordings(ledger, found),
        outcomes=batch_outcomes(ledger, results),
        describe_job=never_described,
        ledger=ledger,
        night=night,
    )
    return {"discover": found, "plan": keys, "jobs": results, "settle": states, "ledger": ledger}


def xcom_bytes(steps: dict) -> int:
    values = [steps["discover"], steps["settle"], *steps["plan"], *steps["jobs"]]  # one XCom per mapped task
    return sum(len(json.dumps(value)) for value in values)


@pytest.fixture(scope="module")
def nights(s3_only):
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    for bucket in (BUCKET, OUTPUT):
        s3.create_bucket(Bucket=bucket)
    seed(s3, "2026-12-01", N)
    seed(s3, "2026-12-02", 4 * N)
    return {"s3": s3, "small": run_steps(s3, "2026-12-01"), "large": run_steps(s3, "2026-12-02")}


def test_xcom_grows_only_by_the_batch_keys(nights):
    small, large = nights["small"], nights["large"]
    assert (len(small["plan"]), len(large["plan"])) == (
        math.ceil(N / BATCH_SIZE),
        math.ceil(4 * N / BATCH_SIZE),
    )
    assert small["discover"] == {
        "manifest": "ledger/_manifests/2026-12-01/discover.json",
        "recordings": N,
        "rejected": 2,
    }
    assert large["settle"] == {"succeeded": 4 * N, "quarantined": 2}
    for step in ("discover", "settle"):
        assert len(json.dumps(small[step])) == len(json.dumps(large[step])), step
    per_batch = len(json.dumps(large["plan"][0])) + len(json.dumps(large["jobs"][0]))
    extra_batches = len(large["plan"]) - len(small["plan"])
    assert xcom_bytes(large) - xcom_bytes(small) == extra_batches * per_batch
    assert large["jobs"][-1] == {
        "outcomes": "ledger/_manifests/2026-12-02/outcomes/0009.json",
        "counts": {"COMPLETED": 4},
    }


def test_manifests_hold_every_recording_and_job(nights):
    s3, large = nights["s3"], nights["large"]
    entries = large["ledger"].night("2026-12-02")  # the manifests sit beside the night, not in it
    assert len(entries) == 4 * N + 2
    recordings = read_manifest(s3, BUCKET, large["discover"]["manifest"])
    assert sorted(r["recording_id"] for r in recordings["recordings"]) == sorted(
        e["recording_id"] for e in entries if e["state"] == "succeeded"
    )
    assert sorted(r["reason"] for r in recordings["rejected"]) == sorted(
        e["reason"] for e in entries if e["state"] == "quarantined"
    )
    planned = [job for key in large["plan"] for job in read_manifest(s3, BUCKET, key)["jobs"]]
    assert sorted(job["request"]["MedicalScribeJobName"] for job in planned) == sorted(
        e["job_name"] for e in entries if e.get("job_name")
    )
    assert all(len(read_manifest(s3, BUCKET, key)["jobs"]) <= BATCH_SIZE for key in large["plan"])


def test_no_key_of_a_recording_in_xcom_or_manifests(nights):
    s3 = nights["s3"]
    texts = []
    for steps in (nights["small"], nights["large"]):
        texts += [json.dumps(steps[s]) for s in ("discover", "plan", "jobs", "settle")]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="ledger/_manifests/"):
        texts += [
            s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode() for item in page["Contents"]
        ]
    assert len(texts) > 30
    assert [t for t in texts if SECRET in t or "visit-" in t] == []


def test_rerun_plans_no_batch_and_removes_the_stale_manifests(nights):
    s3 = nights["s3"]
    again = run_steps(s3, "2026-12-01")  # every recording succeeded: nothing to submit
    assert again["plan"] == [] and again["jobs"] == []
    assert again["settle"] == {"succeeded": N, "quarantined": 2}
    folder = manifest_key("ledger", "2026-12-01", "batches/0").rsplit("/", 1)[0] + "/"
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=folder).get("KeyCount") == 0
