"""Stage ``asr``: speech recognition with faster-whisper, words with times and probabilities.

Whisper returns words with a leading space and punctuation attached (``" weekend?"``), and splits some
words into pieces without a leading space (``" 58"``, ``"-year"``, ``"-old"``). :func:`tokens_from_words`
turns that into transcript tokens: one pronunciation token per spoken word, punctuation as tokens of
its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medscribe.engine.pipeline.document import (
    PRONUNCIATION,
    PUNCTUATION,
    Interrupted,
    JobDocument,
    Token,
)

BEAM_SIZE = 5
# Decoder options of ``WhisperModel.transcribe`` besides the beam (faster-whisper's defaults where absent).
DECODE_OPTIONS = {"condition_on_previous_text": False}
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
    """

    def __init__(
        self,
        model,
        beam_size: int = BEAM_SIZE,
        hotwords: str | None = None,
        vad: dict | None = None,
        options: dict | None = None,
    ):
        self.model = model
        self.beam_size = beam_size
        self.hotwords = hotwords
        self.vad = dict(vad or MIXED_VAD)
        self.options = dict(DECODE_OPTIONS if options is None else options)

    def with_vad(self, vad: dict) -> Recognizer:
        """The same recognizer with other voice activity options."""
        return Recognizer(self.model, self.beam_size, self.hotwords, vad, self.options)

    def words(self, audio, should_stop: Callable[[], bool] = lambda: False) -> list[RawWord]:
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            task="transcribe",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=dict(self.vad),
            hotwords=self.hotwords,
            **self.options,
        )
        words: list[RawWord] = []
        for segment in segments:  # a generator: recognition happens while iterating
            if should_stop():
                raise Interrupted()
            for word in segment.words or []:
                words.append(RawWord(word.word, float(word.start), float(word.end), float(word.probability)))
        return words


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
