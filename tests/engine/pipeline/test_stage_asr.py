"""Stage ``asr``: whisper words -> transcript tokens (fixed input), and the real model on a fixture."""

from __future__ import annotations

import json
import re

from medscribe.engine.pipeline.asr import RawWord, merge_pieces, tokens_from_words
from medscribe.engine.pipeline.document import PUNCTUATION, join_tokens


def raw(*words: tuple[str, float, float]) -> list[RawWord]:
    return [RawWord(text, start, end, 0.9) for text, start, end in words]


def test_punctuation_becomes_tokens_of_its_own():
    tokens = tokens_from_words(
        raw(
            (" Hello", 0.0, 0.4),
            (" again,", 0.4, 0.8),
            (" how", 1.0, 1.2),
            (" are", 1.2, 1.3),
            (" you?", 1.3, 1.6),
        )
    )
    assert [(t.type, t.content) for t in tokens] == [
        ("pronunciation", "Hello"),
        ("pronunciation", "again"),
        ("punctuation", ","),
        ("pronunciation", "how"),
        ("pronunciation", "are"),
        ("pronunciation", "you"),
        ("punctuation", "?"),
    ]
    comma = tokens[2]
    assert comma.start == comma.end == 0.8 and comma.confidence == 0.0
    assert join_tokens(tokens) == "Hello again, how are you?"


def test_pieces_without_a_space_join_the_word_before():
    merged = merge_pieces(
        raw((" 58", 1.0, 1.3), ("-year", 1.3, 1.6), ("-old", 1.6, 1.9), (" man.", 1.9, 2.2))
    )
    assert [(w.text, w.start, w.end) for w in merged] == [(" 58-year-old", 1.0, 1.9), (" man.", 1.9, 2.2)]
    tokens = tokens_from_words(
        raw((" 58", 1.0, 1.3), ("-year", 1.3, 1.6), ("-old", 1.6, 1.9), (" man.", 1.9, 2.2))
    )
    assert [t.content for t in tokens] == ["58-year-old", "man", "."]


def test_quotes_dropped_ellipsis_collapsed_apostrophes_kept():
    tokens = tokens_from_words(
        raw((' "Well...', 0.0, 0.5), (" you're", 0.5, 0.8), (' fine!"', 0.8, 1.0), (" -", 1.0, 1.1))
    )
    assert [t.content for t in tokens] == ["Well", ".", "you're", "fine", "!"]


def test_times_are_ordered_and_confidences_bounded():
    tokens = tokens_from_words([RawWord(" a", 1.0, 0.9, 1.2), RawWord(" b", -0.1, 0.2, -0.3)], channel=1)
    for token in tokens:
        assert 0.0 <= token.start <= token.end and 0.0 <= token.confidence <= 1.0 and token.channel == 1


def test_real_model_recognizes_the_dictation(recognizer, fixtures_dir):
    from faster_whisper import decode_audio

    reference = json.loads((fixtures_dir / "dictation.json").read_text())
    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    tokens = tokens_from_words(recognizer.words(audio))
    words = [t for t in tokens if t.type != PUNCTUATION]
    assert words and all(0 <= w.start <= w.end <= reference["duration_s"] + 0.5 for w in words)
    hypothesis = set(re.findall(r"[a-z]+", join_tokens(tokens).lower()))
    expected = set(re.findall(r"[a-z]+", reference["text"].lower()))
    assert len(hypothesis & expected) / len(expected) > 0.75


def test_voice_activity_detection_skips_a_long_silence(recognizer, fixtures_dir):
    """Silero VAD (faster-whisper's vad_filter) is on: twenty seconds of silence spliced into the
    dictation yield no words, and the words after it keep their place in time."""
    import numpy as np
    from faster_whisper import decode_audio
    from medscribe.engine.pipeline.asr import MIXED_VAD

    assert recognizer.vad == MIXED_VAD
    reference = json.loads((fixtures_dir / "dictation.json").read_text())
    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    cut = int(reference["turns"][0]["start_s"] * 16000 + len(audio) // 2)
    cut = int(np.argmin(np.abs(audio[cut - 8000 : cut + 8000])) + cut - 8000)  # a quiet sample nearby
    spliced = np.concatenate([audio[:cut], np.zeros(20 * 16000, dtype=np.float32), audio[cut:]])
    words = recognizer.words(spliced)
    gap_start, gap_end = cut / 16000, cut / 16000 + 20.0
    assert not [w.text for w in words if gap_start + 0.5 < (w.start + w.end) / 2 < gap_end - 0.5]
    assert any(w.start >= gap_end for w in words) and any(w.end <= gap_start for w in words)
    assert words[-1].end <= len(spliced) / 16000 + 0.1
