"""Durability: jobs survive an engine restart on the same data directory; finished jobs are not rerun;
SIGTERM stops the engine promptly with exit code 0."""

from __future__ import annotations

import os
import subprocess
import time

import boto3
import pytest
from engine_helpers import (
    CHANNEL_DEFINITIONS,
    OUTPUT_BUCKET,
    ROLE_ARN,
    media_key,
    media_uri,
    unique,
    wait_scribe,
    wait_transcription,
)

from medscribe_harness.devstack import engine_python, free_port, offline_engine, port_in_use

pytestmark = pytest.mark.engine


def dictation_request(name: str) -> dict:
    return {
        "MedicalTranscriptionJobName": name,
        "LanguageCode": "en-US",
        "Media": {"MediaFileUri": media_uri(media_key("dictation"))},
        "OutputBucketName": OUTPUT_BUCKET,
        "Specialty": "PRIMARYCARE",
        "Type": "DICTATION",
    }


def test_jobs_survive_a_restart(tmp_path, stack, s3):
    data_dir, log_dir = tmp_path / "engine-data", tmp_path / "logs"
    engine = offline_engine(free_port(), stack.s3_endpoint, data_dir, log_dir)
    engine.start(timeout=300)
    try:
        client = boto3.client("transcribe", endpoint_url=engine.endpoint)
        done, running, queued = unique("restart-done"), unique("restart-running"), unique("restart-queued")
        client.start_medical_transcription_job(**dictation_request(done))
        finished = wait_transcription(client, done)
        assert finished["TranscriptionJobStatus"] == "COMPLETED"

        client.start_medical_scribe_job(
            MedicalScribeJobName=running,
            Media={"MediaFileUri": media_uri(media_key("conversation_stereo"))},
            OutputBucketName=OUTPUT_BUCKET,
            DataAccessRoleArn=ROLE_ARN,
            Settings={"ChannelIdentification": True},
            ChannelDefinitions=CHANNEL_DEFINITIONS,
        )
        client.start_medical_transcription_job(**dictation_request(queued))
        deadline = time.monotonic() + 30
        while (
            client.get_medical_scribe_job(MedicalScribeJobName=running)["MedicalScribeJob"][
                "MedicalScribeJobStatus"
            ]
            == "QUEUED"
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert (
            client.get_medical_transcription_job(MedicalTranscriptionJobName=queued)[
                "MedicalTranscriptionJob"
            ]["TranscriptionJobStatus"]
            == "QUEUED"
        )
    finally:
        started = time.monotonic()
        engine.stop()
        stop_seconds = time.monotonic() - started
    assert engine.process.returncode == 0
    assert stop_seconds < 10, f"SIGTERM took {stop_seconds:.1f}s"
    assert not port_in_use(engine.host, engine.port)

    again = offline_engine(free_port(), stack.s3_endpoint, data_dir, log_dir)
    again.start(timeout=300)
    try:
        client = boto3.client("transcribe", endpoint_url=again.endpoint)
        resumed = wait_scribe(client, running)
        assert resumed["MedicalScribeJobStatus"] == "COMPLETED", resumed.get("FailureReason")
        assert s3.head_object(Bucket=OUTPUT_BUCKET, Key=f"{running}/transcript.json")["ContentLength"] > 0
        later = wait_transcription(client, queued)
        assert later["TranscriptionJobStatus"] == "COMPLETED"
        assert resumed["CompletionTime"] <= later["StartTime"]  # resumed jobs go first
        unchanged = client.get_medical_transcription_job(MedicalTranscriptionJobName=done)[
            "MedicalTranscriptionJob"
        ]
        assert unchanged["TranscriptionJobStatus"] == "COMPLETED"
        assert unchanged["CompletionTime"] == finished["CompletionTime"]
        assert unchanged["StartTime"] == finished["StartTime"]
        assert {
            s["MedicalTranscriptionJobName"]
            for s in client.list_medical_transcription_jobs()["MedicalTranscriptionJobSummaries"]
        } == {done, queued}
    finally:
        again.stop()
    assert again.process.returncode == 0
    log = (log_dir / "engine.log").read_text()
    assert (
        f"job {done} (transcription) started" in log and log.count(f"job {done} (transcription) started") == 1
    )
    assert "(1 resumed)" in log


def test_port_in_use_exits_2(tmp_path, stack):
    """A second engine on the shared engine's port says so and exits with code 2."""
    result = subprocess.run(
        [
            str(engine_python()),
            "-m",
            "medscribe_engine",
            "--port",
            str(stack.engine.port),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert not (tmp_path / "data").exists()


def test_model_checksum_is_enforced(tmp_path):
    """A model whose model.bin differs from the pinned sha256 is refused with a clear error."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"not the pinned model")
    result = subprocess.run(
        [
            str(engine_python()),
            "-m",
            "medscribe_engine",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MEDSCRIBE_ENGINE_MODEL_DIR": str(model_dir)},
    )
    assert result.returncode == 1
    assert "sha256" in result.stderr and "refusing to load" in result.stderr


def test_own_signing_key_and_vocabularies_survive_a_restart(tmp_path, stack, s3):
    """An engine configured with another key refuses the stack's; READY vocabularies outlive a restart."""
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from engine_helpers import MEDIA_BUCKET

    key = media_key("vocabularies/restart", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"lisinopril\n")
    data_dir, log_dir = tmp_path / "engine-data", tmp_path / "logs"
    port = free_port()

    def start():
        engine = offline_engine(port, stack.s3_endpoint, data_dir, log_dir)
        engine.argv += ["--access-key-id", "team-key"]
        engine.env["MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY"] = "team-secret"
        engine.start(timeout=300)
        return engine

    def client(access_key_id: str, secret: str):
        return boto3.client(
            "transcribe",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    engine = start()
    try:
        team = client("team-key", "team-secret")
        team.create_medical_vocabulary(
            VocabularyName="restart-vocab", LanguageCode="en-US", VocabularyFileUri=media_uri(key)
        )
        team.get_waiter("medical_vocabulary_ready").wait(
            VocabularyName="restart-vocab", WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        with pytest.raises(ClientError) as excinfo:
            client("medscribe-local", "medscribe-local-secret").list_medical_vocabularies()
        assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"
    finally:
        engine.stop()
    engine = start()
    try:
        vocabulary = client("team-key", "team-secret").get_medical_vocabulary(VocabularyName="restart-vocab")
        assert vocabulary["VocabularyState"] == "READY"
    finally:
        engine.stop()
