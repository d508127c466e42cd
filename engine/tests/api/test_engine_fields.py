"""No request field accepted and ignored, through boto3: Type=DICTATION is one speaker, Specialty and
role ARNs are validated, a vocabulary filter keeps its DataAccessRoleArn and refuses
EncryptionConfiguration, the job page says what a field means offline, and the service's errors carry
the HTTP status of botocore 1.44's model."""

from __future__ import annotations

import urllib.request

import pytest
from engine_helpers import (
    MEDIA_BUCKET,
    ROLE_ARN,
    media_key,
    media_uri,
    read_output,
    stereo_scribe_request,
    transcription_request,
    unique,
    wait_transcription,
)

pytestmark = pytest.mark.engine

OTHER_ROLE_ARN = "arn:aws:iam::210987654321:role/service-role/medscribe-filters"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def error_of(excinfo) -> tuple[str, str, int]:
    response = excinfo.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return response["Error"]["Code"], response["Error"]["Message"], status


def job_page(stack, kind: str, name: str) -> str:
    with urllib.request.urlopen(f"{stack.engine_endpoint}/jobs/{kind}/{name}", timeout=30) as response:
        return response.read().decode("utf-8")


def test_dictation_with_speaker_labels_is_one_speaker_without_diarization(s3, stack, transcribe, engine_log):
    """The two-voice mono visit as a DICTATION: one speaker label, and no diarize stage ran."""
    name = unique("dictation-speakers")
    transcribe.start_medical_transcription_job(
        **transcription_request(
            name, "conversation_mono", Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
        )
    )
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["Type"] == "DICTATION"
    results = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    labels = results["speaker_labels"]
    assert labels["speakers"] == 1
    assert {segment["speaker_label"] for segment in labels["segments"]} == {"spk_0"}
    labelled = [item for segment in labels["segments"] for item in segment["items"]]
    words = [item for item in results["items"] if item["type"] == "pronunciation"]
    assert len(words) > 40 and len(labelled) == len(words)
    assert {item["speaker_label"] for item in labelled} == {"spk_0"}
    completed = [line for line in engine_log.read_text().splitlines() if f"job {name} COMPLETED" in line]
    assert len(completed) == 1
    assert "one_speaker=" in completed[0] and "diarize=" not in completed[0]
    assert "1 speakers or channels" in completed[0]


def test_specialty_other_than_primary_care_is_refused(transcribe):
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_transcription_job(
            **transcription_request(unique("cardiology"), Specialty="CARDIOLOGY")
        )
    code, message, status = error_of(excinfo)
    assert (code, status) == ("BadRequestException", 400)
    assert "Specialty" in message and "PRIMARYCARE" in message


@pytest.mark.parametrize(
    "role_arn, phrase",
    [
        ("arn:aws:iam::12345:role/medscribe-healthscribe", "12-digit account id"),
        ("arn:aws:iam::123456789012:role/", "12-digit account id"),
        ("arn:aws:iam::123456789012:user/medscribe-healthscribe", "DataAccessRoleArn"),
        ("arn:aws:s3:::medscribe-role-bucket-xx", "DataAccessRoleArn"),
    ],
)
def test_scribe_role_arn_must_name_an_iam_role(transcribe, role_arn, phrase):
    name = unique("bad-role")
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_scribe_job(**stereo_scribe_request(name, DataAccessRoleArn=role_arn))
    code, message, _ = error_of(excinfo)
    assert code == "BadRequestException" and phrase in message and "DataAccessRoleArn" in message
    with pytest.raises(transcribe.exceptions.NotFoundException):  # nothing was queued
        transcribe.get_medical_scribe_job(MedicalScribeJobName=name)


