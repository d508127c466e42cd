"""Errors through boto3: AWS error codes for bad requests, FAILED jobs with AWS-like reasons for bad media,
and an engine that keeps answering after them."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest
from botocore.exceptions import ClientError
from engine_helpers import (
    CHANNEL_DEFINITIONS,
    FIXTURES,
    MEDIA_BUCKET,
    media_key,
    media_uri,
    scribe_request,
    stereo_scribe_request,
    transcription_request,
    unique,
    wait_scribe,
    wait_transcription,
)

pytestmark = pytest.mark.engine


def error_of(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_reused_job_name_is_a_conflict(transcribe, reference_jobs):
    with pytest.raises(transcribe.exceptions.ConflictException) as excinfo:
        transcribe.start_medical_transcription_job(**transcription_request(reference_jobs["dictation"]))
    assert error_of(excinfo) == (
        "ConflictException",
        "The requested job name already exists. Use a different job name.",
    )
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_unknown_jobs_are_not_found(transcribe):
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_transcription_job(MedicalTranscriptionJobName="no-such-job")
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_scribe_job(MedicalScribeJobName="no-such-job")


SCRIBE_RULES = {
    "both speaker labels and channels": (
        {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2, "ChannelIdentification": True},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "either ShowSpeakerLabels or ChannelIdentification",
    ),
    "neither speaker labels nor channels": ({"ShowSpeakerLabels": False}, {}, "either ShowSpeakerLabels"),
    "speaker labels without a maximum": ({"ShowSpeakerLabels": True}, {}, "MaxSpeakerLabels"),
    "a maximum without speaker labels": (
        {"ChannelIdentification": True, "MaxSpeakerLabels": 2},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "MaxSpeakerLabels",
    ),
    "channels without definitions": ({"ChannelIdentification": True}, {}, "ChannelDefinitions"),
    "one channel definition": (
        {"ChannelIdentification": True},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS[:1]},
        "ChannelDefinitions",
    ),
    "the same channel twice": (
        {"ChannelIdentification": True},
        {"ChannelDefinitions": [CHANNEL_DEFINITIONS[0], {"ChannelId": 0, "ParticipantRole": "PATIENT"}]},
        "channel 0 and channel 1",
    ),
    "definitions with speaker labels": (
        {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "ChannelDefinitions",
    ),
    "a filter name without a method": (
        {"ChannelIdentification": True, "VocabularyFilterName": "f"},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "VocabularyFilterMethod",
    ),
    "a filter method without a name": (
        {"ChannelIdentification": True, "VocabularyFilterMethod": "mask"},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "VocabularyFilterName",
    ),
    "a vocabulary that does not exist": (
        {"ChannelIdentification": True, "VocabularyName": "cardiology"},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "vocabulary couldn't be found",
    ),
    "a vocabulary filter that does not exist": (
        {"ChannelIdentification": True, "VocabularyFilterName": "f", "VocabularyFilterMethod": "mask"},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS},
        "vocabulary filter couldn't be found",
    ),
    "an encryption context without a key": (
        {"ChannelIdentification": True},
        {"ChannelDefinitions": CHANNEL_DEFINITIONS, "KMSEncryptionContext": {"purpose": "phi"}},
        "KMSEncryptionContext can be set only with OutputEncryptionKMSKeyId",
    ),
}


@pytest.mark.parametrize("case", list(SCRIBE_RULES))
def test_scribe_request_rules(transcribe, transcribe_unvalidated, case):
    """Sent without botocore's client-side validation: the engine itself must refuse each one."""
    settings, extra, phrase = SCRIBE_RULES[case]
    name = unique("bad-scribe")
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe_unvalidated.start_medical_scribe_job(**scribe_request(name, settings, **extra))
    code, message = error_of(excinfo)
    assert code == "BadRequestException" and phrase in message
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_scribe_job(MedicalScribeJobName=name)


