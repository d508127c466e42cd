"""Stage ``segments``: utterance boundaries and deterministic segment ids."""

from __future__ import annotations

import uuid

from stage_helpers import document, sentence, word

from medscribe_engine.pipeline.segments import Segments, build_segments, segment_id


def test_utterances_split_at_sentence_ends_pauses_and_speaker_changes():
    tokens = (
        sentence("Good morning. What brings you in?", 0.0, speaker="spk_0")
        + sentence("My knee hurts", 2.5, speaker="spk_1")
        + sentence("since Monday.", 5.0, speaker="spk_1")  # 1.65 s pause: a new utterance
        + sentence("I see", 6.0, speaker="spk_0")
    )
    segments = build_segments("visit-1", tokens)
    assert [s.content for s in segments] == [
        "Good morning.",
        "What brings you in?",
        "My knee hurts",
        "since Monday.",
        "I see",
    ]
    assert [s.speaker for s in segments] == ["spk_0", "spk_0", "spk_1", "spk_1", "spk_0"]
    assert segments[2].start == 2.5 and segments[2].end == tokens[-6].end
    assert [s.index for s in segments] == list(range(5))


def test_segment_ids_are_uuid_shaped_and_deterministic():
    first = segment_id("visit-1", 3)
    assert str(uuid.UUID(first)) == first
    assert first == segment_id("visit-1", 3)
    assert first != segment_id("visit-1", 4) and first != segment_id("visit-2", 3)


def test_stage_fills_the_document():
    doc = document()
    doc.tokens = sentence("Hello there.", 0.0, channel=0) + sentence("Hi.", 1.0, channel=1)
    Segments()(doc)
    assert [(s.content, s.source) for s in doc.segments] == [("Hello there.", "ch_0"), ("Hi.", "ch_1")]
    assert doc.segments[0].segment_id == segment_id("job-under-test", 0)


def test_punctuation_only_runs_make_no_segment():
    from stage_helpers import mark

    assert build_segments("j", [mark(".", 0.0)]) == []
    assert len(build_segments("j", [word("ok", 0.0, 0.2), mark(".", 0.2), mark(".", 0.2)])) == 1
