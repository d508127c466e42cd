"""Shared fixtures: the embedded services on free loopback ports, started once per test session."""

from __future__ import annotations

import json
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
