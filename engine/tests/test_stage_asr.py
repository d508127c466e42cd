"""Stage ``asr``: whisper words -> transcript tokens (fixed input), and the real model on a fixture."""

from __future__ import annotations

import json
import re

import pytest

from medscribe_engine.pipeline.document import PUNCTUATION, join_tokens
from medscribe_engine.pipeline.tokens import RawWord, merge_pieces, tokens_from_words


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

    from medscribe_engine.pipeline.decoding import DEFAULTS

    assert recognizer.vad == DEFAULTS.mixed_vad
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


def test_no_words_are_written_into_noise(recognizer, fixtures_dir):
    """Ten seconds of pink noise before and after the dictation, and under it, at 15 dB below the
    speech (the realistic-conditions corpus goes down to 5 dB): words only where the dictation is."""
    import numpy as np
    from faster_whisper import decode_audio

    reference = json.loads((fixtures_dir / "dictation.json").read_text())
    speech = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    pad = np.zeros(10 * 16000, dtype=np.float32)
    audio = np.concatenate([pad, speech, pad])
    spectrum = np.fft.rfft(np.random.default_rng(21).standard_normal(len(audio)))
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.fft.rfftfreq(len(audio)), 1e-4)), len(audio))
    level = np.sqrt(np.mean(speech[np.abs(speech) > 0.01] ** 2)) * 10 ** (-15 / 20)
    noisy = (audio + pink / np.std(pink) * level).astype(np.float32)
    words = recognizer.words(noisy)
    first, last = reference["turns"][0]["start_s"] + 10.0, reference["turns"][-1]["end_s"] + 10.0
    assert words
    assert not [
        w.text for w in words if (w.start + w.end) / 2 < first - 1.0 or (w.start + w.end) / 2 > last + 1.0
    ]


def band(audio, low: float, high: float):
    """``audio`` (16 kHz) with every frequency outside ``low``-``high`` Hz removed."""
    import numpy as np

    spectrum = np.fft.rfft(audio)
    hertz = np.fft.rfftfreq(len(audio), 1 / 16000)
    spectrum[(hertz < low) | (hertz > high)] = 0
    return np.fft.irfft(spectrum, len(audio)).astype(np.float32)


def test_telephone_band_audio_is_told_apart_and_still_recognized(recognizer, fixtures_dir):
    """Only audio cut to the telephone band (300-3400 Hz) counts as such: not the wideband dictation,
    not audio that lost only its high band (AMR-NB, 8 kHz) nor only its low end, not silence; the real
    model still hears most of the telephone-band dictation (26 of its 40 words; 24 with Silero's default
    threshold, 39 wideband)."""
    import numpy as np
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.decoding import telephone_band

    reference = json.loads((fixtures_dir / "dictation.json").read_text())
    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    phone = band(audio, 300, 3400)
    assert telephone_band(phone)
    assert not telephone_band(audio)
    assert not telephone_band(band(audio, 0, 4000))
    assert not telephone_band(band(audio, 300, 8000))
    assert not telephone_band(np.zeros(16000, dtype=np.float32))
    hypothesis = set(re.findall(r"[a-z]+", " ".join(w.text for w in recognizer.words(phone)).lower()))
    expected = set(re.findall(r"[a-z]+", reference["text"].lower()))
    assert len(hypothesis & expected) / len(expected) > 0.6


def test_the_vad_of_telephone_band_audio_is_more_sensitive(fixtures_dir):
    """Silero scores band-limited speech lower (it heard 0.64 of a Piper voice's turns on a telephone
    line): on telephone-band audio ``telephone_vad`` goes over the mixed or the channel VAD."""
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer
    from medscribe_engine.pipeline.decoding import DEFAULTS

    class Remembers:  # a model that keeps the VAD options of each call and hears nothing
        def __init__(self):
            self.vad: list[dict] = []

        def transcribe(self, audio, **options):
            self.vad.append(options["vad_parameters"])
            return iter(()), None

    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    model = Remembers()
    mixed = Recognizer(model)
    channel = mixed.with_vad(DEFAULTS.channel_vad)
    for recognizer in (mixed, channel):
        recognizer.words(audio)
        recognizer.words(band(audio, 300, 3400))
    assert model.vad == [
        DEFAULTS.mixed_vad,
        {**DEFAULTS.mixed_vad, "threshold": 0.35},
        DEFAULTS.channel_vad,
        {**DEFAULTS.channel_vad, "threshold": 0.35},
    ]


