"""Stage ``sections``: SectionDetails of a fixed visit, with the real sentence encoder and shipped model."""

from __future__ import annotations

from stage_helpers import document, sentence

from medscribe_engine.pipeline.insights import ClinicalInsights
from medscribe_engine.pipeline.roles import AssignRoles
from medscribe_engine.pipeline.sections import SECTION_NAMES, AssignSections, SectionModel
from medscribe_engine.pipeline.segments import Segments

VISIT = [
    ("spk_0", "Good morning, nice to see you again."),
    ("spk_1", "Good morning doctor."),
    ("spk_0", "Did you watch the football game last night?"),
    ("spk_0", "So what brings you in today?"),
    ("spk_1", "I have had a cough and a fever for three days."),
    ("spk_1", "I also feel really tired and my chest hurts when I cough."),
    ("spk_0", "Okay, let me take a listen to your lungs."),
    ("spk_0", "Your temperature is one hundred and one, and I hear crackles in the right lower lobe."),
    ("spk_0", "Your oxygen saturation is ninety four percent."),
    ("spk_0", "I am going to prescribe amoxicillin 500 mg three times a day for ten days."),
    ("spk_1", "Okay."),
]


def sectioned(sentence_encoder, clinical_nlp):
    doc = document("scribe", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    at = 0.0
    for speaker, text in VISIT:
        doc.tokens += sentence(text, at, speaker=speaker)
        at = doc.tokens[-1].end + 1.5
    Segments()(doc)
    AssignRoles(sentence_encoder)(doc)
    ClinicalInsights(clinical_nlp)(doc)
    AssignSections(sentence_encoder)(doc)
    return doc


def test_a_visit_moves_through_its_sections(sentence_encoder, clinical_nlp):
    doc = sectioned(sentence_encoder, clinical_nlp)
    sections = {segment.content: segment.section for segment in doc.segments}
    assert len(sections) == len(VISIT)
    assert set(sections.values()) <= set(SECTION_NAMES)
    assert sections["Good morning, nice to see you again."] == "VISIT_FLOW_MANAGEMENT"
    assert sections["Did you watch the football game last night?"] == "OTHER"
    assert sections["I have had a cough and a fever for three days."] == "SUBJECTIVE"
    assert sections["Okay, let me take a listen to your lungs."] == "VISIT_FLOW_MANAGEMENT"
    assert sections["Your oxygen saturation is ninety four percent."] == "OBJECTIVE"
    assert (
        sections["I am going to prescribe amoxicillin 500 mg three times a day for ten days."]
        == "ASSESSMENT_AND_PLAN"
    )
    # an acknowledgement takes the section of what it answers
    assert sections["Okay."] == "ASSESSMENT_AND_PLAN"


def test_the_shipped_model_speaks_healthscribe_section_names():
    model = SectionModel()
    assert sorted(model.classes) == sorted(SECTION_NAMES)
    assert model.coef.shape == (5, 384 + 3)


def test_no_segments_no_sections(sentence_encoder):
    doc = document("scribe", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    AssignSections(sentence_encoder)(doc)
    assert doc.segments == []
