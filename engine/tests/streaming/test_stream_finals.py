"""Where a stream's finals are cut and what time their words carry: the recognizer of one channel
(``ChannelStream``) fed a fixture's audio directly, without a network or a clock."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.pipeline.document import SAMPLE_RATE
from medscribe_engine.streaming.recognition import ChannelStream


def finals(model, audio: np.ndarray, every_s: float, first_s: float) -> list[tuple[float, float, str]]:
    """(start, end, words) of each final when a step runs after ``first_s`` of audio, then after every
    ``every_s`` more (as a decoder that keeps up, or one that lags behind the stream)."""
    stream = ChannelStream(model)
    given, position, edge = [], 0, int(first_s * SAMPLE_RATE)
    while position < len(audio):
        stream.add(audio[position:edge])
        position, edge = min(edge, len(audio)), edge + int(every_s * SAMPLE_RATE)
        for result in stream.step(end_of_stream=position >= len(audio)):
            if not result.is_partial:
                words = " ".join(token.content for token in result.tokens if token.is_word)
                given.append((result.start, result.end, words))
    return given


def test_finals_do_not_depend_on_when_the_audio_arrived(whisper_model, fixtures_dir, monkeypatch):
    """The dictation (24.6 s, five sentences) stepped each second, as a decoder that keeps up, and every
    2.5 or 3.7 s, as one that lags: the same finals, cut at the same places, with the same words
    (a final is cut at the first utterance end that qualifies, on the stream's VAD grid). Before, a lagging
    decoder cut fewer, longer finals and the words changed with the load."""
    import soundfile as sf

    monkeypatch.setattr(ChannelStream, "_partial", lambda self: None)  # finals never read the drafts
    audio, rate = sf.read(fixtures_dir / "dictation.wav", dtype="float32")
    assert rate == SAMPLE_RATE
    keeping_up = finals(whisper_model, audio, every_s=1.0, first_s=0.1)
    for every_s, first_s in ((2.5, 1.35), (3.7, 0.1)):  # two timings whose finals differed before
        assert finals(whisper_model, audio, every_s, first_s) == keeping_up, (every_s, first_s)
    assert len(keeping_up) >= 3  # sentences are finalised as they end, not once at the end
    said = " ".join(words for _start, _end, words in keeping_up).lower()
    reference = json.loads((fixtures_dir / "dictation.json").read_text())["text"].lower()
    for word in ("headaches", "chest", "hypertension", "milligrams", "weeks"):
        assert word in reference and word in said, word


def test_a_word_recovered_from_the_context_keeps_the_time_it_was_spoken():
    """The context decoded before a final is the speech finalised last, without the silence dropped since:
    a word Whisper missed at the last final's end and gives with the next one is placed where it was said,
    not where the context sits in the decoded audio (it would land among the other channel's words)."""
    stream = ChannelStream(model=None)
    stream._window = np.zeros(10 * SAMPLE_RATE, dtype=np.float32)
    stream._drop(2 * SAMPLE_RATE)  # a final: 0-2 s
    stream._drop(3 * SAMPLE_RATE, context=False)  # the other side's turn: 2-5 s, dropped as silence
    stream._drop(1 * SAMPLE_RATE)  # a final: 5-6 s; the window now starts at 6 s
    assert stream._offset == 6.0 and len(stream._context) == 3 * SAMPLE_RATE
    shift = 3.0  # the decoded audio: 3 s of context, then the window
    assert stream._time(0.5, shift) == pytest.approx(0.5 - 6.0)  # said at 0.5 s
    assert stream._time(2.5, shift) == pytest.approx(5.5 - 6.0)  # said at 5.5 s
    assert stream._time(3.25, shift) == pytest.approx(0.25)  # in the window
