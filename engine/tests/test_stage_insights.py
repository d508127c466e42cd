"""Stage ``insights``: ClinicalInsights from fixed segments, with the real vocabularies and ConText."""

from __future__ import annotations

import uuid

from stage_helpers import document, sentence

from medscribe_engine.pipeline.insights import ClinicalInsights
from medscribe_engine.pipeline.roles import AssignRoles
from medscribe_engine.pipeline.segments import Segments


def visit(*lines: tuple[int, str]):
    """A two-channel HealthScribe document (channel 0 clinician) through segments and roles."""
    doc = document(
        "scribe",
        {"ChannelIdentification": True},
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
    )
    at = 0.0
    for channel, text in lines:
        doc.tokens += sentence(text, at, channel=channel)
        at = doc.tokens[-1].end + 1.5
    Segments()(doc)
    AssignRoles()(doc)
    return doc


def run(clinical_nlp, *lines):
    doc = visit(*lines)
    ClinicalInsights(clinical_nlp)(doc)
    return doc


def by_content(doc) -> dict[str, dict]:
    return {insight["Spans"][0]["Content"].lower(): insight for insight in doc.insights}


def trait_names(insight) -> set[str]:
    return {trait["Name"] for trait in insight["Traits"]}


def test_a_named_drug_with_its_dose_frequency_and_route(clinical_nlp):
    doc = run(clinical_nlp, (0, "Start lisinopril 10 milligrams by mouth once a day."))
    (segment,) = doc.segments
    assert segment.content == "Start lisinopril 10 milligrams by mouth once a day."
    (insight,) = [i for i in doc.insights if i["Category"] == "MEDICATION"]
    assert insight["InsightType"] == "ClinicalEntity" and insight["Type"] == "GENERIC_NAME"
    # AWS's offsets: into the segment's Content, end-inclusive
    assert insight["Spans"] == [
        {
            "SegmentId": segment.segment_id,
            "BeginCharacterOffset": 6,
            "EndCharacterOffset": 15,
            "Content": "lisinopril",
        }
    ]
    attributes = {a["Type"]: a["Spans"][0] for a in insight["Attributes"]}
    assert attributes["DOSAGE"] == {
        "SegmentId": segment.segment_id,
        "BeginCharacterOffset": 17,
        "EndCharacterOffset": 29,
        "Content": "10 milligrams",
    }
    assert attributes["ROUTE_OR_MODE"]["Content"] == "by mouth"
    assert attributes["FREQUENCY"]["Content"] == "once a day"
    for span in [insight["Spans"][0], *attributes.values()]:
        begin, end = span["BeginCharacterOffset"], span["EndCharacterOffset"]
        assert segment.content[begin : end + 1] == span["Content"]
    uuid.UUID(insight["InsightId"])
    assert len({a["AttributeId"] for a in insight["Attributes"]}) == 3


def test_denied_chest_pain_is_never_asserted(clinical_nlp):
    doc = run(
        clinical_nlp,
        (1, "I deny any chest pain."),
        (0, "The patient denies chest pain and has no fever."),
    )
    chest = [i for i in doc.insights if i["Spans"][0]["Content"].lower() == "chest pain"]
    assert len(chest) == 2
    for insight in chest:
        assert insight["Category"] == "MEDICAL_CONDITION" and insight["Type"] == "DX_NAME"
        assert "NEGATION" in trait_names(insight)
    (fever,) = [i for i in doc.insights if i["Spans"][0]["Content"] == "fever"]
    assert "NEGATION" in trait_names(fever)


def test_a_question_answered_no_negates_what_was_asked(clinical_nlp):
    doc = run(
        clinical_nlp,
        (0, "Any chest pain or shortness of breath?"),
        (1, "No."),
        (0, "Do you have a cough?"),
        (1, "Yes, a bad cough."),
    )
    found = [(i["Spans"][0]["Content"].lower(), "NEGATION" in trait_names(i)) for i in doc.insights]
    assert ("chest pain", True) in found and ("shortness of breath", True) in found
    assert found.count(("cough", False)) == 2  # answered yes: asserted, in the question and the answer
    assert ("chest pain", False) not in found


def test_conditions_of_the_family_and_symptoms(clinical_nlp):
    doc = run(clinical_nlp, (1, "My mother has diabetes."), (1, "I have had a headache for three days."))
    insights = by_content(doc)
    assert {"PERTAINS_TO_FAMILY", "DIAGNOSIS"} <= trait_names(insights["diabetes"])
    assert "NEGATION" not in trait_names(insights["diabetes"])
    assert insights["headache"]["Category"] == "MEDICAL_CONDITION"
    assert trait_names(insights["headache"]) == {"SYMPTOM"}


def test_a_test_with_its_value_and_anatomy(clinical_nlp):
    doc = run(clinical_nlp, (0, "Your blood pressure is 120 over 80, and your knee looks swollen."))
    insights = by_content(doc)
    pressure = insights["blood pressure"]
    assert (pressure["Category"], pressure["Type"]) == ("TEST_TREATMENT_PROCEDURE", "TEST_NAME")
    (value,) = pressure["Attributes"]
    assert value["Type"] == "TEST_VALUE" and value["Spans"][0]["Content"] == "120 over 80"
    assert (insights["knee"]["Category"], insights["knee"]["Type"]) == ("ANATOMY", "SYSTEM_ORGAN_SITE")


def test_small_talk_has_no_insights_and_ids_are_stable(clinical_nlp):
    assert run(clinical_nlp, (0, "Good morning, how was the drive in?"), (1, "Fine, thanks.")).insights == []
    lines = ((0, "We will increase your metformin to 1000 milligrams twice a day."),)
    first, second = run(clinical_nlp, *lines), run(clinical_nlp, *lines)
    assert first.insights == second.insights and first.insights[0]["Spans"][0]["Content"] == "metformin"


def test_the_transcript_file_carries_insights_and_sections(clinical_nlp):
    from medscribe_engine.pipeline.writers import healthscribe_transcript_json

    doc = run(clinical_nlp, (1, "I take aspirin 81 mg every day."))
    doc.segments[0].section = "SUBJECTIVE"
    conversation = healthscribe_transcript_json(doc)["Conversation"]
    (segment,) = conversation["TranscriptSegments"]
    assert segment["SectionDetails"] == {"SectionName": "SUBJECTIVE"}
    (insight,) = conversation["ClinicalInsights"]
    assert insight["Spans"][0] == {
        "SegmentId": segment["SegmentId"],
        "BeginCharacterOffset": 7,
        "EndCharacterOffset": 13,
        "Content": "aspirin",
    }
    assert [(a["Type"], a["Spans"][0]["Content"]) for a in insight["Attributes"]] == [
        ("DOSAGE", "81 mg"),
        ("FREQUENCY", "every day"),
    ]
