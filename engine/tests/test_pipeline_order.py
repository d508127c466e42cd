"""Stages declare what they read and write on the document (``requires`` / ``assigns``), and a pipeline
whose stage requires what no stage before it assigns is refused when it is built."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.pipeline import (
    INPUTS,
    PipelineOrderError,
    build_pipeline,
    check_order,
    contract,
)
from medscribe_engine.pipeline.alternatives import Alternatives
from medscribe_engine.pipeline.decode import Decode
from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.pipeline.roles import AssignRoles
from medscribe_engine.pipeline.sections import AssignSections
from medscribe_engine.pipeline.segments import Segments

# build_pipeline only wires the models into stages; none is called here (ShowAlternatives is left out:
# its n-best decoder reads the Whisper model's tokenizer when it is built)
RESOURCES = SimpleNamespace(
    whisper=object(), voice_encoder=object(), sentence_encoder=object(), clinical_nlp=object()
)
SPEAKERS = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
CHANNELS = {"ChannelIdentification": True}


@pytest.mark.parametrize(
    ("kind", "settings", "options"),
    [
        ("transcription", {}, {}),
        ("transcription", SPEAKERS, {"speech_type": "CONVERSATION"}),
        ("transcription", SPEAKERS, {"speech_type": "DICTATION"}),
        ("transcription", CHANNELS, {}),
        (
            "transcription",
            {**SPEAKERS, "VocabularyFilterMethod": "tag"},
            {
                "content_identification": "PHI",
                "vocabulary": [VocabularyEntry("lisinopril")],
                "filter_words": ["darn"],
            },
        ),
        ("scribe", SPEAKERS, {}),
        ("scribe", CHANNELS, {"vocabulary": [VocabularyEntry("metformin")], "filter_words": ["darn"]}),
    ],
)
def test_every_pipeline_the_engine_builds_is_in_order(kind, settings, options):
    stages = build_pipeline(kind, settings, RESOURCES, None, **options)
    check_order(stages)  # build_pipeline checked it too; this says so
    assigned = set(INPUTS)
    for stage in stages:
        requires, assigns = contract(stage)
        assert set(requires) <= assigned, stage.name
        assigned |= set(assigns)
    assert "doc.outputs" in assigned


@pytest.mark.parametrize(
    ("kind", "settings", "options"),
    [
        ("transcription", SPEAKERS, {"content_identification": "PHI", "filter_words": ["darn"]}),
        ("transcription", SPEAKERS, {"speech_type": "DICTATION"}),
        ("transcription", CHANNELS, {"vocabulary": [VocabularyEntry("lisinopril")]}),
        ("scribe", SPEAKERS, {"filter_words": ["darn"]}),
        ("scribe", CHANNELS, {"vocabulary": [VocabularyEntry("metformin")]}),
    ],
)
def test_every_stage_declares_what_it_reads_and_writes(kind, settings, options):
    for stage in build_pipeline(kind, settings, RESOURCES, None, **options):
        for declared in ("requires", "assigns"):
            assert declared in vars(type(stage)), f"stage {stage.name!r} does not declare {declared}"
        requires, assigns = contract(stage)
        assert requires, f"stage {stage.name!r} declares nothing it requires"
        assert assigns, f"stage {stage.name!r} declares nothing it assigns"


def test_the_alternatives_stage_declares_what_it_reads_and_writes():
    # left out of the pipelines above: its n-best decoder needs a real Whisper model to be built
    assert contract(Alternatives(None, 2)) == (("doc.audio", "doc.tokens"), ("doc.alternative_segments",))


def test_a_misordered_pipeline_is_refused():
    with pytest.raises(PipelineOrderError, match=r"stage 'roles' requires doc\.segments"):
        check_order([Decode(None), AssignRoles(), Segments()])


def test_a_stage_whose_input_no_stage_makes_is_refused():
    encoder = object()
    with pytest.raises(PipelineOrderError, match=r"stage 'sections' requires segment\.role"):
        check_order([Segments(), AssignSections(encoder)], inputs=(*INPUTS, "doc.tokens"))
    with pytest.raises(PipelineOrderError, match=r"stage 'segments' requires doc\.tokens"):
        check_order([Decode(None), Segments()])
