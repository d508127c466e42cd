"""Stages ``notes`` and ``summary``: the clinical document built from fixed segments, and written."""

from __future__ import annotations

import json
import re

import pytest
from stage_helpers import document, sentence

from medscribe_engine.pipeline.document import JobFailed
from medscribe_engine.pipeline.notes import (
    TEMPLATES,
    BuildClinicalDocument,
    NoteBuilder,
    WriteClinicalDocument,
    clinical_document_key,
    render_text,
    section_names,
)
from medscribe_engine.pipeline.notes.guards import asserted_negations, unsupported_words
from medscribe_engine.pipeline.notes.rewrite import PRONOUNS, rewrite
from medscribe_engine.pipeline.segments import build_segments

pytest.importorskip("pysbd", reason="needs the engine environment (.venv-engine)")

VISIT = [
    ("CLINICIAN_0", "Good morning. What brings you in today?"),
    ("PATIENT_0", "I have had a bad cough for two weeks and my chest feels tight at night."),
    ("CLINICIAN_0", "Do you have any chest pain?"),
    ("PATIENT_0", "No."),
    ("CLINICIAN_0", "Any fever or chills?"),
    ("PATIENT_0", "Yes."),
    ("PATIENT_0", "I don't have any chest pain when I walk, and I do not smoke."),
    ("CLINICIAN_0", "The patient denies chest pain."),
    ("PATIENT_0", "My mother had asthma when she was young."),
    ("CLINICIAN_0", "On exam your lungs have some wheezing on the right side."),
    ("CLINICIAN_0", "Your chest x-ray showed no pneumonia."),
    ("CLINICIAN_0", "I think you have acute bronchitis."),
    ("CLINICIAN_0", "I want you to start an albuterol inhaler and follow up in two weeks."),
    ("PATIENT_0", "Okay, that sounds good, I will use the inhaler."),
]
SMALL_TALK = [
    ("CLINICIAN_0", "Hello. How was your weekend?"),
    ("PATIENT_0", "Good."),
    ("CLINICIAN_0", "Nice. Okay."),
    ("PATIENT_0", "Yeah, thanks."),
]


def segments_of(turns):
    """Segments of the turns (cut at sentence ends, as the engine cuts them), with their roles."""
    tokens, at = [], 0.0
    for role, text in turns:
        tokens += sentence(text, at, speaker=role)
        at = tokens[-1].end + 1.5
    segments = build_segments("visit", tokens)
    for segment in segments:
        segment.role = segment.speaker
    return segments


def sentences_of(note: dict) -> list[tuple[str, str, list[str]]]:
    return [
        (
            section["SectionName"],
            item["SummarizedSegment"],
            [link["SegmentId"] for link in item["EvidenceLinks"]],
        )
        for section in note["Sections"]
        for item in section["Summary"]
    ]


def test_history_and_physical_sections_and_evidence():
    segments = segments_of(VISIT)
    note = NoteBuilder(pronouns="SHE_HER").build(segments)
    assert [s["SectionName"] for s in note["Sections"]] == section_names("HISTORY_AND_PHYSICAL")
    by_id = {s.segment_id: s for s in segments}
    written = sentences_of(note)
    assert len(written) >= 8
    for section, text, evidence in written:
        assert evidence and all(sid in by_id for sid in evidence), (section, text)
        assert not unsupported_words(text, [by_id[sid].content for sid in evidence]), text
    sections = {
        section: [t for s, t, _ in written if s == section]
        for section in section_names("HISTORY_AND_PHYSICAL")
    }
    assert (
        "She has had a bad cough for 2 weeks and her chest feels tight at night."
        in sections["HISTORY_OF_PRESENT_ILLNESS"]
    )
    assert "She denies chest pain." in sections["REVIEW_OF_SYSTEMS"]
    assert "She reports fever or chills." in sections["REVIEW_OF_SYSTEMS"]
    assert "Her mother had asthma when she was young." in sections["PAST_FAMILY_HISTORY"]
    assert "On exam her lungs have some wheezing on the right side." in sections["PHYSICAL_EXAMINATION"]
    assert "Her chest x-ray showed no pneumonia." in sections["DIAGNOSTIC_TESTING"]
    assert "I think she has acute bronchitis." in sections["ASSESSMENT"]
    assert "I want her to start an albuterol inhaler and follow up in 2 weeks." in sections["PLAN"]
    # questions are never written as findings; the evidence of a Q/A sentence is the question and answer
    assert not any(t.endswith("?") for _, t, _ in written)
    denies = next(e for _, t, e in written if t == "She denies chest pain.")
    assert [by_id[sid].content for sid in denies] == ["Do you have any chest pain?", "No."]


