"""Stage ``asr``: speech recognition with faster-whisper, words with times and probabilities.

Whisper returns words with a leading space and punctuation attached (``" weekend?"``), and splits some
words into pieces without a leading space (``" 58"``, ``"-year"``, ``"-old"``). :func:`tokens_from_words`
turns that into transcript tokens: one pronunciation token per spoken word, punctuation as tokens of
its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from medscribe.engine.pipeline.document import (
    PRONUNCIATION,
    PUNCTUATION,
    SAMPLE_RATE,
    Interrupted,
    JobDocument,
    Token,
)

BEAM_SIZE = 5
# Decoding is deterministic: beam search at temperature 0 only. faster-whisper's default fallback re-decodes
# a failed 30 s window by sampling at temperatures 0.2 ... 1.0 from CTranslate2's random generator, which
# is seeded once per thread (``ctranslate2.set_random_seed`` does not restart it): the same file gave
# other words on every run (bench/asr: WER 0.192 / 0.212 / 0.222 on one channel). Without that fallback,
# tiny.en at temperature 0 sometimes loops on one word for a whole window ("no, no, no, ..." over 30 s,
# "M-M-M-..." over two minutes of a channel): those windows are re-decoded by :data:`FALLBACKS`, also
# deterministic. Each window is conditioned on the previous window's text (a loop cannot spread: a failed
# window is re-decoded on its own); on mixed audio that lowered WER on the train split. A channel of a
# two-channel recording is not conditioned (:data:`CHANNEL_OPTIONS`, bench/asr/README.md).
DECODE_OPTIONS = {"temperature": 0.0, "condition_on_previous_text": True}
# A channel holds one side of the conversation: conditioned on its own previous turns, tiny.en ended windows
# early and dropped whole turns more often than it gained (train split: WER 0.120 conditioned, 0.108 not).
CHANNEL_OPTIONS = {"condition_on_previous_text": False}
# Whisper's own checks of a decoded window (faster-whisper's defaults): text that compresses more than
# this is a repetition loop; a lower average log-probability is a failed decode unless the window is
# likely silence (no-speech probability above NO_SPEECH_THRESHOLD).
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# Options tried in order on the audio of a failed window (the first that passes the checks is kept, else
# the best by the checks): no 4-gram may repeat inside a window, then also a repetition penalty.
FALLBACKS = ({"no_repeat_ngram_size": 4}, {"no_repeat_ngram_size": 4, "repetition_penalty": 1.2})
# Whisper sometimes ends a window early and moves on to the next one: the speech between is lost without
# any check failing (conditioned on the previous text, tiny.en skipped a 21 s turn of one channel). A
# stretch of at least this many seconds inside the VAD's speech with no word in it is decoded again on
# its own (VAD chunks hold no silence longer than ``min_silence_duration_ms``, so such a stretch is speech).
SKIPPED_SPEECH_S = 3.0
# Voice activity detection: faster-whisper's ``vad_filter`` runs Silero VAD (its bundled
# ``assets/silero_vad_v6.onnx``, ``faster_whisper.vad.get_speech_timestamps``) and decodes only the speech,
# glued together, mapping word times back. Mixed (single-channel) audio keeps faster-whisper's defaults:
# turns follow each other closely and one speech run spans the conversation. A channel of a two-channel
# recording is silent while the other side speaks; with the defaults (2 s of silence end a segment, 400 ms
# of padding) a channel's turns were glued into long runs whose word times, mapped back across the glue
# points, drifted into the other side's turns (1.9 % of the words attributed to the wrong channel, and
# merged out of order), and Whisper dropped words near the joins. Shorter silences and padding cut each
# turn on its own (bench/asr: two-channel WER and attribution, engine README).
MIXED_VAD = {"min_silence_duration_ms": 2000, "speech_pad_ms": 400}
CHANNEL_VAD = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}
PUNCTUATION_MARKS = ".,?!;:"
# Characters stripped from the edges of a word: punctuation marks plus quotes and brackets.
EDGE_CHARACTERS = PUNCTUATION_MARKS + "\"'()[]{}«»“”‘’…-—"


@dataclass
class RawWord:
    """A word as the recognizer gives it."""

    text: str
    start: float
    end: float
    probability: float


class Recognizer:
    """faster-whisper over one channel of 16 kHz float32 audio.

    :param model: a loaded ``faster_whisper.WhisperModel``.
    :param beam_size: beam width of the decoder.
    :param hotwords: phrases the decoder is biased towards (a custom vocabulary), or None.
    :param vad: Silero VAD options for faster-whisper (:data:`MIXED_VAD` unless given).
    :param options: other ``transcribe`` options (:data:`DECODE_OPTIONS` unless given).
    :param fallbacks: option sets for re-decoding a failed window (:data:`FALLBACKS` unless given).
    """

    def __init__(
        self,
        model,
        beam_size: int = BEAM_SIZE,
        hotwords: str | None = None,
        vad: dict | None = None,
        options: dict | None = None,
        fallbacks: tuple[dict, ...] | None = None,
    ):
        self.model = model
        self.beam_size = beam_size
        self.hotwords = hotwords
        self.vad = dict(vad or MIXED_VAD)
        self.options = dict(DECODE_OPTIONS if options is None else options)
        self.fallbacks = tuple(FALLBACKS if fallbacks is None else fallbacks)
        self.redecoded = 0  # windows re-decoded by a fallback (a count for the benchmark)
        self.recovered = 0  # segments decoded from skipped speech (a count for the benchmark)

    def with_vad(self, vad: dict, options: dict | None = None) -> Recognizer:
        """The same recognizer with other voice activity options (and ``options`` over its own)."""
        options = {**self.options, **(options or {})}
        return Recognizer(self.model, self.beam_size, self.hotwords, vad, options, self.fallbacks)

    def segments(self, audio, options: dict, should_stop: Callable[[], bool]) -> list:
        """faster-whisper's segments of ``audio``, decoded with ``options``."""
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            task="transcribe",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=dict(self.vad),
            hotwords=self.hotwords,
            **options,
        )
        decoded = []
        for segment in segments:  # a generator: recognition happens while iterating
            if should_stop():
                raise Interrupted()
            decoded.append(segment)
        return decoded

    def words(self, audio, should_stop: Callable[[], bool] = lambda: False) -> list[RawWord]:
        """The words of ``audio``: decoded once, failed windows decoded again (:meth:`redecode`), speech
        left without words decoded on its own (:meth:`recover_skipped`)."""
        segments = self.decode(audio, should_stop)
        recovered = self.recover_skipped(audio, segments, should_stop)
        return [
            RawWord(word.word, float(word.start), float(word.end), float(word.probability))
            for word in merge_words(words_of(segments), words_of(recovered))
        ]

    def decode(self, audio, should_stop: Callable[[], bool]) -> list:
        """The segments of ``audio``, each failed window replaced by :meth:`redecode`."""
        segments: list = []
        for window, failed in windows(self.segments(audio, self.options, should_stop)):
            if failed and self.fallbacks:
                window = self.redecode(audio, window, should_stop)
            segments.extend(window)
        return segments

    def recover_skipped(self, audio, segments: list, should_stop: Callable[[], bool]) -> list:
        """The segments decoded from stretches of speech that have no word in ``segments``
        (:func:`skipped_speech`), in time order."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        chunks = [
            (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
            for chunk in get_speech_timestamps(audio, VadOptions(**self.vad))
        ]
        recovered = []
        for start, end in skipped_speech(chunks, words_of(segments), SKIPPED_SPEECH_S):
            offset = int(start * SAMPLE_RATE)
            clip = audio[offset : int(end * SAMPLE_RATE)]
            recovered += [shift(s, offset / SAMPLE_RATE) for s in self.decode(clip, should_stop)]
        self.recovered += len(recovered)
        return recovered

    def redecode(self, audio, window: list, should_stop: Callable[[], bool]) -> list:
        """The window's audio decoded again with each of :attr:`fallbacks` until one passes Whisper's
        checks; the best of all tries (the window included) by :func:`window_quality`."""
        start, end = window[0].start, window[-1].end
        offset = int(start * SAMPLE_RATE)
        clip = audio[offset : int(end * SAMPLE_RATE) + 1]
        best = window
        self.redecoded += 1
        for fallback in self.fallbacks:
            options = {**self.options, **fallback}
            tried = [shift(s, offset / SAMPLE_RATE) for s in self.segments(clip, options, should_stop)]
            if tried and window_quality(tried) > window_quality(best):
                best = tried
            if tried and not any(segment_failed(segment) for segment in tried):
                break
        return best


def segment_failed(segment) -> bool:
    """Whisper's checks on the window a segment came from: a repetition loop, or a low average
    log-probability where the window is not likely silence."""
    if segment.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
        return True
    return segment.avg_logprob < LOG_PROB_THRESHOLD and segment.no_speech_prob <= NO_SPEECH_THRESHOLD


def window_quality(segments: list) -> tuple[bool, float]:
    """Sort key of decodes of the same audio: passing the compression check first, then the lowest
    average log-probability of its windows (higher is better)."""
    return (
        all(s.compression_ratio <= COMPRESSION_RATIO_THRESHOLD for s in segments),
        min(s.avg_logprob for s in segments),
    )


def windows(segments: list) -> Iterable[tuple[list, bool]]:
    """Segments grouped into runs of 30 s decoding windows (``Segment.seek``), each run with whether it
    failed Whisper's checks; consecutive failed windows form one run (a loop can span several)."""
    runs: list[tuple[list, bool]] = []
    last_seek = None
    for segment in segments:
        failed = segment_failed(segment)
        if runs and (segment.seek == last_seek or (failed and runs[-1][1])):
            runs[-1][0].append(segment)
        else:
            runs.append(([segment], failed))
        last_seek = segment.seek
    return runs