def whisper_segment(seek: int, start: float, end: float, compression: float, logprob: float, no_speech=0.1):
    from faster_whisper.transcribe import Segment, Word

    words = [Word(start=start, end=end, word=f" w{seek}", probability=0.9)]
    return Segment(
        id=0, seek=seek, start=start, end=end, text=f" w{seek}", tokens=[], avg_logprob=logprob,
        compression_ratio=compression, no_speech_prob=no_speech, words=words, temperature=0.0,
    )  # fmt: skip


def test_windows_that_fail_whispers_checks_are_found_and_runs_of_them_joined():
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.pipeline.decoding import segment_failed, shift, windows

    loop = whisper_segment(3000, 30.0, 60.0, compression=17.2, logprob=-0.05)
    unsure = whisper_segment(6000, 60.0, 88.0, compression=1.5, logprob=-1.3)
    silence = whisper_segment(9000, 90.0, 91.0, compression=1.0, logprob=-1.3, no_speech=0.9)
    good = [whisper_segment(0, 0.0, 12.0, 1.6, -0.3), whisper_segment(0, 12.0, 29.0, 1.6, -0.3)]
    assert [segment_failed(s) for s in (loop, unsure, silence, good[0])] == [True, True, False, False]
    runs = windows([*good, loop, unsure, silence])
    assert [([s.start for s in run], failed) for run, failed in runs] == [
        ([0.0, 12.0], False),
        ([30.0, 60.0], True),  # two failed windows in a row: one run, re-decoded together
        ([90.0], False),
    ]
    moved = shift(loop, 2.5)
    assert (moved.start, moved.end, moved.words[0].start, moved.words[0].end) == (32.5, 62.5, 32.5, 62.5)
    assert loop.start == 30.0  # the original is left as it was


def test_a_phrase_said_twice_in_a_row_is_a_loop_and_fails_the_window():
    """tiny.en can repeat a long phrase in one segment with text that still compresses under 2.4; a
    phrase of 8 words or more said twice in a row is a loop, short repeats of speech are not."""
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from dataclasses import replace

    from medscribe_engine.pipeline.decoding import is_loop, segment_failed, window_quality

    phrase = "I'm not even lifting anything really heavy, it's just that"
    looped = replace(
        whisper_segment(0, 0.0, 20.0, compression=2.29, logprob=-0.3),
        text=f" Uh, just when I'm doing the project. {phrase}, I, {phrase}. I kind of feel it.",
    )
    speech = replace(
        looped,
        text=" Doing doing the projects, it, it, it kind of... I'm not sure, I'm not sure if it's a cold.",
    )
    seven = replace(looped, text=" one two three four five six seven one two three four five six seven")
    assert is_loop(looped) and segment_failed(looped)
    assert not is_loop(speech) and not segment_failed(speech)
    assert not is_loop(seven)
    assert window_quality([speech]) > window_quality([looped])


def test_decoding_is_repeatable_and_matches_the_conversation(recognizer, fixtures_dir):
    """Beam search at temperature 0 with deterministic fallbacks: the same audio twice gives the same
    words and times (faster-whisper's default fallback samples from an unseeded generator)."""
    from faster_whisper import decode_audio

    reference = json.loads((fixtures_dir / "conversation_mono.json").read_text())
    audio = decode_audio(str(fixtures_dir / "conversation_mono.wav"), sampling_rate=16000)
    first = [(w.text, w.start, w.end) for w in recognizer.words(audio)]
    second = [(w.text, w.start, w.end) for w in recognizer.words(audio)]
    assert first == second
    assert recognizer.options["temperature"] == 0.0
    hypothesis = set(re.findall(r"[a-z]+", " ".join(text for text, _s, _e in first).lower()))
    expected = set(re.findall(r"[a-z]+", reference["text"].lower()))
    assert len(hypothesis & expected) / len(expected) > 0.75


