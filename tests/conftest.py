"""Shared fixtures: the embedded services on free loopback ports, started once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medscribe_harness import hypothesis_profile
from medscribe_harness.devstack import LocalStack, engine_python, local_credentials_env

hypothesis_profile.load()

FIXTURES = Path(__file__).parent / "fixtures"
AUDIO = FIXTURES / "audio"


def reference(name: str) -> dict:
    """The reference (text, turns) of an audio fixture."""
    return json.loads((AUDIO / f"{name}.json").read_text())


def boto3_client(service: str, endpoint: str):
    import boto3

    creds = local_credentials_env()
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        region_name=creds["AWS_DEFAULT_REGION"],
    )


@pytest.fixture(scope="session")
def s3_only(tmp_path_factory):
    """moto S3 alone (no engine), for tests of discovery and the lake."""
    with LocalStack.start(with_engine=False, run_dir=tmp_path_factory.mktemp("s3only")) as stack:
        yield stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """moto S3 + the offline engine, shared by every test that needs the engine."""
    if not engine_python().exists():
        pytest.fail("the engine environment .venv-engine is missing: run `make test`, which creates it")
    with LocalStack.start(run_dir=tmp_path_factory.mktemp("stack")) as stack:
        yield stack


def engine_jobs(stack) -> dict[str, dict]:
    """Every job the engine knows, by name: {'status', 'reason'}."""
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    jobs = {}
    for operation, key, name_key in (
        ("list_medical_scribe_jobs", "MedicalScribeJobSummaries", "MedicalScribeJobName"),
        (
            "list_medical_transcription_jobs",
            "MedicalTranscriptionJobSummaries",
            "MedicalTranscriptionJobName",
        ),
    ):
        kwargs = {"MaxResults": 100}
        while True:
            page = getattr(transcribe, operation)(**kwargs)
            for job in page[key]:
                status = job.get("MedicalScribeJobStatus") or job.get("TranscriptionJobStatus")
                jobs[job[name_key]] = {"status": status, "reason": job.get("FailureReason")}
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return jobs


def run_child(code: str, args: dict, *, stderr_tail: int) -> dict:
    """
    Run ``python -c code <args as JSON>`` in a child process (the local stack's credentials, this
    process's ``sys.path``, at most 300 s) and return the JSON object its last stdout line prints.

    :param stderr_tail: how many characters of the child's stderr the failure message shows.
    """
    env = {
        **os.environ,
        **local_credentials_env(),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    child = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-stderr_tail:]
    return json.loads(child.stdout.strip().splitlines()[-1])