def test_negation_is_kept_and_never_asserted():
    segments = segments_of(VISIT)
    note = NoteBuilder(pronouns="HE_HIM").build(segments)
    texts = [t for _, t, _ in sentences_of(note)]
    assert "The patient denies chest pain." in texts
    assert "He does not have any chest pain when he walks, and he does not smoke." in texts
    for text in texts:
        for match in re.finditer(r"chest pain", text.lower()):
            before = text.lower()[: match.start()].split()[-6:]
            assert {"no", "not", "denies", "deny"} & set(before), text
    assert (
        rewrite("the patient denies chest pain.", "CLINICIAN", PRONOUNS["HE_HIM"])
        == "The patient denies chest pain."
    )
    assert (
        rewrite("No, I don't have chest pain.", "PATIENT", PRONOUNS["THEY_THEM"])
        == "No, they do not have chest pain."
    )
    # the check the builder applies: "chest pain" stated plainly against evidence that negates it
    assert asserted_negations(
        "He has chest pain.", [("CLINICIAN", "Any chest pain?"), ("PATIENT", "No.")]
    ) == [
        "chest",
        "pain",
    ]
    assert asserted_negations("He has chest pain.", [("PATIENT", "I deny chest pain.")]) == ["chest", "pain"]
    assert asserted_negations("He denies chest pain.", [("PATIENT", "I deny chest pain.")]) == []


def test_negated_insight_drops_an_ambiguous_sentence():
    turns = [("PATIENT_0", "Chest pain, I never had that kind of thing with my heart before.")]
    segments = segments_of(turns)
    plain = NoteBuilder(pronouns="HE_HIM").build(segments)
    assert any("Chest pain" in t for _, t, _ in sentences_of(plain))
    insight = {
        "InsightId": "i1",
        "InsightType": "ClinicalEntity",
        "Category": "MEDICAL_CONDITION",
        "Type": "DX_NAME",
        "Spans": [
            {
                "SegmentId": segments[0].segment_id,
                "BeginCharacterOffset": 0,
                "EndCharacterOffset": 9,
                "Content": "Chest pain",
            }
        ],
        "Attributes": [],
        "Traits": [{"Name": "NEGATION", "Score": 0.9}],
    }
    guarded = NoteBuilder(pronouns="HE_HIM").build(segments, [insight])
    assert not any("chest pain" in t.lower() for _, t, _ in sentences_of(guarded))


@pytest.mark.parametrize(
    ("pronouns", "expected"),
    [
        ("HE_HIM", "He has had a bad cough for 2 weeks and his chest feels tight at night."),
        ("SHE_HER", "She has had a bad cough for 2 weeks and her chest feels tight at night."),
        ("THEY_THEM", "They have had a bad cough for 2 weeks and their chest feels tight at night."),
        (None, "They have had a bad cough for 2 weeks and their chest feels tight at night."),
    ],
)
def test_pronouns(pronouns, expected):
    note = NoteBuilder(pronouns=pronouns).build(segments_of(VISIT))
    texts = [t for _, t, _ in sentences_of(note)]
    assert expected in texts
    patient_sentences = [
        t for s, t, _ in sentences_of(note) if s in {"HISTORY_OF_PRESENT_ILLNESS", "PAST_FAMILY_HISTORY"}
    ]
    assert not any(re.search(r"\b(I|my|me)\b", t) for t in patient_sentences)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_each_template_returns_only_its_own_sections(template):
    note = NoteBuilder(template, "HE_HIM").build(segments_of(VISIT))
    names = [s["SectionName"] for s in note["Sections"]]
    assert names == section_names(template)
    expected = {
        "HISTORY_AND_PHYSICAL": {"CHIEF_COMPLAINT", "HISTORY_OF_PRESENT_ILLNESS", "REVIEW_OF_SYSTEMS",
                                 "PAST_MEDICAL_HISTORY", "PAST_FAMILY_HISTORY", "PAST_SOCIAL_HISTORY",
                                 "PHYSICAL_EXAMINATION", "DIAGNOSTIC_TESTING", "ASSESSMENT", "PLAN"},
        "GIRPP": {"GOAL", "INTERVENTION", "RESPONSE", "PROGRESS", "PLAN"},
        "BIRP": {"BEHAVIOR", "INTERVENTION", "RESPONSE", "PLAN"},
        "SIRP": {"SITUATION", "INTERVENTION", "RESPONSE", "PLAN"},
        "DAP": {"DATA", "ASSESSMENT", "PLAN"},
        "BEHAVIORAL_SOAP": {"SUBJECTIVE", "OBJECTIVE", "ASSESSMENT", "PLAN"},
        "PHYSICAL_SOAP": {"SUBJECTIVE", "OBJECTIVE", "ASSESSMENT", "PLAN"},
    }[template]  # fmt: skip
    assert set(names) == expected
    plan = next(s for s in note["Sections"] if s["SectionName"] == "PLAN")
    assert [i["SummarizedSegment"] for i in plan["Summary"]] == [
        "I want him to start an albuterol inhaler and follow up in 2 weeks."
    ]
    assert sum(len(s["Summary"]) for s in note["Sections"]) >= 3
    if template in {"GIRPP", "BIRP", "SIRP"}:
        response = next(s for s in note["Sections"] if s["SectionName"] == "RESPONSE")
        assert [i["SummarizedSegment"] for i in response["Summary"]] == [
            "That sounds good, he will use the inhaler."
        ]


