"""Stage ``roles``: ChannelDefinitions, and the lexical rule for diarized speakers."""

from __future__ import annotations

from stage_helpers import document, sentence

from medscribe_engine.pipeline.roles import AssignRoles, lexical_score, roles_from_channels, roles_from_speech
from medscribe_engine.pipeline.segments import build_segments

CLINICIAN_LINES = [
    "How was your weekend?",
    "Tell me about your cough.",
    "Are you using your inhaler?",
    "I think this is asthma.",
    "Keep the inhaler, and we will add a daily steroid.",
]
PATIENT_LINES = [
    "It was nice.",
    "It is still there, and it gets worse at night.",
    "Yes, most nights.",
    "My mother had asthma.",
    "I feel tired since Monday.",
]


def conversation(clinician_speaker: str, patient_speaker: str, patient_first: bool = False):
    tokens, at = [], 0.0
    pairs = (
        list(zip(PATIENT_LINES, CLINICIAN_LINES, strict=True))
        if patient_first
        else list(zip(CLINICIAN_LINES, PATIENT_LINES, strict=True))
    )
    for first, second in pairs:
        for text, speaker in (
            (first, patient_speaker if patient_first else clinician_speaker),
            (second, clinician_speaker if patient_first else patient_speaker),
        ):
            tokens += sentence(text, at, speaker=speaker)
            at = tokens[-1].end + 0.5
    return build_segments("visit", tokens)


def test_the_questioner_is_the_clinician_whoever_speaks_first():
    assert roles_from_speech(conversation("spk_0", "spk_1")) == {"spk_0": "CLINICIAN_0", "spk_1": "PATIENT_0"}
    assert roles_from_speech(conversation("spk_1", "spk_0", patient_first=True)) == {
        "spk_1": "CLINICIAN_0",
        "spk_0": "PATIENT_0",
    }


def test_scores_point_the_right_way():
    segments = conversation("spk_0", "spk_1")
    clinician = [s for s in segments if s.speaker == "spk_0"]
    patient = [s for s in segments if s.speaker == "spk_1"]
    assert lexical_score(clinician) > 0 > lexical_score(patient)


def test_one_speaker_and_three_speakers():
    dictation = build_segments(
        "d", sentence("Start lisinopril. Follow up in four weeks.", 0.0, speaker="spk_0")
    )
    assert roles_from_speech(dictation) == {"spk_0": "CLINICIAN_0"}
    complaint = build_segments("c", sentence("My knee hurts and I feel dizzy.", 0.0, speaker="spk_0"))
    assert roles_from_speech(complaint) == {"spk_0": "PATIENT_0"}
    segments = conversation("spk_0", "spk_1") + build_segments(
        "x", sentence("I am her daughter, my mother is tired.", 40.0, speaker="spk_2")
    )
    roles = roles_from_speech(segments)
    assert roles["spk_0"] == "CLINICIAN_0" and sorted(roles.values()) == [
        "CLINICIAN_0",
        "PATIENT_0",
        "PATIENT_1",
    ]


def test_channel_definitions_decide_with_channel_identification():
    assert roles_from_channels(
        [{"ChannelId": 1, "ParticipantRole": "CLINICIAN"}, {"ChannelId": 0, "ParticipantRole": "PATIENT"}]
    ) == {
        "ch_0": "PATIENT_0",
        "ch_1": "CLINICIAN_0",
    }
    doc = document(
        settings={"ChannelIdentification": True},
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
    )
    # the patient asks all the questions here: channels win over words
    doc.segments = build_segments(
        "j", sentence("Yes.", 0.0, channel=0) + sentence("Do you think so? Are you sure?", 1.0, channel=1)
    )
    AssignRoles()(doc)
    assert [s.role for s in doc.segments] == ["CLINICIAN_0", "PATIENT_0", "PATIENT_0"]


# A clinician who asks no questions and a patient who does: the lexical rule alone is fooled, the
# sentence embeddings (roles_model.json, trained on ACI-Bench train) are not.
PLAIN_CLINICIAN = [
    "Your lungs are clear and your heart has a regular rhythm.",
    "The x-ray shows a small fracture of the fifth metatarsal.",
    "We will put you in a walking boot for six weeks.",
    "Take ibuprofen 600 milligrams three times a day with food.",
]
CURIOUS_PATIENT = [
    "Is it broken, do you think?",
    "Will you need to see my foot again?",
    "Can you tell me when I can run again?",
    "Should I keep your card for the follow up?",
]


def plain_visit():
    tokens, at = [], 0.0
    for clinician, patient in zip(PLAIN_CLINICIAN, CURIOUS_PATIENT, strict=True):
        for text, speaker in ((patient, "spk_0"), (clinician, "spk_1")):
            tokens += sentence(text, at, speaker=speaker)
            at = tokens[-1].end + 0.5
    return build_segments("plain", tokens)


def test_sentence_embeddings_find_the_clinician_the_words_miss(sentence_encoder):
    segments = plain_visit()
    assert roles_from_speech(segments) == {"spk_0": "CLINICIAN_0", "spk_1": "PATIENT_0"}  # lexical: wrong
    doc = document("scribe", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    doc.segments = segments
    AssignRoles(sentence_encoder)(doc)
    assert doc.roles == {"spk_1": "CLINICIAN_0", "spk_0": "PATIENT_0"}
    assert {s.role for s in doc.segments if s.speaker == "spk_1"} == {"CLINICIAN_0"}


def test_embeddings_and_words_agree_on_the_usual_visit(sentence_encoder):
    doc = document("scribe", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    doc.segments = conversation("spk_1", "spk_0", patient_first=True)
    AssignRoles(sentence_encoder)(doc)
    assert doc.roles == {"spk_1": "CLINICIAN_0", "spk_0": "PATIENT_0"}
