"""Custom medical vocabularies through boto3: the five operations, the file formats and their failures,
botocore's waiter, and a vocabulary that makes tiny.en write "lisinopril" in the dictation."""

from __future__ import annotations

import pytest
from botocore.exceptions import WaiterError
from engine_helpers import (
    MEDIA_BUCKET,
    PATIENT_FRAGMENT,
    media_key,
    media_uri,
    read_output,
    scribe_request,
    transcription_request,
    unique,
    wait_transcription,
)

pytestmark = pytest.mark.engine

TABLE = "Phrase\tIPA\tSoundsLike\tDisplayAs\nlisinopril\t\t\tLisinopril\nblood-pressure\t\t\tBP\n"
LIST = "metformin\nalbuterol\nD.N.A.\n"
BAD_HEADER = "Word\tPronunciation\nlisinopril\tli-sin-o-pril\n"
DIGITS = "Phrase\tIPA\tSoundsLike\tDisplayAs\nV.X.-02-Q.\t\t\t\n"
SPACES = "Phrase\tIPA\tSoundsLike\tDisplayAs\nlisinopril \t\t\t\n"


def upload(s3, name: str, text: str) -> str:
    key = media_key(f"vocabularies/{name}", ".txt")
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=text.encode())
    return media_uri(key)


def wait_ready(transcribe, name: str) -> dict:
    transcribe.get_waiter("medical_vocabulary_ready").wait(
        VocabularyName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return transcribe.get_medical_vocabulary(VocabularyName=name)


@pytest.fixture(scope="module")
def drug_vocabulary(s3, transcribe):
    name = unique("drugs")
    created = transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, TABLE)
    )
    assert created["VocabularyState"] == "PENDING" and created["VocabularyName"] == name
    return name


def test_a_table_vocabulary_becomes_ready(transcribe, drug_vocabulary):
    vocabulary = wait_ready(transcribe, drug_vocabulary)
    assert vocabulary["VocabularyState"] == "READY"
    assert vocabulary["LanguageCode"] == "en-US"
    assert "FailureReason" not in vocabulary
    assert vocabulary["DownloadUri"].endswith(".txt")
    assert vocabulary["LastModifiedTime"].year >= 2024


def test_a_list_vocabulary_becomes_ready(s3, transcribe):
    name = unique("list")
    transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, LIST)
    )
    assert wait_ready(transcribe, name)["VocabularyState"] == "READY"


FAILURES = {
    "a missing file": (None, "can't be accessed"),
    "a header that is not the four columns": (BAD_HEADER, "header row"),
    "digits in a phrase": (DIGITS, "character set"),
    "a space after a value": (SPACES, "spaces around a value"),
    "not UTF-8": ("Phrase\tIPA\tSoundsLike\tDisplayAs\n\xe9t\xe9\t\t\t\n".encode("latin-1"), "UTF-8"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_an_unusable_file_fails_the_vocabulary(s3, transcribe, case):
    content, phrase = FAILURES[case]
    name = unique("bad-vocab")
    key = media_key(f"vocabularies/{name}", ".txt")
    if content is not None:
        s3.put_object(
            Bucket=MEDIA_BUCKET, Key=key, Body=content if isinstance(content, bytes) else content.encode()
        )
    transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=media_uri(key)
    )
    with pytest.raises(WaiterError):
        wait_ready(transcribe, name)
    vocabulary = transcribe.get_medical_vocabulary(VocabularyName=name)
    assert vocabulary["VocabularyState"] == "FAILED"
    assert phrase in vocabulary["FailureReason"]
    assert (
        PATIENT_FRAGMENT not in vocabulary["FailureReason"]
        and "lisinopril" not in vocabulary["FailureReason"]
    )


def test_update_replaces_the_file_and_reprocesses(s3, transcribe):
    name = unique("update")
    transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, BAD_HEADER)
    )
    with pytest.raises(WaiterError):
        wait_ready(transcribe, name)
    updated = transcribe.update_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name + "-v2", LIST)
    )
    assert updated["VocabularyState"] == "PENDING"
    vocabulary = wait_ready(transcribe, name)
    assert vocabulary["VocabularyState"] == "READY" and "FailureReason" not in vocabulary


def test_names_conflict_and_unknown_names_are_not_found(s3, transcribe, drug_vocabulary):
    with pytest.raises(transcribe.exceptions.ConflictException):
        transcribe.create_medical_vocabulary(
            VocabularyName=drug_vocabulary, LanguageCode="en-US", VocabularyFileUri=upload(s3, "x", LIST)
        )
    for call in (
        lambda: transcribe.get_medical_vocabulary(VocabularyName="no-such-vocabulary"),
        lambda: transcribe.delete_medical_vocabulary(VocabularyName="no-such-vocabulary"),
        lambda: transcribe.update_medical_vocabulary(
            VocabularyName="no-such-vocabulary", LanguageCode="en-US", VocabularyFileUri=upload(s3, "y", LIST)
        ),
    ):
        with pytest.raises(transcribe.exceptions.NotFoundException):
            call()
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.create_medical_vocabulary(
            VocabularyName=unique("british"), LanguageCode="en-GB", VocabularyFileUri=upload(s3, "z", LIST)
        )
    assert "en-US" in excinfo.value.response["Error"]["Message"]


def test_delete(s3, transcribe):
    name = unique("doomed")
    transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, LIST)
    )
    wait_ready(transcribe, name)
    transcribe.delete_medical_vocabulary(VocabularyName=name)
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_vocabulary(VocabularyName=name)


