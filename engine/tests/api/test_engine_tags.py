"""Resource tags through boto3: TagResource / UntagResource / ListTagsForResource on a job, a
vocabulary and a vocabulary filter; Get*Job shows a job's current tags."""

from __future__ import annotations

import pytest
from engine_helpers import media_key, media_uri, transcription_request, unique, wait_transcription

pytestmark = pytest.mark.engine

ARN = "arn:aws:transcribe:us-east-1:000000000000:{}/{}"


def tags_of(transcribe, arn: str) -> dict:
    answer = transcribe.list_tags_for_resource(ResourceArn=arn)
    assert answer["ResourceArn"] == arn
    return {tag["Key"]: tag["Value"] for tag in answer["Tags"]}


def test_job_tags(transcribe):
    name = unique("tagged-job")
    transcribe.start_medical_transcription_job(
        **transcription_request(name, "absent-for-tags", Tags=[{"Key": "night", "Value": "2026-11-20"}])
    )
    arn = ARN.format("medical-transcription-job", name)
    assert tags_of(transcribe, arn) == {"night": "2026-11-20"}
    transcribe.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "night", "Value": "2026-11-21"}, {"Key": "team", "Value": "qa"}]
    )
    assert tags_of(transcribe, arn) == {"night": "2026-11-21", "team": "qa"}
    transcribe.untag_resource(ResourceArn=arn, TagKeys=["night"])
    assert tags_of(transcribe, arn) == {"team": "qa"}
    job = wait_transcription(transcribe, name)
    assert job["Tags"] == [{"Key": "team", "Value": "qa"}]


def test_vocabulary_and_filter_tags(s3, transcribe):
    from engine_helpers import MEDIA_BUCKET

    vocabulary, vocabulary_filter = unique("tagged-vocab"), unique("tagged-filter")
    key = media_key(f"vocabularies/{vocabulary}", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"lisinopril\n")
    transcribe.create_medical_vocabulary(
        VocabularyName=vocabulary,
        LanguageCode="en-US",
        VocabularyFileUri=media_uri(key),
        Tags=[{"Key": "owner", "Value": "cardiology"}],
    )
    transcribe.create_vocabulary_filter(
        VocabularyFilterName=vocabulary_filter, LanguageCode="en-US", Words=["x"]
    )
    vocabulary_arn = ARN.format("medical-vocabulary", vocabulary)
    filter_arn = ARN.format("vocabulary-filter", vocabulary_filter)
    assert tags_of(transcribe, vocabulary_arn) == {"owner": "cardiology"}
    assert tags_of(transcribe, filter_arn) == {}
    transcribe.tag_resource(ResourceArn=filter_arn, Tags=[{"Key": "owner", "Value": "privacy"}])
    assert tags_of(transcribe, filter_arn) == {"owner": "privacy"}
    transcribe.untag_resource(ResourceArn=vocabulary_arn, TagKeys=["owner", "absent"])
    assert tags_of(transcribe, vocabulary_arn) == {}


def test_unknown_resources(transcribe):
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.list_tags_for_resource(ResourceArn=ARN.format("medical-scribe-job", "no-such-job"))
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.list_tags_for_resource(ResourceArn=ARN.format("language-model", "anything"))
    assert "ResourceArn is not valid" in excinfo.value.response["Error"]["Message"]