def test_small_talk_and_nothing_give_empty_sections():
    for segments in (segments_of(SMALL_TALK), []):
        note = NoteBuilder().build(segments)
        assert [s["SectionName"] for s in note["Sections"]] == section_names("HISTORY_AND_PHYSICAL")
        assert all(s["Summary"] == [] for s in note["Sections"])
        assert render_text(note) == ""


def test_sections_marked_other_are_not_used():
    segments = segments_of(VISIT)
    for segment in segments:
        segment.section = "OTHER"
    assert all(s["Summary"] == [] for s in NoteBuilder().build(segments)["Sections"])


def test_unknown_template_is_refused():
    with pytest.raises(ValueError, match="NoteTemplate"):
        NoteBuilder("SOAP")


class RecordingS3:
    def __init__(self, fail: bool = False):
        self.objects, self.fail = {}, fail

    def put_object(self, Bucket, Key, Body, ContentType, **encryption):
        if self.fail:
            raise RuntimeError(f"NoSuchBucket {Bucket}/{Key}")
        self.objects[(Bucket, Key)] = (json.loads(Body), encryption)


def test_stages_read_the_request_and_write_summary_json(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9999")
    doc = document(
        settings={"ChannelIdentification": True, "ClinicalNoteGenerationSettings": {"NoteTemplate": "DAP"}},
        MedicalScribeContext={"PatientContext": {"Pronouns": "SHE_HER"}},
        OutputEncryptionKMSKeyId="alias/notes",
    )
    doc.segments = segments_of(VISIT)
    BuildClinicalDocument()(doc)
    assert [s["SectionName"] for s in doc.clinical_document["Sections"]] == ["DATA", "ASSESSMENT", "PLAN"]
    assert "She denies chest pain." in render_text(doc.clinical_document)
    s3 = RecordingS3()
    WriteClinicalDocument(s3)(doc)
    assert clinical_document_key("job-under-test") == "job-under-test/summary.json"
    assert doc.outputs["clinical_document"] == "http://127.0.0.1:9999/out-bucket/job-under-test/summary.json"
    written, encryption = s3.objects[("out-bucket", "job-under-test/summary.json")]
    assert written == {"ClinicalDocumentation": doc.clinical_document}
    assert encryption == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/notes"}
    with pytest.raises(JobFailed) as excinfo:
        WriteClinicalDocument(RecordingS3(fail=True))(doc)
    assert "job-under-test" not in excinfo.value.reason


def test_default_template_and_pronouns():
    doc = document(settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    doc.segments = segments_of(VISIT)
    BuildClinicalDocument()(doc)
    assert [s["SectionName"] for s in doc.clinical_document["Sections"]] == section_names(
        "HISTORY_AND_PHYSICAL"
    )
    assert "They deny chest pain." in render_text(doc.clinical_document)


def test_a_partial_no_denies_only_what_was_denied():
    turns = [
        ("CLINICIAN_0", "Do you have any chest pain or shortness of breath?"),
        ("PATIENT_0", "No chest pain. I do get winded on the stairs."),
        ("CLINICIAN_0", "Are you still taking your metformin?"),
        ("PATIENT_0", "Yes."),
    ]
    texts = [t for _, t, _ in sentences_of(NoteBuilder(pronouns="HE_HIM").build(segments_of(turns)))]
    assert "He denies chest pain." in texts
    assert "He is still taking his metformin." in texts
    assert not any("shortness of breath" in t for t in texts)
