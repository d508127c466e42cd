"""Stage ``channels``: merging two channels' tokens in time order."""

from __future__ import annotations

from medscribe.engine.pipeline.channels import merge_channels
from medscribe.engine.pipeline.document import join_tokens
from stage_helpers import sentence


def test_channels_interleave_by_word_start_and_keep_punctuation_with_its_word():
    clinician = sentence("How are you?", 0.0, channel=0) + sentence("Good.", 3.0, channel=0)
    patient = sentence("Fine, thanks.", 1.2, channel=1)
    merged = merge_channels([clinician, patient])
    assert join_tokens(merged) == "How are you? Fine, thanks. Good."
    assert [t.channel for t in merged] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    starts = [t.start for t in merged if t.is_word]
    assert starts == sorted(starts)


def test_overlapping_speech_is_ordered_word_by_word():
    merged = merge_channels(
        [sentence("one three", 0.0, step=1.0, channel=0), sentence("two four", 0.5, step=1.0, channel=1)]
    )
    assert [t.content for t in merged] == ["one", "two", "three", "four"]