def test_list_filters_and_pages(s3, transcribe):
    prefix = unique("paging")
    names = [f"{prefix}-{n}" for n in range(3)]
    for name in names:
        transcribe.create_medical_vocabulary(
            VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, LIST)
        )
    failed = f"{prefix}-failed"
    transcribe.create_medical_vocabulary(
        VocabularyName=failed, LanguageCode="en-US", VocabularyFileUri=upload(s3, failed, BAD_HEADER)
    )
    for name in names:
        wait_ready(transcribe, name)
    with pytest.raises(WaiterError):
        wait_ready(transcribe, failed)
    seen, token, pages = [], None, 0
    while True:
        page = transcribe.list_medical_vocabularies(
            NameContains=prefix.upper(),
            StateEquals="READY",
            MaxResults=2,
            **({"NextToken": token} if token else {}),
        )
        assert page["Status"] == "READY"
        seen += [v["VocabularyName"] for v in page["Vocabularies"]]
        assert all(
            v["VocabularyState"] == "READY" and v["LanguageCode"] == "en-US" for v in page["Vocabularies"]
        )
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert seen == list(reversed(names)) and pages == 2  # newest first
    failed_page = transcribe.list_medical_vocabularies(NameContains=prefix, StateEquals="FAILED")
    assert [v["VocabularyName"] for v in failed_page["Vocabularies"]] == [failed]
    paginator = (
        transcribe.get_paginator("list_medical_vocabularies")
        if transcribe.can_paginate("list_medical_vocabularies")
        else None
    )
    if paginator is not None:
        listed = [
            v["VocabularyName"] for p in paginator.paginate(NameContains=prefix) for v in p["Vocabularies"]
        ]
        assert set(listed) == set(names) | {failed}


def test_jobs_need_a_ready_vocabulary(s3, transcribe):
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_transcription_job(
            **transcription_request(unique("no-vocab"), Settings={"VocabularyName": "no-such-vocabulary"})
        )
    assert "couldn't be found" in excinfo.value.response["Error"]["Message"]
    failed = unique("failed-vocab")
    transcribe.create_medical_vocabulary(
        VocabularyName=failed, LanguageCode="en-US", VocabularyFileUri=upload(s3, failed, BAD_HEADER)
    )
    with pytest.raises(WaiterError):
        wait_ready(transcribe, failed)
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        transcribe.start_medical_transcription_job(
            **transcription_request(unique("failed-vocab-job"), Settings={"VocabularyName": failed})
        )
    assert "FAILED" in excinfo.value.response["Error"]["Message"]


def test_the_vocabulary_makes_lisinopril_appear(s3, stack, transcribe, drug_vocabulary, reference_jobs):
    wait_ready(transcribe, drug_vocabulary)
    name = unique("dictation-vocab")
    transcribe.start_medical_transcription_job(
        **transcription_request(name, Settings={"VocabularyName": drug_vocabulary})
    )
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["Settings"]["VocabularyName"] == drug_vocabulary
    results = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    transcript = results["transcripts"][0]["transcript"]
    # the control: the same recording without the vocabulary (tiny.en hears "like in a real")
    baseline_job = wait_transcription(transcribe, reference_jobs["dictation"])
    baseline = read_output(s3, baseline_job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    baseline_text = baseline["transcripts"][0]["transcript"]
    assert "lisinopril" not in baseline_text.lower()
    assert "blood pressure" in baseline_text.lower()
    # with it: the drug is recognized, written as its DisplayAs, and "blood pressure" is displayed as "BP"
    assert "Start Lisinopril 10 milligrams" in transcript
    assert "blood pressure" not in transcript.lower() and transcript.count("BP") == 2
    (bp, *_rest) = [item for item in results["items"] if item["alternatives"][0]["content"] == "BP"]
    assert float(bp["end_time"]) - float(bp["start_time"]) > 0.4  # one item over both spoken words


def test_vocabulary_content_is_not_logged(engine_log, drug_vocabulary, transcribe):
    wait_ready(transcribe, drug_vocabulary)
    log = engine_log.read_text()
    assert f"vocabulary {drug_vocabulary} READY" in log
    assert "lisinopril" not in log.lower() and "vocabularies/" not in log and PATIENT_FRAGMENT not in log


def test_a_scribe_job_uses_the_vocabulary(s3, stack, transcribe, reference_jobs):
    """HealthScribe with speaker labels: tiny.en writes "Elbuter Island Taylor" for "albuterol inhaler"
    in the mono visit; a list vocabulary of the visit's drug fixes it (hotwords) before diarization."""
    from engine_helpers import wait_scribe

    if "mono_refused" in reference_jobs:
        pytest.skip("this engine build has no diarization")
    name = unique("respiratory")
    transcribe.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=upload(s3, name, "albuterol\ninhaler\n")
    )
    wait_ready(transcribe, name)
    job_name = unique("visit-mono-vocab")
    transcribe.start_medical_scribe_job(
        **scribe_request(
            job_name,
            {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2, "VocabularyName": name},
            "conversation_mono",
        )
    )
    job = wait_scribe(transcribe, job_name)
    assert job["MedicalScribeJobStatus"] == "COMPLETED", job.get("FailureReason")
    conversation = read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)[
        "Conversation"
    ]
    text = " ".join(segment["Content"] for segment in conversation["TranscriptSegments"]).lower()
    baseline = wait_scribe(transcribe, reference_jobs["mono"])
    baseline_text = " ".join(
        segment["Content"]
        for segment in read_output(
            s3, baseline["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint
        )["Conversation"]["TranscriptSegments"]
    ).lower()
    assert "albuterol" not in baseline_text
    assert "albuterol inhaler" in text
    roles = {
        segment["ParticipantDetails"]["ParticipantRole"] for segment in conversation["TranscriptSegments"]
    }
    assert roles == {"CLINICIAN_0", "PATIENT_0"}