TRANSCRIPTION_RULES = {
    "a sample rate under 16 kHz": ({"MediaSampleRateHertz": 8000}, "16000"),
    "a maximum without speaker labels": ({"Settings": {"MaxSpeakerLabels": 2}}, "MaxSpeakerLabels"),
    "speaker labels without a maximum": ({"Settings": {"ShowSpeakerLabels": True}}, "MaxSpeakerLabels"),
    "both speaker labels and channels": (
        {"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2, "ChannelIdentification": True}},
        "both ShowSpeakerLabels and ChannelIdentification",
    ),
    "a vocabulary that does not exist": (
        {"Settings": {"VocabularyName": "v"}},
        "vocabulary couldn't be found",
    ),
    "MaxAlternatives without ShowAlternatives": ({"Settings": {"MaxAlternatives": 2}}, "MaxAlternatives"),
    "ShowAlternatives without MaxAlternatives": ({"Settings": {"ShowAlternatives": True}}, "MaxAlternatives"),
    "a content identification type other than PHI": (
        {"ContentIdentificationType": "PII"},
        "valid values: PHI",
    ),
    "a language other than en-US": ({"LanguageCode": "en-GB"}, "en-US"),
    "a job name with a slash": ({"MedicalTranscriptionJobName": "visit/1"}, "job name"),
    "a media URI without a key": ({"Media": {"MediaFileUri": f"s3://{MEDIA_BUCKET}"}}, "MediaFileUri"),
}


@pytest.mark.parametrize("case", list(TRANSCRIPTION_RULES))
def test_transcription_request_rules(transcribe, transcribe_unvalidated, case):
    overrides, phrase = TRANSCRIPTION_RULES[case]
    request = transcription_request(unique("bad-transcription"), **overrides)
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe_unvalidated.start_medical_transcription_job(**request)
    code, message = error_of(excinfo)
    assert code == "BadRequestException" and phrase in message, message


def test_requests_are_validated_against_the_service_model(transcribe_unvalidated):
    client = transcribe_unvalidated
    request = transcription_request(unique("no-media"))
    del request["Media"]
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        client.start_medical_transcription_job(**request)
    assert "Missing required parameter" in error_of(excinfo)[1] and "Media" in error_of(excinfo)[1]
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        client.list_medical_scribe_jobs(MaxResults=1000)
    assert "MaxResults" in error_of(excinfo)[1]
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        client.start_medical_transcription_job(**transcription_request(unique("bad-type"), Type="LECTURE"))
    assert "Type" in error_of(excinfo)[1]
    with pytest.raises(client.exceptions.BadRequestException) as excinfo:
        client.start_medical_scribe_job(
            **stereo_scribe_request(unique("bad-arn"), DataAccessRoleArn="not-an-arn")
        )
    assert "DataAccessRoleArn" in error_of(excinfo)[1]


def test_unknown_operation(transcribe):
    with pytest.raises(ClientError) as excinfo:
        transcribe.list_vocabularies()
    assert error_of(excinfo)[0] == "UnknownOperationException"


# --- media the engine must fail gracefully on ---------------------------------------------------------


def wav_bytes(rate: int, seconds: float, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for n in range(int(rate * seconds)):
            sample = int(8000 * math.sin(2 * math.pi * 220 * n / rate))
            frames += struct.pack("<h", sample) * channels
        out.writeframes(bytes(frames))
    return buffer.getvalue()


BAD_MEDIA = {
    "8 kHz": (lambda: wav_bytes(8000, 2.0), "sample rate"),
    "empty": (lambda: b"", "Failed to parse audio file"),
    "not audio": (
        lambda: b"Visit notes: this is a text file, not audio.\n" * 50,
        "Failed to parse audio file",
    ),
    "truncated": (lambda: (FIXTURES / "dictation.wav").read_bytes()[:40000], "Failed to parse audio file"),
}


@pytest.mark.parametrize("case", list(BAD_MEDIA))
def test_bad_media_fails_the_job(s3, transcribe, case):
    make, phrase = BAD_MEDIA[case]
    key = media_key(f"bad-{case.replace(' ', '-')}")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=make())
    name = unique("bad-media")
    transcribe.start_medical_transcription_job(
        **transcription_request(name, Media={"MediaFileUri": media_uri(key)})
    )
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "FAILED"
    reason = job["FailureReason"]
    assert phrase in reason and "Check" in reason
    assert key not in reason and "Testpatient" not in reason and MEDIA_BUCKET not in reason
    assert "Transcript" not in job or not job["Transcript"].get("TranscriptFileUri")
    # the engine still answers, and still recognizes speech
    assert (
        transcribe.list_medical_transcription_jobs(MaxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    )


def test_media_checks_against_the_request(s3, transcribe):
    """A declared format or rate that differs from the file, a missing object, and channel
    identification on a one-channel file each fail the job with a reason that names no key."""
    cases = {
        "format": (
            transcription_request(unique("wrong-format"), MediaFormat="mp3"),
            "The media format provided does not match the detected media format",
        ),
        "rate": (transcription_request(unique("wrong-rate"), MediaSampleRateHertz=44100), "sample rate"),
        "missing": (
            transcription_request(
                unique("missing"), Media={"MediaFileUri": media_uri(media_key("nothing-here"))}
            ),
            "can't be accessed",
        ),
    }
    for request, _phrase in cases.values():
        transcribe.start_medical_transcription_job(**request)
    mono_channels = scribe_request(
        unique("mono-channels"),
        {"ChannelIdentification": True},
        Media={"MediaFileUri": media_uri(media_key("dictation"))},
        ChannelDefinitions=CHANNEL_DEFINITIONS,
    )
    transcribe.start_medical_scribe_job(**mono_channels)
    for request, phrase in cases.values():
        job = wait_transcription(transcribe, request["MedicalTranscriptionJobName"])
        assert job["TranscriptionJobStatus"] == "FAILED"
        assert phrase in job["FailureReason"]
        assert "Testpatient" not in job["FailureReason"]
    job = wait_scribe(transcribe, mono_channels["MedicalScribeJobName"])
    assert job["MedicalScribeJobStatus"] == "FAILED"
    assert "two channels" in job["FailureReason"]
