"""Transcript tokens from Whisper's words.

Whisper returns words with a leading space and punctuation attached (``" weekend?"``), and splits some
words into pieces without a leading space (``" 58"``, ``"-year"``, ``"-old"``). :func:`tokens_from_words`
turns that into transcript tokens: one pronunciation token per spoken word, punctuation as tokens of
its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from medscribe_engine.pipeline.document import PRONUNCIATION, PUNCTUATION, Token

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


def split_edges(text: str) -> tuple[str, str, str]:
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
            _lead, core, _trail = split_edges(word.text)
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
        _lead, core, trail = split_edges(word.text.strip())
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
