"""The transcript flattener's ValueError for files it does not read: it names the file's position in the
batch and the field (its JSON path) and what is wrong with it, never the file's content (transcripts are
patient data); the other files of the batch do not change it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake import columnar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(folder: str, name: str) -> dict:
    return json.loads((FIXTURES / folder / f"{name}.json").read_text())


SECRETS = ("Okay", "secret", "Professional", "answer", "phentermine", "mammogram")


def refusal(data: bytes) -> str:
    """The message for a bad file between two good ones, checked to quote none of the content."""
    good = (FIXTURES / "aws" / "healthscribe_transcript.json").read_bytes()
    with pytest.raises(ValueError) as raised:
        columnar.flatten_transcripts(
            [("rec-0", "job-0", good), ("rec-1", "job-1", data), ("rec-2", "job-2", good)]
        )
    message = str(raised.value)
    assert raised.value.__cause__ is None and not any(secret in message for secret in SECRETS), message
    return message


def changed(change) -> bytes:
    doc = load("aws", "transcribe_medical_speaker_labels")
    change(doc["results"])
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["items"][0].update(start_time="1_0"), "results.items[].start_time is not a number"),
        (lambda r: r["items"][0].update(start_time="secret"), "results.items[].start_time is not a number"),
        (
            lambda r: r["items"][0].update(start_time="nan"),
            "results.items[].start_time is not a finite number",
        ),
        (
            lambda r: r["items"][1]["alternatives"][0].update(confidence="inf"),
            "results.items[].alternatives[].confidence is not a finite number",
        ),
        (
            lambda r: r["items"][0].update(speaker_label=""),
            "results.items[].speaker_label is an empty string",
        ),
        (
            lambda r: r["speaker_labels"]["segments"][0].update(speaker_label=""),
            "results.speaker_labels.segments[].speaker_label is an empty string",
        ),
        (lambda r: r["items"][0].update(id=1.5), "results.items[].id is not an integer or a string"),
        (
            lambda r: [i.update(start_time="1e13", end_time="1e13") for i in r["items"][:2]],
            "an item's start_time is out of range",  # beyond 2**53 ms: no exact join key
        ),
        (lambda r: r.update(speaker_labels=["secret"]), "results.speaker_labels is not an object"),
        (lambda r: r.update(items={"secret": 1}), "results.items is not a list"),
        (
            lambda r: [i["alternatives"][0].update(content=5) for i in r["items"]],
            "results.items[].alternatives[].content is not a string",
        ),
        (
            lambda r: r["items"][0].update(start_time=0.1),  # a number among strings in one file
            "results.items[].start_time holds both numbers and strings",
        ),
    ],
)
def test_values_the_rules_do_not_read_name_the_file_and_the_field(change, message):
    assert refusal(changed(change)) == f"file 1: {message}"


def test_healthscribe_values_the_rules_do_not_read():
    hs = load("aws", "healthscribe_transcript")
    insight = hs["Conversation"]["ClinicalInsights"][0]
    insight["Spans"][0]["BeginCharacterOffset"] = 1.5
    message = "Conversation.ClinicalInsights[].Spans[].BeginCharacterOffset is not an integer"
    assert refusal(json.dumps(hs).encode()) == f"file 1: {message}"
    insight["Spans"][0]["BeginCharacterOffset"] = 2**31
    message = "Conversation.ClinicalInsights[].Spans[].BeginCharacterOffset is out of range"
    assert refusal(json.dumps(hs).encode()) == f"file 1: {message}"
    del insight["Spans"]
    hs["Conversation"]["TranscriptSegments"][0]["ParticipantDetails"] = "secret"
    assert (
        refusal(json.dumps(hs).encode())
        == "file 1: Conversation.TranscriptSegments[].ParticipantDetails holds both strings and objects"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"{ Okay", "not valid JSON (JSONDecodeError)"),
        (b"", "not valid JSON (JSONDecodeError)"),
        (b'{"results": {}}\n{"results": {}}', "not valid JSON (JSONDecodeError)"),
        (b"\xff\xfe", "not valid JSON (JSONDecodeError)"),
        (b'["Okay"]', "expected a HealthScribe transcript or a Transcribe output, got no transcript"),
        (
            b'{"Conversation": "Okay."}',
            "expected a HealthScribe transcript or a Transcribe output, got no transcript",
        ),
        (
            (FIXTURES / "aws" / "healthscribe_clinical_document.json").read_bytes(),
            "expected a HealthScribe transcript or a Transcribe output, got a HealthScribe clinical document",
        ),
        (
            changed(lambda r: r["items"][0]["alternatives"][0].update(confidence=1.0)).replace(
                b"1.0}", b"NaN}"
            ),
            "results.items[].alternatives[].confidence holds both numbers and strings",  # NaN: Arrow reads a number
        ),
        (
            changed(lambda r: r.update(items=[])).replace(b"[]", b"[1e400]", 1),
            "a number is too big for a float64",
        ),
    ],
)
def test_bad_files_raise_with_position_and_without_content(data, message):
    assert refusal(data) == f"file 1: {message}"


def test_empty_ids_are_refused():
    for ids, name in ((("", "job-1"), "recording_id"), (("rec-1", None), "job_name")):
        with pytest.raises(ValueError, match=f"^file 0: {name} must be a non-empty string$"):
            columnar.flatten_transcripts([(*ids, b'{"results": {}}')])


@pytest.fixture
def two_arrow_threads():
    before = pa.cpu_count()
    pa.set_cpu_count(2)
    yield
    pa.set_cpu_count(before)


@pytest.mark.parametrize("cut", [10, 1000, 20000])
def test_a_truncated_file_among_others_raises_with_arrow_threads(cut, two_arrow_threads):
    """A truncated download in the middle of a batch read by two threads (Arrow 26 aborted the process on
    such a file inside one multi-block read: each thread now reads whole files)."""
    good = (FIXTURES / "engine" / "transcribe_medical_speakers.json").read_bytes()
    files = [(f"rec-{i}", f"job-{i}", good[:cut] if i == 1 else good) for i in range(4)]
    with pytest.raises(ValueError, match=r"^file 1: not valid JSON \(JSONDecodeError\)$"):
        columnar.flatten_transcripts(files, use_threads=True)
