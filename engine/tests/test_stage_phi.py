"""Stage ``phi``: PHI entities found in fixed tokens (names, ages, dates, phones, ids, addresses)."""

from __future__ import annotations

import pytest
from stage_helpers import document, sentence

pytest.importorskip("names", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.pipeline.phi import IdentifyPhi, census_names, detect


def found(tokens) -> list[tuple[str, str, str]]:
    return [(e.kind, e.category, e.content) for e in detect(tokens)]


def test_census_names_come_from_the_package_lists():
    known = census_names()
    assert {"brian", "white", "thompson", "logan", "walker"} <= known
    assert "lisinopril" not in known and "the" not in known


def test_names_after_titles_and_introductions_and_in_the_middle_of_sentences():
    tokens = (
        sentence("Hi Mr. White, how are you today?", 0.0)
        + sentence("My name is Brian White.", 3.0)
        + sentence("Doctor Thompson will see you now.", 6.0)
        + sentence("So Logan, tell me about the pain.", 9.0)
    )
    assert found(tokens) == [
        ("NAME", "PHI-Personal", "White"),
        ("NAME", "PHI-Personal", "Brian White"),
        ("NAME", "PHI-Personal", "Thompson"),
        ("NAME", "PHI-Personal", "Logan"),
    ]


def test_common_words_months_and_sentence_starts_are_not_names():
    tokens = (
        sentence("Will you bring the white pills in May?", 0.0)
        + sentence("I will. So the rash is better, it was a long week.", 4.0)
        + sentence("Okay, my wife will drive.", 8.0)
    )
    assert found(tokens) == []


def test_a_sentence_initial_first_name_counts_unless_the_transcript_writes_it_in_lower_case():
    assert found(sentence("Mark the date.", 0.0)) == [("NAME", "PHI-Personal", "Mark")]
    assert found(sentence("Mark the date. I will mark it.", 0.0)) == []


def test_ages_dates_phone_numbers_and_ids():
    tokens = (
        sentence("I'm 54 and my daughter is a 23-year-old nurse.", 0.0)
        + sentence("I was born on March 3rd, 1970.", 4.0)
        + sentence("Call me at 555-123-4567, my member number is AB123456.", 7.0)
        + sentence("My social is 123-45-6789.", 11.0)
    )
    assert found(tokens) == [
        ("AGE", "PHI-Personal", "54"),
        ("AGE", "PHI-Personal", "23-year-old"),
        ("DATE", "PHI-Personal", "March 3rd 1970"),
        ("PHONE", "PHI-Personal", "555-123-4567"),
        ("ID", "PHI-Account", "AB123456"),
        ("ID", "PHI-Account", "123-45-6789"),
    ]


def test_addresses_emails_and_clinical_numbers_that_are_not_phi():
    tokens = sentence("I live at 12 Oak Street, email brian@example.com.", 0.0) + sentence(
        "Blood pressure 120 over 80, take 10 milligrams for 2 weeks, I'm 5 minutes late.", 4.0
    )
    assert found(tokens) == [
        ("ADDRESS", "PHI-Geographic", "12 Oak Street"),
        ("EMAIL", "PHI-Personal", "brian@example.com"),
    ]


def test_entity_times_and_confidence_come_from_its_words():
    tokens = sentence("My name is Brian White.", 1.0, step=0.5)
    tokens[3].confidence, tokens[4].confidence = 0.8, 0.6
    (entity,) = detect(tokens)
    assert (entity.start, entity.end) == (tokens[3].start, tokens[4].end)
    assert entity.confidence == 0.6
    assert (entity.first, entity.last) == (3, 4)


def test_a_name_does_not_run_across_speakers():
    tokens = sentence("Thank you Brian", 0.0, speaker="spk_0")
    tokens += sentence("White pills?", 1.0, speaker="spk_1")
    assert found(tokens) == [("NAME", "PHI-Personal", "Brian")]


def test_stage_sets_the_entities_on_the_document():
    doc = document("transcription")
    doc.tokens = sentence("Mrs. Walker is 62 years old.", 0.0)
    IdentifyPhi()(doc)
    assert [(e.kind, e.content) for e in doc.phi_entities] == [("NAME", "Walker"), ("AGE", "62")]
    empty = document("transcription")
    IdentifyPhi()(empty)
    assert empty.phi_entities == []


def test_transcribe_medical_file_carries_the_entities_like_aws_example():
    from medscribe_engine.pipeline.writers import transcribe_medical_json

    doc = document("transcription")
    doc.tokens = sentence("The patient's name is Bertrand.", 0.0, step=0.25)
    doc.tokens[4].confidence = 0.9989
    IdentifyPhi()(doc)
    results = transcribe_medical_json(doc)["results"]
    assert results["entities"] == [
        {
            "content": "Bertrand",
            "category": "PHI-Personal",
            "startTime": 1.0,
            "endTime": 1.2,
            "confidence": 0.9989,
        }
    ]
    without = document("transcription")
    without.tokens = doc.tokens
    assert "entities" not in transcribe_medical_json(without)["results"]