def test_job_pages_say_what_a_field_means_offline(stack, reference_jobs):
    scribe = job_page(stack, "medical-scribe", reference_jobs["stereo"])
    assert ROLE_ARN in scribe and "Not assumed offline" in scribe and "its own S3 credentials" in scribe
    dictation = job_page(stack, "medical-transcription", reference_jobs["dictation"])
    assert "PRIMARYCARE" in dictation and "Echoed only" in dictation
    assert "DICTATION" in dictation and "One speaker: no diarization" in dictation
    assert "Not assumed offline" not in dictation


def test_vocabulary_filter_keeps_its_role_and_refuses_encryption(s3, transcribe):
    name = unique("filter-role")
    key = media_key(f"filters/{name}", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"stairs\nwinded\n")
    created = transcribe.create_vocabulary_filter(
        VocabularyFilterName=name,
        LanguageCode="en-US",
        VocabularyFilterFileUri=media_uri(key),
        DataAccessRoleArn=ROLE_ARN,
    )
    assert "DataAccessRoleArn" not in created  # CreateVocabularyFilter's output has no such member
    assert transcribe.get_vocabulary_filter(VocabularyFilterName=name)["DataAccessRoleArn"] == ROLE_ARN
    transcribe.update_vocabulary_filter(VocabularyFilterName=name, Words=["insulin"])
    assert transcribe.get_vocabulary_filter(VocabularyFilterName=name)["DataAccessRoleArn"] == ROLE_ARN
    transcribe.update_vocabulary_filter(
        VocabularyFilterName=name, VocabularyFilterFileUri=media_uri(key), DataAccessRoleArn=OTHER_ROLE_ARN
    )
    got = transcribe.get_vocabulary_filter(VocabularyFilterName=name)
    assert got["DataAccessRoleArn"] == OTHER_ROLE_ARN and "EncryptionConfiguration" not in got
    listed = transcribe.list_vocabulary_filters(NameContains=name)["VocabularyFilters"]
    assert [item["VocabularyFilterName"] for item in listed] == [name]

    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.update_vocabulary_filter(
            VocabularyFilterName=name, Words=["metformin"], EncryptionConfiguration={"KMSKey": KMS_KEY_ARN}
        )
    assert "EncryptionConfiguration is not supported" in error_of(excinfo)[1]
    unchanged = transcribe.get_vocabulary_filter(VocabularyFilterName=name)
    assert unchanged["LastModifiedTime"] == got["LastModifiedTime"]

    encrypted = unique("filter-kms")
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.create_vocabulary_filter(
            VocabularyFilterName=encrypted,
            LanguageCode="en-US",
            Words=["metformin"],
            EncryptionConfiguration={"KMSKey": KMS_KEY_ARN},
        )
    assert "no KMS key" in error_of(excinfo)[1]
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_vocabulary_filter(VocabularyFilterName=encrypted)
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.create_vocabulary_filter(
            VocabularyFilterName=encrypted,
            LanguageCode="en-US",
            Words=["metformin"],
            DataAccessRoleArn="arn:aws:iam::123:role/filters",
        )
    assert "not a valid IAM role ARN" in error_of(excinfo)[1]
    transcribe.delete_vocabulary_filter(VocabularyFilterName=name)


def test_conflict_and_not_found_carry_their_model_status(transcribe, reference_jobs):
    """409 and 404 as botocore 1.44's model declares; boto3 still raises the modeled classes."""
    with pytest.raises(transcribe.exceptions.ConflictException) as excinfo:
        transcribe.start_medical_transcription_job(**transcription_request(reference_jobs["dictation"]))
    assert error_of(excinfo)[0::2] == ("ConflictException", 409)
    with pytest.raises(transcribe.exceptions.NotFoundException) as excinfo:
        transcribe.get_medical_scribe_job(MedicalScribeJobName=unique("never-started"))
    assert error_of(excinfo)[0::2] == ("NotFoundException", 404)
    with pytest.raises(transcribe.exceptions.NotFoundException) as excinfo:
        transcribe.delete_vocabulary_filter(VocabularyFilterName=unique("never-created"))
    assert error_of(excinfo)[0::2] == ("NotFoundException", 404)
