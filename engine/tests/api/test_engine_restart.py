"""Durability: jobs, vocabularies and the engine's own key survive a restart on the same data directory;
finished jobs are not rerun; SIGTERM stops the engine promptly with exit code 0."""

from __future__ import annotations

import os
import time

import boto3
import pytest
from engine_helpers import (
    OUTPUT_BUCKET,
    media_key,
    media_uri,
    run_engine,
    stereo_scribe_request,
    transcription_request,
    unique,
    wait_scribe,
    wait_transcription,
)

from medscribe_harness.devstack import free_port, offline_engine, port_in_use

pytestmark = pytest.mark.engine


def test_jobs_vocabularies_and_the_own_key_survive_a_restart(tmp_path, stack, s3):
    """An engine with its own key (it refuses the stack's): a finished job is not rerun, the running one
    resumes first, the queued one runs after it, a READY vocabulary stays READY; SIGTERM stops it promptly
    with exit code 0."""
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from engine_helpers import MEDIA_BUCKET

    vocabulary_key = media_key("vocabularies/restart", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=vocabulary_key, Body=b"lisinopril\n")
    data_dir, log_dir = tmp_path / "engine-data", tmp_path / "logs"

    def own_key_engine():
        engine = offline_engine(free_port(), stack.s3_endpoint, data_dir, log_dir)
        engine.argv += ["--access-key-id", "team-key"]
        engine.env["MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY"] = "team-secret"
        return engine

    def client_of(engine, access_key_id: str = "team-key", secret: str = "team-secret"):
        return boto3.client(
            "transcribe",
            endpoint_url=engine.endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    engine = own_key_engine()
    engine.start(timeout=300)
    try:
        with pytest.raises(ClientError) as refused:
            client_of(engine, "medscribe-local", "medscribe-local-secret").list_medical_vocabularies()
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
        client = client_of(engine)
        client.create_medical_vocabulary(
            VocabularyName="restart-vocab", LanguageCode="en-US", VocabularyFileUri=media_uri(vocabulary_key)
        )
        client.get_waiter("medical_vocabulary_ready").wait(
            VocabularyName="restart-vocab", WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        done, running, queued = unique("restart-done"), unique("restart-running"), unique("restart-queued")
        client.start_medical_transcription_job(**transcription_request(done))
        finished = wait_transcription(client, done)
        assert finished["TranscriptionJobStatus"] == "COMPLETED"

        client.start_medical_scribe_job(**stereo_scribe_request(running))
        client.start_medical_transcription_job(**transcription_request(queued))
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

    again = own_key_engine()
    again.start(timeout=300)
    try:
        client = client_of(again)
        vocabulary = client.get_medical_vocabulary(VocabularyName="restart-vocab")
        assert vocabulary["VocabularyState"] == "READY"
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
    result = run_engine(tmp_path / "data", port=stack.engine.port, timeout=60)
    assert result.returncode == 2
    assert "already in use" in result.stderr
    assert not (tmp_path / "data").exists()


def test_model_checksum_is_enforced(tmp_path):
    """A model whose model.bin differs from the pinned sha256 is refused with a clear error."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"not the pinned model")
    result = run_engine(tmp_path / "data", env={**os.environ, "MEDSCRIBE_ENGINE_MODEL_DIR": str(model_dir)})
    assert result.returncode == 1
    assert "sha256" in result.stderr and "refusing to load" in result.stderr