def skipped_speech(
    chunks: list[tuple[float, float]], words: list, min_seconds: float
) -> list[tuple[float, float]]:
    """Stretches of at least ``min_seconds`` inside speech ``chunks`` (start, end in seconds) where no
    word (``.start``, ``.end``) lies: before a chunk's first word, between words, after its last."""
    stretches = []
    for start, end in chunks:
        inside = sorted((w.start, w.end) for w in words if start <= (w.start + w.end) / 2 <= end)
        edges = [start] + [t for pair in inside for t in pair] + [end]
        for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
            if gap_end - gap_start >= min_seconds:
                stretches.append((gap_start, gap_end))
    return stretches


def words_of(segments: list) -> list:
    """The words of faster-whisper ``segments``, in order."""
    return [word for segment in segments for word in segment.words or []]


def merge_words(decoded: list, recovered: list) -> list:
    """``recovered`` words (from skipped speech) placed among the ``decoded`` ones by start time, each
    list keeping its own order. Merging words, not segments: a skipped stretch often lies inside one of
    Whisper's segments (its first word aligned before the stretch, the rest after), and a recovered
    segment sorted by segment start then landed after the whole segment (train D2N002-1: 15 words moved
    past the next sentence)."""
    return list(heapq.merge(decoded, recovered, key=lambda word: word.start))


