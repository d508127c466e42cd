"""Fixtures for the engine's tests: one moto S3 + engine stack per session, boto3 clients on it, the
sample recordings uploaded under patient-like keys, and the three reference jobs run once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from engine_helpers import (
    FIXTURE_NAMES,
    FIXTURES,
    MEDIA_BUCKET,
    OUTPUT_BUCKET,
    media_key,
    scribe_request,
    stereo_scribe_request,
    transcription_request,
    unique,
)
from streaming_client import node_or_skip

from medscribe_harness import hypothesis_profile
from medscribe_harness.devstack import LocalStack, engine_python, local_credentials_env

hypothesis_profile.load()


def _require_environment() -> None:
    if not engine_python().exists():
        pytest.skip(f"the engine environment is missing ({engine_python()})")
    missing = [name for name in FIXTURE_NAMES if not (FIXTURES / f"{name}.wav").exists()]
    if missing:
        pytest.skip(f"sample recordings missing in {FIXTURES}: {missing}; run scripts/make_fixtures.py")


@pytest.fixture(scope="session")
def aws_env():
    saved = {key: os.environ.get(key) for key in local_credentials_env()}
    os.environ.update(local_credentials_env())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def stack(tmp_path_factory, aws_env):
    _require_environment()
    run_dir = tmp_path_factory.mktemp("engine-stack")
    with LocalStack.start(run_dir=run_dir, with_engine=True) as running:
        running.run_dir = run_dir
        yield running


@pytest.fixture(scope="session")
def engine_log(stack) -> Path:
    return stack.engine.log_path


@pytest.fixture(scope="session")
def s3(stack):
    import boto3

    client = boto3.client("s3", endpoint_url=stack.s3_endpoint)
    client.create_bucket(Bucket=MEDIA_BUCKET)
    client.create_bucket(Bucket=OUTPUT_BUCKET)
    for name in FIXTURE_NAMES:
        client.upload_file(str(FIXTURES / f"{name}.wav"), MEDIA_BUCKET, media_key(name))
    return client


@pytest.fixture(scope="session")
def transcribe(stack):
    import boto3

    return boto3.client("transcribe", endpoint_url=stack.engine_endpoint)


@pytest.fixture(scope="session")
def transcribe_unvalidated(stack):
    """A client that sends requests botocore's own validation would stop, to test the engine's."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "transcribe", endpoint_url=stack.engine_endpoint, config=Config(parameter_validation=False)
    )


@pytest.fixture(scope="module")
def node():
    """The ``node`` executable of the stream tests' JavaScript SDK clients (the module is skipped without)."""
    return node_or_skip()


@pytest.fixture(scope="module")
def endpoint(stack):
    """The engine's streaming port (``http://host:port``)."""
    return stack.engine_stream_endpoint


@pytest.fixture(scope="session")
def reference_jobs(s3, transcribe):
    """The three sample recordings submitted together (they queue on the engine's worker):
    a Transcribe Medical dictation job and two HealthScribe jobs. Returns their names; ``mono_refused``
    holds the engine's message when it refused single-channel diarization."""
    names = {
        "dictation": unique("dictation"),
        "stereo": unique("visit-stereo"),
        "mono": unique("visit-mono"),
    }
    transcribe.start_medical_transcription_job(
        **transcription_request(
            names["dictation"], MediaFormat="wav", Tags=[{"Key": "suite", "Value": "engine"}]
        )
    )
    transcribe.start_medical_scribe_job(**stereo_scribe_request(names["stereo"]))
    try:
        transcribe.start_medical_scribe_job(
            **scribe_request(
                names["mono"], {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, "conversation_mono"
            )
        )
    except transcribe.exceptions.BadRequestException as error:  # an engine build without diarization
        names["mono_refused"] = error.response["Error"]["Message"]
    return names
