"""A conversation's sentences as the note builder reads them: segments split into sentences (pysbd),
each with its speaker (CLINICIAN or PATIENT), section, position and whether it asks a question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from medscribe_engine.pipeline.notes.cleanup import clean_tokens, tokenize
from medscribe_engine.pipeline.notes.cues import STOPWORDS


@dataclass
class Utterance:
    segment_id: str
    speaker: str  # CLINICIAN | PATIENT
    text: str
    section: str | None
    position: float  # 0..1 through the conversation
    index: int  # order of the sentence in the conversation
    is_question: bool = False


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    return [part.strip() for part in _segmenter().segment(text) if part.strip()]


def speaker_of(role: str | None) -> str:
    return "PATIENT" if (role or "").upper().startswith("PATIENT") else "CLINICIAN"


def content_words(text: str) -> list[str]:
    return [
        t.lower()
        for t in clean_tokens(tokenize(text))
        if re.search(r"[a-z0-9]", t.lower()) and t.lower() not in STOPWORDS and (len(t) > 2 or t.isdigit())
    ]


TAG_QUESTION = re.compile(
    r",?\s*\b(?:okay|ok|right|alright|all right|yeah|does that sound good|sound good|sounds good|"
    r"is that okay|is that all right|does that make sense|you know)\s*\?$",
    re.IGNORECASE,
)


def utterances(segments: Sequence) -> list[Utterance]:
    """Sentences of the segments, in order; ``segments`` need ``segment_id``, ``role``, ``content``."""
    out: list[Utterance] = []
    total = max(len(segments), 1)
    for number, segment in enumerate(segments):
        for text in split_sentences(segment.content or ""):
            text = TAG_QUESTION.sub(".", text)  # "I'll order an x-ray, okay?" is a statement
            out.append(
                Utterance(
                    segment.segment_id,
                    speaker_of(segment.role),
                    text,
                    getattr(segment, "section", None),
                    number / total,
                    len(out),
                    text.rstrip().endswith("?"),
                )
            )
    return out