def test_a_failed_window_is_decoded_again_in_place(recognizer, fixtures_dir):
    """A window that failed Whisper's checks (here: marked as a repetition loop) is decoded again from
    its own audio; the new words replace it, on the recording's clock (5 s of silence come first)."""
    from dataclasses import replace

    import numpy as np
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer
    from medscribe_engine.pipeline.decoding import DEFAULTS, windows

    reference = json.loads((fixtures_dir / "conversation_mono.json").read_text())
    speech = decode_audio(str(fixtures_dir / "conversation_mono.wav"), sampling_rate=16000)
    audio = np.concatenate([np.zeros(5 * 16000, dtype=np.float32), speech])
    own = Recognizer(recognizer.model)
    decoded = own.segments(audio, own.options, lambda: False)
    looped = [replace(s, compression_ratio=DEFAULTS.compression_ratio_threshold + 10) for s in decoded]
    assert [failed for _run, failed in windows(looped)] == [True]
    again = own.redecode(audio, looped, lambda: False)
    assert own.redecoded == 1 and again is not looped
    assert all(s.compression_ratio <= DEFAULTS.compression_ratio_threshold for s in again)
    words = [w for s in again for w in s.words]
    hypothesis = set(re.findall(r"[a-z]+", " ".join(w.word for w in words).lower()))
    expected = set(re.findall(r"[a-z]+", reference["text"].lower()))
    assert len(hypothesis & expected) / len(expected) > 0.75
    for word in words:  # each word inside (or at the edge of) a turn, 5 s later than in the fixture
        middle = (word.start + word.end) / 2 - 5.0
        assert any(t["start_s"] - 0.5 <= middle <= t["end_s"] + 0.5 for t in reference["turns"]), (
            word.word,
            middle,
        )


def test_a_loop_no_fallback_replaces_is_dropped_and_an_unsure_window_kept():
    """A window still a repetition loop after every fallback is dropped (tiny.en put 109 "right," in
    the 0.1 s after a channel's turn, audio that decoded again held no speech); a window that failed only
    on its log-probability keeps its words."""
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    import numpy as np

    from medscribe_engine.pipeline.asr import Recognizer

    class NoSpeech:  # the model as it answers a clip without speech: no segment
        def transcribe(self, audio, **options):
            return iter(()), None

    recognizer = Recognizer(NoSpeech())
    audio = np.zeros(20 * 16000, dtype=np.float32)
    loop = whisper_segment(1200, 12.0, 12.1, compression=37.2, logprob=-0.12, no_speech=0.69)
    unsure = whisper_segment(1300, 13.0, 15.0, compression=1.5, logprob=-1.3)
    assert recognizer.redecode(audio, [loop], lambda: False) == []
    assert recognizer.redecode(audio, [unsure], lambda: False) == [unsure]
    assert (recognizer.redecoded, recognizer.loops_dropped) == (2, 1)
    assert [s.start for s in recognizer.redecode(audio, [unsure, loop], lambda: False)] == [13.0]


def whisper_words(*words: tuple[str, float, float, float]) -> list:
    from faster_whisper.transcribe import Word

    return [Word(start=start, end=end, word=text, probability=p) for text, start, end, p in words]


def test_only_runs_spelled_like_a_vocabulary_phrase_are_decoded_again():
    """A word under 0.6 in a run of up to four words spelled like a vocabulary phrase of 7+ letters (about
    as many letters, difflib ratio >= 0.55) marks the run's time span; spans closer than 2 s are joined
    while they stay within 20 s."""
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from dataclasses import replace

    from medscribe_engine.pipeline.asr import DEFAULTS, misheard_spans, vocabulary_phrases

    phrases = vocabulary_phrases("lisinopril, blood pressure, metformin, pain")
    words = whisper_words(
        (" Start", 0.0, 0.4, 0.9), (" like", 0.4, 0.6, 0.52), (" in", 0.6, 0.7, 0.56), (" a", 0.7, 0.8, 0.9),
        (" real.", 0.8, 1.1, 0.81),  # "like in a real" ~ "lisinopril" (0.57), two words unsure
        (" Met", 1.2, 1.5, 0.3), (" for", 1.5, 1.7, 0.4), (" men", 1.7, 2.0, 0.35),  # ~ "metformin": joined
        (" daily", 4.9, 5.3, 0.2),  # unsure, but spelled like no phrase
        (" paint", 6.0, 6.3, 0.2),  # like "pain", but the phrase is too short to look for
        (" blood", 7.0, 7.3, 0.9), (" pressure", 7.3, 7.8, 0.4),  # the phrase itself: nothing to fix
        (" metformen", 30.0, 30.5, 0.2),  # a span of its own
        (" lysinopril", 31.0, 31.5, 0.9),  # spelled like a phrase, but certain
    )  # fmt: skip
    assert misheard_spans(words, phrases) == [(0.4, 2.0), (30.0, 30.5)]
    assert misheard_spans(words, phrases, replace(DEFAULTS, trigger=0.1)) == []
    assert misheard_spans(words, phrases, replace(DEFAULTS, clip_s=1.0)) == [
        (0.4, 1.1),
        (1.2, 2.0),
        (30.0, 30.5),
    ]
    assert misheard_spans(words, []) == []


