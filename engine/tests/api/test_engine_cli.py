"""The AWS CLI against the engine: signed with the stack's credentials it works, with a wrong secret it
is refused. Needs ``awscli`` in the test environment (``pip install awscli==1.46.3``: it works with
botocore 1.43.117); skipped without it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from medscribe_harness.devstack import local_credentials_env

pytestmark = pytest.mark.engine

if importlib.util.find_spec("awscli") is None:
    pytest.skip("awscli is not installed in this environment", allow_module_level=True)


def aws(stack, *args: str, secret: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **local_credentials_env(), "AWS_MAX_ATTEMPTS": "1"}
    if secret is not None:
        env["AWS_SECRET_ACCESS_KEY"] = secret
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "transcribe",
            *args,
            "--endpoint-url",
            stack.engine_endpoint,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_lists_jobs_and_vocabularies(stack, reference_jobs):
    jobs = aws(stack, "list-medical-transcription-jobs", "--max-results", "100")
    assert jobs.returncode == 0, jobs.stderr
    names = [
        job["MedicalTranscriptionJobName"]
        for job in json.loads(jobs.stdout)["MedicalTranscriptionJobSummaries"]
    ]
    assert reference_jobs["dictation"] in names
    vocabularies = aws(stack, "list-medical-vocabularies")
    assert vocabularies.returncode == 0, vocabularies.stderr
    assert "Vocabularies" in json.loads(vocabularies.stdout)


def test_the_cli_with_a_wrong_secret_is_refused(stack):
    result = aws(stack, "list-medical-scribe-jobs", secret="not-the-secret")
    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
