"""Stage ``one_speaker`` (Type=DICTATION with ShowSpeakerLabels) and build_pipeline's choice of it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")

from stage_helpers import document, sentence

from medscribe_engine.pipeline import build_pipeline
from medscribe_engine.pipeline.diarize import OneSpeaker
from medscribe_engine.pipeline.writers import transcribe_medical_json

SPEAKERS = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 3}
# build_pipeline only wires the models into stages; none is called here
RESOURCES = SimpleNamespace(whisper=object(), voice_encoder=object())


def test_every_token_is_spk_0_and_the_transcript_has_one_speaker():
    doc = document("transcription", SPEAKERS, Type="DICTATION")
    doc.tokens = sentence("Start lisinopril ten milligrams.", 0.0) + sentence("Recheck in two weeks.", 3.0)
    doc.tokens[0].speaker = "spk_1"  # nothing said before survives
    OneSpeaker()(doc)
    assert {token.speaker for token in doc.tokens} == {"spk_0"}
    labels = transcribe_medical_json(doc)["results"]["speaker_labels"]
    assert labels["speakers"] == 1
    items = [item for segment in labels["segments"] for item in segment["items"]]
    assert [item["speaker_label"] for item in items] == ["spk_0"] * 8


def stages_for(settings: dict, speech_type: str) -> list[str]:
    stages = build_pipeline("transcription", settings, RESOURCES, None, speech_type=speech_type)
    return [stage.name for stage in stages]


def test_dictation_builds_no_diarization_and_conversation_does():
    dictation, conversation = stages_for(SPEAKERS, "DICTATION"), stages_for(SPEAKERS, "CONVERSATION")
    assert "one_speaker" in dictation and "diarize" not in dictation
    assert "diarize" in conversation and "one_speaker" not in conversation
    assert [name for name in dictation if name != "one_speaker"] == [
        name for name in conversation if name != "diarize"
    ]
    without_labels = stages_for({}, "DICTATION")
    assert "one_speaker" not in without_labels and "diarize" not in without_labels
