"""Vocabulary filters through boto3: the five operations, words inline or from S3, and the three methods
(remove, mask, tag) on a HealthScribe job of the stereo visit."""

from __future__ import annotations

import pytest
from engine_helpers import (
    MEDIA_BUCKET,
    PATIENT_FRAGMENT,
    media_key,
    media_uri,
    read_output,
    stereo_scribe_request,
    unique,
    wait_scribe,
)

pytestmark = pytest.mark.engine


def test_create_get_update_list_delete(s3, transcribe):
    prefix = unique("filters")
    created = transcribe.create_vocabulary_filter(
        VocabularyFilterName=f"{prefix}-inline", LanguageCode="en-US", Words=["metformin", "diabetes"]
    )
    assert created["VocabularyFilterName"] == f"{prefix}-inline" and created["LanguageCode"] == "en-US"
    key = media_key(f"filters/{prefix}", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"stairs\nwinded\n")
    transcribe.create_vocabulary_filter(
        VocabularyFilterName=f"{prefix}-file", LanguageCode="en-US", VocabularyFilterFileUri=media_uri(key)
    )
    got = transcribe.get_vocabulary_filter(VocabularyFilterName=f"{prefix}-file")
    assert got["DownloadUri"].endswith(".txt") and got["LastModifiedTime"].year >= 2024
    listed = transcribe.list_vocabulary_filters(NameContains=prefix.upper(), MaxResults=1)
    assert [f["VocabularyFilterName"] for f in listed["VocabularyFilters"]] == [f"{prefix}-file"]
    rest = transcribe.list_vocabulary_filters(NameContains=prefix, NextToken=listed["NextToken"])
    assert [f["VocabularyFilterName"] for f in rest["VocabularyFilters"]] == [f"{prefix}-inline"]
    assert "NextToken" not in rest
    updated = transcribe.update_vocabulary_filter(VocabularyFilterName=f"{prefix}-inline", Words=["insulin"])
    assert updated["VocabularyFilterName"] == f"{prefix}-inline"
    transcribe.delete_vocabulary_filter(VocabularyFilterName=f"{prefix}-inline")
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_vocabulary_filter(VocabularyFilterName=f"{prefix}-inline")
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.delete_vocabulary_filter(VocabularyFilterName=f"{prefix}-inline")
    with pytest.raises(transcribe.exceptions.ConflictException):
        transcribe.create_vocabulary_filter(
            VocabularyFilterName=f"{prefix}-file", LanguageCode="en-US", Words=["x"]
        )


@pytest.mark.parametrize(
    "request_part, phrase",
    [
        ({"Words": ["ten mg"]}, "character set"),
        ({"Words": ["a"], "VocabularyFilterFileUri": "s3://b/k.txt"}, "not both"),
        ({}, "not both"),
        ({"VocabularyFilterFileUri": media_uri(media_key("filters/none", ".txt"))}, "can't be accessed"),
    ],
)
def test_unusable_filters_are_bad_requests(transcribe, request_part, phrase):
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.create_vocabulary_filter(
            VocabularyFilterName=unique("bad-filter"), LanguageCode="en-US", **request_part
        )
    message = excinfo.value.response["Error"]["Message"]
    assert phrase in message and PATIENT_FRAGMENT not in message


@pytest.fixture(scope="module")
def filtered_jobs(transcribe):
    name = unique("visit-filter")
    transcribe.create_vocabulary_filter(
        VocabularyFilterName=name, LanguageCode="en-US", Words=["Metformin", "diabetes"]
    )
    jobs = {}
    for method in ("remove", "mask", "tag"):
        jobs[method] = unique(f"filter-{method}")
        settings = {
            "ChannelIdentification": True,
            "VocabularyFilterName": name,
            "VocabularyFilterMethod": method,
        }
        transcribe.start_medical_scribe_job(**stereo_scribe_request(jobs[method], Settings=settings))
    return jobs


def conversation(s3, stack, transcribe, name: str) -> dict:
    job = wait_scribe(transcribe, name)
    assert job["MedicalScribeJobStatus"] == "COMPLETED", job.get("FailureReason")
    return read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)["Conversation"]


def text_of(conversation: dict) -> str:
    return " ".join(segment["Content"] for segment in conversation["TranscriptSegments"])


def test_remove_mask_and_tag(s3, stack, transcribe, filtered_jobs, reference_jobs):
    baseline = text_of(conversation(s3, stack, transcribe, reference_jobs["stereo"])).lower()
    assert "metformin" in baseline and baseline.count("diabetes") == 2
    removed = conversation(s3, stack, transcribe, filtered_jobs["remove"])
    masked = conversation(s3, stack, transcribe, filtered_jobs["mask"])
    tagged = conversation(s3, stack, transcribe, filtered_jobs["tag"])
    for doc in (removed, masked):
        assert "metformin" not in text_of(doc).lower() and "diabetes" not in text_of(doc).lower()
    assert "***" not in text_of(removed)
    assert text_of(masked).count("***") == baseline.count("metformin") + baseline.count("diabetes")
    flagged = [i for i in tagged["TranscriptItems"] if i.get("VocabularyFilterMatch")]
    assert sorted({i["Alternatives"][0]["Content"].lower() for i in flagged}) == ["diabetes", "metformin"]
    assert text_of(tagged).lower() == baseline
    assert all("VocabularyFilterMatch" not in i for i in masked["TranscriptItems"])

    def words(doc: dict) -> int:
        return sum(i["Type"] == "PRONUNCIATION" for i in doc["TranscriptItems"])

    assert words(removed) == words(tagged) - len(flagged)
