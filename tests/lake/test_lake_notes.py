"""The clinical document's note sentences and evidence links on AWS's published example: golden values,
schemas, the reviewed note's source, streaming sessions, missing and unknown parts, other documents refused."""

from __future__ import annotations

import pytest

from medscribe.lake.parse import healthscribe_clinical_document_tables
from medscribe.lake.schemas import TABLES
from tests.lake.conftest import IDS, rows


@pytest.fixture
def hs_document(load_aws) -> dict:
    return load_aws("healthscribe_clinical_document.json")


def test_note_tables_have_the_declared_schemas(hs_document):
    tables = healthscribe_clinical_document_tables(hs_document, **IDS, note_template="HISTORY_AND_PHYSICAL")
    assert set(tables) == {"note_sentences", "note_evidence"}
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name], check_metadata=True)


def test_note_sentences_golden(hs_document):
    sentences = healthscribe_clinical_document_tables(
        hs_document, **IDS, note_template="HISTORY_AND_PHYSICAL"
    )["note_sentences"]
    assert rows(sentences, "section_index", "section_name", "sentence_index") == [
        (0, "CHIEF_COMPLAINT", 0),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 0),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 1),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 2),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 3),
        (2, "REVIEW_OF_SYSTEMS", 0),
        (2, "REVIEW_OF_SYSTEMS", 1),
        (3, "PAST_MEDICAL_HISTORY", 0),
        (3, "PAST_MEDICAL_HISTORY", 1),
        (4, "ASSESSMENT", 0),
        (5, "PLAN", 0),
    ]
    texts = sentences["text"].to_pylist()
    assert texts[0] == "Weight loss."
    assert texts[4] == "The patient is taking phentermine and would like to continue."
    assert texts[9] == "Weight loss"
    assert set(sentences["note_template"].to_pylist()) == {"HISTORY_AND_PHYSICAL"}
    assert set(sentences["job_name"].to_pylist()) == {"job-1"}
    assert set(sentences["source"].to_pylist()) == {"service"}


def test_a_reviewed_note_is_flattened_with_its_source(hs_document):
    reviewed = healthscribe_clinical_document_tables(hs_document, **IDS, source="reviewed")["note_sentences"]
    assert set(reviewed["source"].to_pylist()) == {"reviewed"} and reviewed.num_rows == 11
    with pytest.raises(ValueError, match="source must be one of"):
        healthscribe_clinical_document_tables(hs_document, **IDS, source="edited")


def test_note_evidence_golden(hs_document):
    evidence = healthscribe_clinical_document_tables(hs_document, **IDS)["note_evidence"]
    assert evidence.num_rows == 34
    assert rows(evidence, "section_name", "section_index", "sentence_index", "evidence_index", "segment_id")[
        :8
    ] == [
        ("CHIEF_COMPLAINT", 0, 0, 0, "uuid1"),
        ("CHIEF_COMPLAINT", 0, 0, 1, "uuid2"),
        ("CHIEF_COMPLAINT", 0, 0, 2, "uuid3"),
        ("CHIEF_COMPLAINT", 0, 0, 3, "uuid4"),
        ("CHIEF_COMPLAINT", 0, 0, 4, "uuid5"),
        ("CHIEF_COMPLAINT", 0, 0, 5, "uuid6"),
        ("HISTORY_OF_PRESENT_ILLNESS", 1, 0, 0, "uuid7"),
        ("HISTORY_OF_PRESENT_ILLNESS", 1, 0, 1, "uuid8"),
    ]
    assert evidence["segment_id"].to_pylist()[-1] == "uuid34"
    assert [
        r for r in rows(evidence, "section_name", "sentence_index", "segment_id") if r[2] == "uuid20"
    ] == [("HISTORY_OF_PRESENT_ILLNESS", 3, "uuid20")]


def test_note_template_unknown_is_null(hs_document):
    sentences = healthscribe_clinical_document_tables(hs_document, **IDS)["note_sentences"]
    assert sentences["note_template"].null_count == sentences.num_rows == 11


def test_streaming_clinical_document_with_session_id(hs_document):
    hs_document["ClinicalDocumentation"]["SessionId"] = "session-1"
    tables = healthscribe_clinical_document_tables(hs_document, recording_id="rec-1", job_name="session-1")
    assert tables["note_sentences"].num_rows == 11 and tables["note_evidence"].num_rows == 34


def test_clinical_document_tolerates_missing_and_unknown_parts(hs_document):
    sections = hs_document["ClinicalDocumentation"]["Sections"]
    del sections[0]["Summary"][0]["EvidenceLinks"]
    sections[1]["Summary"][0]["Confidence"] = 0.9  # unknown field: ignored
    sections.append({"SectionName": "DIAGNOSTIC_TESTING"})  # section without Summary: no rows
    tables = healthscribe_clinical_document_tables(hs_document, **IDS)
    assert tables["note_sentences"].num_rows == 11
    assert tables["note_evidence"].num_rows == 28


@pytest.mark.parametrize("name", ["healthscribe_transcript.json", "transcribe_medical_speaker_labels.json"])
def test_clinical_document_parser_rejects_other_documents(load_aws, name):
    with pytest.raises(ValueError, match="expected a HealthScribe clinical document"):
        healthscribe_clinical_document_tables(load_aws(name), **IDS)
