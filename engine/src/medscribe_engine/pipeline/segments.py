"""Stage ``segments``: utterances for HealthScribe's TranscriptSegments.

An utterance is a run of consecutive tokens of one speaker (or channel), cut after a sentence end and
before a word that starts more than ``max_pause_s`` (:class:`SegmentParams`) after the previous word
ended. Segment ids look like UUIDs but are derived from the job name and the segment's index, so a rerun
gives the same ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from medscribe_engine.pipeline.document import JobDocument, Segment, Token

SENTENCE_END = ".?!"


@dataclass(frozen=True)
class SegmentParams:
    """Where one utterance ends and the next begins."""

    max_pause_s: float = 1.0  # a longer pause within one speaker's words starts a new utterance


DEFAULTS = SegmentParams()
SEGMENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medscribe:engine:segment")


def segment_id(job_name: str, index: int) -> str:
    return str(uuid.uuid5(SEGMENT_NAMESPACE, f"{job_name}/{index}"))


def _source(token: Token) -> tuple:
    return (token.speaker, token.channel)


def split_utterances(tokens: list[Token], max_pause: float = DEFAULTS.max_pause_s) -> list[list[Token]]:
    """Token runs, one per utterance."""
    utterances: list[list[Token]] = []
    current: list[Token] = []
    last_word: Token | None = None
    for token in tokens:
        if token.is_word:
            if (
                current
                and last_word is not None
                and (_source(token) != _source(last_word) or token.start - last_word.end > max_pause)
            ):
                utterances.append(current)
                current = []
            current.append(token)
            last_word = token
        elif current:
            current.append(token)
            if token.content in SENTENCE_END:
                utterances.append(current)
                current = []
    if current:
        utterances.append(current)
    return [utterance for utterance in utterances if any(token.is_word for token in utterance)]


def build_segments(
    job_name: str, tokens: list[Token], max_pause: float = DEFAULTS.max_pause_s
) -> list[Segment]:
    segments = []
    for index, utterance in enumerate(split_utterances(tokens, max_pause)):
        words = [token for token in utterance if token.is_word]
        segments.append(
            Segment(
                index=index,
                segment_id=segment_id(job_name, index),
                start=words[0].start,
                end=max(word.end for word in words),
                tokens=utterance,
                channel=words[0].channel,
                speaker=words[0].speaker,
            )
        )
    return segments


class Segments:
    """``doc.segments`` from ``doc.tokens``.

    :param params: where utterances end (default :class:`SegmentParams`).
    """

    name = "segments"
    requires = ("doc.tokens",)
    assigns = ("doc.segments",)

    def __init__(self, params: SegmentParams | None = None):
        self.params = params or DEFAULTS

    def __call__(self, doc: JobDocument) -> None:
        doc.segments = build_segments(doc.job_name, doc.tokens, self.params.max_pause_s)
