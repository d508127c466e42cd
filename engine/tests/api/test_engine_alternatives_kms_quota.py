"""ShowAlternatives / MaxAlternatives in the Transcribe Medical output, SSE-KMS output encryption, and
LimitExceededException past the engine's --max-queued quota."""

from __future__ import annotations

import re

import boto3
import pytest
from botocore.config import Config
from engine_helpers import (
    read_output,
    stereo_scribe_request,
    transcription_request,
    unique,
    wait_scribe,
    wait_transcription,
)

from medscribe_harness.devstack import free_port, offline_engine

pytestmark = pytest.mark.engine

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture(scope="module")
def alternatives_output(s3, stack, transcribe):
    name = unique("alternatives")
    transcribe.start_medical_transcription_job(
        **transcription_request(name, Settings={"ShowAlternatives": True, "MaxAlternatives": 3})
    )
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["Settings"] == {"ShowAlternatives": True, "MaxAlternatives": 3}
    return read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]


def test_segments_carry_up_to_max_alternatives_best_first(alternatives_output):
    results = alternatives_output
    segments = results["segments"]
    assert len(segments) >= 3
    transcript = results["transcripts"][0]["transcript"]
    # the first alternatives, in order, are the transcript
    assert words_of(" ".join(s["alternatives"][0]["transcript"] for s in segments)) == words_of(transcript)
    assert all(1 <= len(s["alternatives"]) <= 3 for s in segments)
    assert sum(len(s["alternatives"]) > 1 for s in segments) >= len(segments) // 2
    previous_end = 0.0
    for segment in segments:
        start, end = float(segment["start_time"]), float(segment["end_time"])
        assert isinstance(segment["start_time"], str) and previous_end <= start < end <= 25.0
        previous_end = end
        texts = [words_of(a["transcript"]) for a in segment["alternatives"]]
        assert len({tuple(t) for t in texts}) == len(texts), "alternatives must differ"
        for alternative in segment["alternatives"]:
            rebuilt = ""
            for item in alternative["items"]:
                rebuilt += ("" if item["type"] == "punctuation" or not rebuilt else " ") + item["content"]
            assert rebuilt == alternative["transcript"]
            for item in alternative["items"]:
                assert set(item) <= {"start_time", "end_time", "confidence", "type", "content"}
                assert isinstance(item["confidence"], str) and 0.0 <= float(item["confidence"]) <= 1.0
                if item["type"] == "pronunciation":
                    assert start - 1.0 <= float(item["start_time"]) <= float(item["end_time"]) <= end + 1.0
    # the items of the first alternative are the transcript's items of that time span
    first = segments[0]["alternatives"][0]["items"]
    top = [i for i in results["items"] if i["type"] == "pronunciation"][
        : len([i for i in first if i["type"] == "pronunciation"])
    ]
    assert [i["alternatives"][0]["content"] for i in top] == [
        i["content"] for i in first if i["type"] == "pronunciation"
    ]


def test_without_show_alternatives_there_are_no_segments(s3, stack, transcribe, reference_jobs):
    job = wait_transcription(transcribe, reference_jobs["dictation"])
    assert (
        "segments"
        not in read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    )


def _object(uri: str, endpoint: str) -> tuple[str, str]:
    bucket, _, key = uri[len(endpoint) + 1 :].partition("/")
    return bucket, key


def test_outputs_are_encrypted_with_the_kms_key(s3, stack, transcribe):
    transcription, scribe = unique("kms-tm"), unique("kms-scribe")
    transcribe.start_medical_transcription_job(
        **transcription_request(transcription, OutputEncryptionKMSKeyId=KMS_KEY)
    )
    transcribe.start_medical_scribe_job(
        **stereo_scribe_request(
            scribe, OutputEncryptionKMSKeyId=KMS_KEY, KMSEncryptionContext={"purpose": "medscribe-test"}
        )
    )
    uris = [
        wait_transcription(transcribe, transcription)["Transcript"]["TranscriptFileUri"],
        wait_scribe(transcribe, scribe)["MedicalScribeOutput"]["TranscriptFileUri"],
    ]
    for uri in uris:
        bucket, key = _object(uri, stack.s3_endpoint)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == KMS_KEY


@pytest.fixture(scope="module")
def small_quota_engine(stack, tmp_path_factory):
    """A second engine on the same S3 with --max-queued 2 (one worker)."""
    run_dir = tmp_path_factory.mktemp("quota-engine")
    engine = offline_engine(free_port(), stack.s3_endpoint, run_dir / "engine", run_dir / "logs")
    engine.argv += ["--max-queued", "2"]
    engine.start(timeout=300)
    try:
        # no retries: boto3 retries a 429, and a job finishing meanwhile would let the Start through
        yield boto3.client(
            "transcribe", endpoint_url=engine.endpoint, config=Config(retries={"total_max_attempts": 1})
        )
    finally:
        engine.stop()


def test_limit_exceeded_past_the_quota(s3, small_quota_engine):
    client = small_quota_engine
    first, second = unique("quota-1"), unique("quota-2")
    client.start_medical_transcription_job(**transcription_request(first))
    client.start_medical_transcription_job(**transcription_request(second))
    with pytest.raises(client.exceptions.LimitExceededException) as excinfo:
        client.start_medical_transcription_job(**transcription_request(unique("quota-3")))
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "limit of queued and running jobs" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.LimitExceededException):
        client.start_medical_scribe_job(**stereo_scribe_request(unique("quota-scribe")))
    assert wait_transcription(client, first)["TranscriptionJobStatus"] == "COMPLETED"
    assert wait_transcription(client, second)["TranscriptionJobStatus"] == "COMPLETED"
    later = unique("quota-later")
    client.start_medical_transcription_job(**transcription_request(later))  # room again once jobs finished
    assert wait_transcription(client, later)["TranscriptionJobStatus"] == "COMPLETED"
