"""List (status filter, name filter, paging) and Delete through boto3."""

from __future__ import annotations

import pytest
from engine_helpers import (
    CHANNEL_DEFINITIONS,
    OUTPUT_BUCKET,
    ROLE_ARN,
    media_key,
    media_uri,
    transcription_request,
    unique,
    wait_scribe,
    wait_transcription,
)

pytestmark = pytest.mark.engine


def start_failing_transcription(client, name: str) -> None:
    """A job that fails fast (its media does not exist): cheap to list and delete."""
    client.start_medical_transcription_job(
        **transcription_request(name, "does-not-exist", Type="CONVERSATION")
    )


def all_pages(call, summaries_key: str, **kwargs) -> tuple[list[dict], int]:
    items, pages, token = [], 0, None
    while True:
        response = call(**kwargs, **({"NextToken": token} if token else {}))
        pages += 1
        items += response[summaries_key]
        token = response.get("NextToken")
        if not token:
            return items, pages


def test_list_filters_and_pages(transcribe, reference_jobs):
    prefix = unique("listing")
    names = [f"{prefix}-{index}" for index in range(5)]
    for name in names:
        start_failing_transcription(transcribe, name)
    for name in names:
        assert wait_transcription(transcribe, name)["TranscriptionJobStatus"] == "FAILED"

    summaries, pages = all_pages(
        transcribe.list_medical_transcription_jobs,
        "MedicalTranscriptionJobSummaries",
        JobNameContains=prefix.upper(),
        MaxResults=2,  # the name filter ignores case
    )
    assert pages == 3
    listed = [summary["MedicalTranscriptionJobName"] for summary in summaries]
    assert listed == list(reversed(names))  # newest first, no duplicates across pages
    for summary in summaries:
        assert summary["TranscriptionJobStatus"] == "FAILED"
        assert summary["FailureReason"]
        assert summary["OutputLocationType"] == "CUSTOMER_BUCKET"
        assert summary["CreationTime"] <= summary["CompletionTime"]

    response = transcribe.list_medical_transcription_jobs(Status="COMPLETED", JobNameContains=prefix)
    assert response["Status"] == "COMPLETED" and response["MedicalTranscriptionJobSummaries"] == []
    failed, _ = all_pages(
        transcribe.list_medical_transcription_jobs,
        "MedicalTranscriptionJobSummaries",
        Status="FAILED",
        MaxResults=100,
    )
    assert set(names) <= {summary["MedicalTranscriptionJobName"] for summary in failed}
    assert all(summary["TranscriptionJobStatus"] == "FAILED" for summary in failed)

    wait_transcription(transcribe, reference_jobs["dictation"])
    completed, _ = all_pages(
        transcribe.list_medical_transcription_jobs, "MedicalTranscriptionJobSummaries", Status="COMPLETED"
    )
    assert reference_jobs["dictation"] in {summary["MedicalTranscriptionJobName"] for summary in completed}

    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.list_medical_transcription_jobs(NextToken="not-a-token")


def test_list_scribe_jobs(transcribe, reference_jobs):
    wait_scribe(transcribe, reference_jobs["stereo"])
    summaries, _ = all_pages(
        transcribe.list_medical_scribe_jobs, "MedicalScribeJobSummaries", Status="COMPLETED", MaxResults=1
    )
    by_name = {summary["MedicalScribeJobName"]: summary for summary in summaries}
    assert reference_jobs["stereo"] in by_name
    summary = by_name[reference_jobs["stereo"]]
    assert summary["MedicalScribeJobStatus"] == "COMPLETED" and summary["LanguageCode"] == "en-US"
    assert "FailureReason" not in summary


def test_delete_transcription_job(transcribe):
    name = unique("delete-me")
    start_failing_transcription(transcribe, name)
    wait_transcription(transcribe, name)
    transcribe.delete_medical_transcription_job(MedicalTranscriptionJobName=name)
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=name)
    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.delete_medical_transcription_job(MedicalTranscriptionJobName=name)
    assert name not in {
        s["MedicalTranscriptionJobName"]
        for s in transcribe.list_medical_transcription_jobs(JobNameContains=name)[
            "MedicalTranscriptionJobSummaries"
        ]
    }
    start_failing_transcription(transcribe, name)  # the name can be used again
    assert wait_transcription(transcribe, name)["TranscriptionJobStatus"] == "FAILED"


def test_delete_scribe_job(transcribe):
    name = unique("delete-scribe")
    transcribe.start_medical_scribe_job(
        MedicalScribeJobName=name,
        Media={"MediaFileUri": media_uri(media_key("does-not-exist"))},
        OutputBucketName=OUTPUT_BUCKET,
        DataAccessRoleArn=ROLE_ARN,
        Settings={"ChannelIdentification": True},
        ChannelDefinitions=CHANNEL_DEFINITIONS,
    )
    transcribe.delete_medical_scribe_job(MedicalScribeJobName=name)
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_scribe_job(MedicalScribeJobName=name)
    with pytest.raises(transcribe.exceptions.BadRequestException):
        transcribe.delete_medical_scribe_job(MedicalScribeJobName=name)