def shift(segment, seconds: float):
    """A faster-whisper segment (and its words) moved ``seconds`` later."""
    words = [replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words or []]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)


def _split_edges(text: str) -> tuple[str, str, str]:
    """``(leading, core, trailing)`` of a word: ``"(well,"`` -> ``("(", "well", ",")``."""
    start, end = 0, len(text)
    while start < end and text[start] in EDGE_CHARACTERS:
        start += 1
    while end > start and text[end - 1] in EDGE_CHARACTERS:
        end -= 1
    return text[:start], text[start:end], text[end:]


def _marks(edge: str) -> list[str]:
    """The punctuation marks kept from a word's edge: ``"?!"`` -> ``["?", "!"]``, ``"..."`` -> ``["."]``,
    ``"…"`` -> ``["."]``; quotes and brackets are dropped."""
    marks: list[str] = []
    for char in edge.replace("…", "."):
        if char in PUNCTUATION_MARKS and (not marks or marks[-1] != char):
            marks.append(char)
    return marks


def merge_pieces(words: Iterable[RawWord]) -> list[RawWord]:
    """Join pieces that whisper emitted without a leading space to the word before them
    (``" 58" "-year" "-old"`` -> ``"58-year-old"``), keeping the first start, last end and lowest
    probability."""
    merged: list[RawWord] = []
    for word in words:
        if merged and word.text and not word.text[0].isspace():
            _lead, core, _trail = _split_edges(word.text)
            if core or word.text[0] in "-'":
                last = merged[-1]
                merged[-1] = RawWord(
                    last.text + word.text,
                    last.start,
                    max(last.end, word.end),
                    min(last.probability, word.probability),
                )
                continue
        merged.append(RawWord(word.text, word.start, word.end, word.probability))
    return merged


def tokens_from_words(words: Iterable[RawWord], channel: int | None = None) -> list[Token]:
    """Pronunciation and punctuation tokens from recognizer words, times made monotonic."""
    tokens: list[Token] = []
    last_end = 0.0
    for word in merge_pieces(words):
        _lead, core, trail = _split_edges(word.text.strip())
        start = max(round(word.start, 3), 0.0)
        end = max(round(word.end, 3), start)
        # leading quotes, brackets and dashes are dropped: AWS's items carry no opening marks
        if core:
            core = core.replace("--", "-")
            probability = min(max(word.probability, 0.0), 1.0)
            tokens.append(Token(PRONUNCIATION, core, start, end, probability, channel))
            last_end = end
        for mark in _marks(trail):
            if tokens:
                tokens.append(Token(PUNCTUATION, mark, last_end, last_end, 0.0, channel))
    return tokens


class Recognize:
    """Recognize the single (mono or down-mixed) channel into ``doc.tokens``.

    :param recognizer: a :class:`Recognizer`.
    """

    name = "asr"

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer

    def __call__(self, doc: JobDocument) -> None:
        words = self.recognizer.words(doc.audio[0], doc.should_stop)
        doc.tokens = tokens_from_words(words)
