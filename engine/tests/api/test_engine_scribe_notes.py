"""HealthScribe clinical documents through boto3: ClinicalDocumentUri, AWS's layout and format, evidence
links into the transcript, pronouns, templates, negation, and an empty note for a silent recording."""

from __future__ import annotations

import io
import re
import wave

import pytest
from engine_helpers import (
    MEDIA_BUCKET,
    OUTPUT_BUCKET,
    media_key,
    media_uri,
    read_output,
    stereo_scribe_request,
    unique,
    wait_scribe,
)

pytestmark = pytest.mark.engine

HISTORY_AND_PHYSICAL = [
    "CHIEF_COMPLAINT",
    "HISTORY_OF_PRESENT_ILLNESS",
    "REVIEW_OF_SYSTEMS",
    "PAST_MEDICAL_HISTORY",
    "PAST_FAMILY_HISTORY",
    "PAST_SOCIAL_HISTORY",
    "PHYSICAL_EXAMINATION",
    "DIAGNOSTIC_TESTING",
    "ASSESSMENT",
    "PLAN",
]


def start(transcribe, name: str, key: str, **extra) -> None:
    settings = {"ChannelIdentification": True, **extra.pop("settings", {})}
    transcribe.start_medical_scribe_job(
        **stereo_scribe_request(name, Media={"MediaFileUri": media_uri(key)}, Settings=settings, **extra)
    )


@pytest.fixture(scope="module")
def note_jobs(s3, transcribe):
    """Three jobs queued together: the stereo visit (H&P, SHE_HER), the same visit as BIRP, 3 s of silence."""
    silent_key = media_key("silence-notes")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * 2 * 16000 * 3)
    s3.put_object(Bucket=MEDIA_BUCKET, Key=silent_key, Body=buffer.getvalue())
    names = {"visit": unique("notes-visit"), "birp": unique("notes-birp"), "silence": unique("notes-silence")}
    start(
        transcribe,
        names["visit"],
        media_key("conversation_stereo"),
        MedicalScribeContext={"PatientContext": {"Pronouns": "SHE_HER"}},
    )
    start(
        transcribe,
        names["birp"],
        media_key("conversation_stereo"),
        settings={"ClinicalNoteGenerationSettings": {"NoteTemplate": "BIRP"}},
    )
    start(transcribe, names["silence"], silent_key)
    return {kind: wait_scribe(transcribe, name, timeout=300) for kind, name in names.items()}


def outputs(s3, stack, job):
    assert job["MedicalScribeJobStatus"] == "COMPLETED", job.get("FailureReason")
    output = job["MedicalScribeOutput"]
    transcript = read_output(s3, output["TranscriptFileUri"], stack.s3_endpoint)["Conversation"]
    note = read_output(s3, output["ClinicalDocumentUri"], stack.s3_endpoint)
    return transcript, note


def summary_sentences(note):
    return [
        (
            section["SectionName"],
            item["SummarizedSegment"],
            [link["SegmentId"] for link in item["EvidenceLinks"]],
        )
        for section in note["ClinicalDocumentation"]["Sections"]
        for item in section["Summary"]
    ]


def test_clinical_document_uri_and_layout(s3, stack, note_jobs):
    job = note_jobs["visit"]
    name = job["MedicalScribeJobName"]
    assert (
        job["MedicalScribeOutput"]["ClinicalDocumentUri"]
        == f"{stack.s3_endpoint}/{OUTPUT_BUCKET}/{name}/summary.json"
    )
    assert (
        job["MedicalScribeOutput"]["TranscriptFileUri"]
        == f"{stack.s3_endpoint}/{OUTPUT_BUCKET}/{name}/transcript.json"
    )
    assert job["MedicalScribeContextProvided"] is True
    _, note = outputs(s3, stack, job)
    assert list(note) == ["ClinicalDocumentation"]
    assert [s["SectionName"] for s in note["ClinicalDocumentation"]["Sections"]] == HISTORY_AND_PHYSICAL


def test_every_evidence_link_resolves_and_supports(s3, stack, note_jobs):
    transcript, note = outputs(s3, stack, note_jobs["visit"])
    segments = {s["SegmentId"]: s for s in transcript["TranscriptSegments"]}
    sentences = summary_sentences(note)
    assert len(sentences) >= 4
    for section, text, evidence in sentences:
        assert evidence, (section, text)
        assert all(sid in segments for sid in evidence), (section, text)
        source = " ".join(segments[sid]["Content"] for sid in evidence).lower()
        # the words of a note sentence come from its evidence (pronouns and "denies"/"reports" aside)
        words = set(re.findall(r"[a-z]{4,}", text.lower())) - {
            "denies",
            "reports",
            "patient",
            "their",
            "does",
        }
        assert all(word in source or word.rstrip("s") in source for word in words), (text, source)


def test_pronouns_and_negation(s3, stack, note_jobs):
    _, note = outputs(s3, stack, note_jobs["visit"])
    sentences = summary_sentences(note)
    text = " ".join(t for _, t, _ in sentences)
    assert re.search(r"\b(She|she|her)\b", text)
    assert not re.search(
        r"\b(I am|my)\b", " ".join(t for s, t, _ in sentences if s == "HISTORY_OF_PRESENT_ILLNESS")
    )
    # the patient said "No chest pain.": chest pain is never stated without its negation
    for _, sentence, _ in sentences:
        for match in re.finditer(r"chest pain", sentence.lower()):
            assert {"no", "not", "denies"} & set(sentence.lower()[: match.start()].split()[-6:]), sentence
    assert any(s == "PLAN" for s, _, _ in sentences)


def test_template_returns_only_its_sections(s3, stack, note_jobs):
    job = note_jobs["birp"]
    assert job["Settings"]["ClinicalNoteGenerationSettings"] == {"NoteTemplate": "BIRP"}
    _, note = outputs(s3, stack, job)
    assert [s["SectionName"] for s in note["ClinicalDocumentation"]["Sections"]] == [
        "BEHAVIOR",
        "INTERVENTION",
        "RESPONSE",
        "PLAN",
    ]
    assert summary_sentences(note)  # the same visit has content for BIRP too


def test_silent_recording_gives_an_empty_note(s3, stack, note_jobs):
    transcript, note = outputs(s3, stack, note_jobs["silence"])
    assert transcript["TranscriptSegments"] == []
    sections = note["ClinicalDocumentation"]["Sections"]
    assert [s["SectionName"] for s in sections] == HISTORY_AND_PHYSICAL
    assert all(s["Summary"] == [] for s in sections)


@pytest.mark.parametrize(
    ("extra", "parameter"),
    [
        ({"settings": {"ClinicalNoteGenerationSettings": {"NoteTemplate": "SOAP"}}}, "NoteTemplate"),
        ({"MedicalScribeContext": {"PatientContext": {"Pronouns": "HIM"}}}, "Pronouns"),
    ],
)
def test_unknown_template_or_pronouns_are_refused(transcribe, extra, parameter):
    name = unique("notes-refused")
    with pytest.raises(transcribe.exceptions.BadRequestException) as excinfo:
        start(transcribe, name, media_key("conversation_stereo"), **extra)
    message = excinfo.value.response["Error"]["Message"]
    assert parameter in message and "valid values" in message
    with pytest.raises(transcribe.exceptions.NotFoundException):
        transcribe.get_medical_scribe_job(MedicalScribeJobName=name)