def test_only_vocabulary_phrases_in_place_of_words_spelled_like_them_are_spliced_in():
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.pipeline.asr import phrase_spans, splice_phrases, vocabulary_phrases

    phrases = vocabulary_phrases("lisinopril, blood pressure, D.N.A., pain")
    assert phrases == [("lisinopril",), ("blood", "pressure"), ("d", "n", "a"), ("pain",)]
    heard = whisper_words(
        (" Blood-pressure", 0, 1, 1), (" pain,", 1, 2, 1), (" blood", 2, 3, 1), (" pressure", 3, 4, 1)
    )  # fmt: skip
    assert phrase_spans(heard, phrases) == [(0, 0), (1, 1), (2, 3)]
    old = whisper_words(
        (" Start", 0.0, 0.4, 0.9), (" like", 0.4, 0.6, 0.3), (" in", 0.6, 0.7, 0.4), (" a", 0.7, 0.8, 0.6),
        (" real.", 0.8, 1.1, 0.2), (" Then", 1.3, 1.5, 0.9), (" ten", 1.5, 1.8, 0.9), (" milligrams.", 1.8, 2.4, 0.9),
    )  # fmt: skip
    new = whisper_words(
        (" pain", 0.0, 0.2, 0.5),  # an echo of a hotword: inserted, not a replacement
        (" start", 0.2, 0.4, 0.9), (" lisinopril,", 0.4, 1.1, 0.8),  # the replacement
        (" than", 1.3, 1.5, 0.9),  # another replacement, not a vocabulary phrase
        (" 10", 1.5, 1.8, 0.9),  # not spelled like "ten", not a phrase: ignored
    )  # fmt: skip
    spliced, count = splice_phrases(old, new, phrases)
    assert count == 1
    assert [w.word for w in spliced] == [" Start", " lisinopril.", " Then", " ten", " milligrams."]
    assert (spliced[1].start, spliced[1].end) == (0.4, 1.1)  # the new word's times
    # a phrase that replaces words spelled unlike it is not taken
    unlike = whisper_words((" Start", 0.0, 0.4, 0.9), (" pain", 0.4, 1.1, 0.8), (" Then", 1.3, 1.5, 0.9))
    assert splice_phrases(old, unlike, phrases) == (old, 0)
    # phrases next to each other are one run; word times of the two decodes differ a little
    inhaler = vocabulary_phrases("albuterol, inhaler")
    heard = whisper_words((" your", 15.54, 15.78, 1.0), (" Elbuter", 15.78, 16.24, 0.5),
                          (" Island", 16.24, 16.5, 0.21), (" Taylor?", 16.5, 16.84, 0.15))  # fmt: skip
    biased = whisper_words((" albuterol", 15.74, 16.36, 0.8), (" inhaler", 16.36, 16.78, 0.8))
    spliced, count = splice_phrases(heard, biased, inhaler)
    assert count == 1 and [w.word for w in spliced] == [" your", " albuterol", " inhaler?"]


def test_clips_are_packed_into_one_window_and_their_words_moved_back():
    """Clips (with 1 s of silence after each) fill a 28 s window; words decoded from the packed audio go
    back to the recording's clock, those in the silence between clips are dropped."""
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.pipeline.asr import pack_clips, unpack_words

    clips = [(10.0, 14.0), (50.0, 60.0), (100.0, 111.0), (200.0, 240.0), (300.0, 302.0)]
    assert pack_clips(clips) == [
        [(10.0, 14.0), (50.0, 60.0), (100.0, 111.0)],
        [(200.0, 240.0)],
        [(300.0, 302.0)],
    ]
    assert pack_clips([]) == []
    places = [(0.0, 10.0, 4.0), (5.0, 50.0, 10.0)]  # clip 1 at 0-4 s of the packed audio, clip 2 at 5-15 s
    decoded = whisper_words((" one", 1.0, 1.5, 0.9), (" echo", 4.2, 4.8, 0.9), (" two", 6.0, 6.5, 0.9))
    moved = unpack_words(decoded, places)
    assert [(w.word, w.start, w.end) for w in moved] == [(" one", 11.0, 11.5), (" two", 51.0, 51.5)]
