"""Stage ``alternatives`` (Transcribe Medical ``ShowAlternatives``): up to ``MaxAlternatives``
transcriptions per segment, best first.

The recognized words are cut into segments at sentence ends, pauses of ``pause_s``
(:class:`AlternativeParams`) or more, and channel or speaker changes (AWS: "natural pauses in speech, such
as a change in speaker or a pause").
Each segment's audio is decoded again by Whisper with an n-best beam search (``num_hypotheses``); the
first alternative is always the segment's words as they stand in the transcript, the others are the
distinct lower-scored hypotheses, each aligned to the audio for word times and probabilities (Whisper's
cross-attention alignment, as faster-whisper does for word timestamps) and passed through the custom
vocabulary like the main transcript. A segment gets fewer alternatives when the beam has no other
distinct hypothesis (AWS: "only the actual number of alternatives is returned").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from medscribe_engine.pipeline.asr import RawWord, tokens_from_words
from medscribe_engine.pipeline.document import SAMPLE_RATE, JobDocument, Token, join_tokens


@dataclass(frozen=True)
class AlternativeParams:
    """Where segments end, and how much audio each is decoded with."""

    pause_s: float = 0.8  # a pause this long ends a segment (AWS: "natural pauses in speech")
    max_segment_s: float = 25.0  # a longer segment is cut: its audio and padding fit one 30 s Whisper window
    pad_s: float = 0.3  # audio kept around a segment's words, so the decoder hears their edges


DEFAULTS = AlternativeParams()


@dataclass
class AlternativeSegment:
    """One segment: its time span and its alternatives (each a list of tokens), best first."""

    start: float
    end: float
    alternatives: list[list[Token]] = field(default_factory=list)


def split_segments(tokens: list[Token], params: AlternativeParams = DEFAULTS) -> list[list[Token]]:
    """Consecutive tokens cut at sentence ends, pauses, channel/speaker changes and at ``max_segment_s``."""
    segments: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        if current and token.is_word:
            words = [t for t in current if t.is_word]
            last = words[-1] if words else current[-1]
            if (
                (current[-1].content in ".?!" and not current[-1].is_word)
                or token.start - last.end >= params.pause_s
                or token.channel != last.channel
                or token.speaker != last.speaker
                or token.end - words[0].start > params.max_segment_s
            ):
                segments.append(current)
                current = []
        current.append(token)
    if current and any(t.is_word for t in current):
        segments.append(current)
    return segments


def _normalized(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


class WhisperNBest:
    """N-best decoding of one audio chunk with the loaded faster-whisper model.

    :param model: a ``faster_whisper.WhisperModel``.
    :param hotwords: the custom vocabulary's hotwords prompt, or None.
    """

    def __init__(self, model, hotwords: str | None = None):
        from faster_whisper.tokenizer import Tokenizer

        self.model = model
        self.hotwords = hotwords
        self.tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
        )

    def hypotheses(self, audio, offset: float, count: int) -> list[list[RawWord]]:
        """Up to ``count`` hypotheses for ``audio`` (float32, 16 kHz), best first, as timed words."""
        from faster_whisper.audio import pad_or_trim

        features = self.model.feature_extractor(audio)
        num_frames = features.shape[-1]
        encoder_output = self.model.encode(pad_or_trim(features))
        prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=True, hotwords=self.hotwords)
        result = self.model.model.generate(
            encoder_output,
            [prompt],
            beam_size=max(5, count),
            num_hypotheses=count,
            return_scores=True,
            max_length=self.model.max_length,
            suppress_blank=True,
        )[0]
        hypotheses: list[list[RawWord]] = []
        for sequence in result.sequences_ids:
            tokens = [token for token in sequence if token < self.tokenizer.eot]
            if not tokens:
                continue
            (alignment,) = self.model.find_alignment(self.tokenizer, [tokens], encoder_output, num_frames)
            hypotheses.append(
                [
                    RawWord(
                        word["word"],
                        offset + float(word["start"]),
                        offset + float(word["end"]),
                        float(word["probability"]),
                    )
                    for word in alignment
                ]
            )
        return hypotheses


class Alternatives:
    """Fill ``doc.alternative_segments``.

    :param nbest: a :class:`WhisperNBest` (or anything with its ``hypotheses`` method).
    :param max_alternatives: MaxAlternatives of the request (2-10).
    :param rewrite: the custom vocabulary's rewrite (tokens -> (tokens, count)), or None.
    :param params: where segments end (default :class:`AlternativeParams`).
    """

    name = "alternatives"
    requires = ("doc.audio", "doc.tokens")
    assigns = ("doc.alternative_segments",)

    def __init__(self, nbest, max_alternatives: int, rewrite=None, params: AlternativeParams | None = None):
        self.nbest = nbest
        self.max_alternatives = max_alternatives
        self.rewrite = rewrite
        self.params = params or DEFAULTS

    def __call__(self, doc: JobDocument) -> None:
        out: list[AlternativeSegment] = []
        pad = self.params.pad_s
        for segment in split_segments(doc.tokens, self.params):
            doc.check_stop()
            words = [t for t in segment if t.is_word]
            start, end = words[0].start, words[-1].end
            channel, speaker = words[0].channel, words[0].speaker
            audio = doc.audio[channel if channel is not None and channel < len(doc.audio) else 0]
            first = max(0.0, start - pad)
            chunk = audio[int(first * SAMPLE_RATE) : int((end + pad) * SAMPLE_RATE)]
            alternatives = [segment]
            seen = {_normalized(join_tokens(segment))}
            if len(chunk) >= SAMPLE_RATE // 10:
                for raw in self.nbest.hypotheses(chunk, first, self.max_alternatives + 1):
                    tokens = tokens_from_words(raw, channel=channel)
                    for token in tokens:
                        token.speaker = speaker
                    if self.rewrite is not None:
                        tokens, _count = self.rewrite(tokens)
                    key = _normalized(join_tokens(tokens))
                    if not key or key in seen:
                        continue
                    seen.add(key)
                    alternatives.append(tokens)
                    if len(alternatives) == self.max_alternatives:
                        break
            out.append(AlternativeSegment(start, end, alternatives))
        doc.alternative_segments = out
