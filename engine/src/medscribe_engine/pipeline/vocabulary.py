"""Stage ``vocabulary``: a custom vocabulary's phrases bias recognition and set how they are written.

* Before recognition, :func:`hotwords` turns the entries into faster-whisper's ``hotwords`` prompt (the
  phrases, lower case, comma-separated; faster-whisper keeps about the first 220 tokens of it).
* After recognition, :class:`ApplyVocabulary` rewrites recognized words that spell an entry: its
  ``Phrase`` (case, hyphens and periods ignored) or its ``SoundsLike`` pieces joined
  (``lie-sin-oh-pril`` matches a recognized "Lie sin oh pril" or "liesinohpril"). The words are then
  written as the entry's ``DisplayAs``, else as the phrase with spaces for hyphens - as AWS writes
  vocabulary phrases. ``IPA`` is accepted but not used: the model has no pronunciation lexicon.
"""

from __future__ import annotations

import re

from medscribe_engine.pipeline.document import PRONUNCIATION, JobDocument, Token, VocabularyEntry

_LETTERS = re.compile(r"[^a-z0-9']")


def spelling_key(text: str) -> str:
    """What matching a vocabulary phrase looks at: the letters, digits and apostrophes, lower case (case,
    spaces, hyphens and periods ignored)."""
    return _LETTERS.sub("", text.lower())


def hotwords(entries: list[VocabularyEntry]) -> str | None:
    """The hotwords prompt for faster-whisper, or None for no entries."""
    phrases: list[str] = []
    for entry in entries:
        words = [word if "." in word else word.lower() for word in entry.words]
        phrase = " ".join(words)
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return ", ".join(phrases) or None


def _spellings(entry: VocabularyEntry) -> list[str]:
    """What a run of recognized words, letters only and joined, must equal to be this entry."""
    spellings = [spelling_key("".join(entry.words))]
    if entry.sounds_like:
        spellings.append(spelling_key(entry.sounds_like.replace("-", "")))
    return [spelling for spelling in spellings if spelling]


class ApplyVocabulary:
    """Rewrite recognized words that spell a vocabulary entry into the entry's display form.

    :param entries: the READY vocabulary's entries.
    :param max_words: the longest run of recognized words tried against one entry.
    """

    name = "vocabulary"
    requires = ("doc.tokens",)
    assigns = ("doc.tokens", "doc.vocabulary_matches")

    def __init__(self, entries: list[VocabularyEntry], max_words: int = 6):
        self.entries = entries
        self.max_words = max_words
        self.index: dict[str, VocabularyEntry] = {}
        for entry in entries:
            for spelling in _spellings(entry):
                self.index.setdefault(spelling, entry)

    def rewrite(self, tokens: list[Token]) -> tuple[list[Token], int]:
        """The tokens with matched runs replaced, and how many runs were replaced."""
        out: list[Token] = []
        replaced = 0
        i = 0
        while i < len(tokens):
            match = self._match(tokens, i)
            if match is None:
                out.append(tokens[i])
                i += 1
                continue
            end, entry = match
            out += _display_tokens(tokens[i:end], entry.display)
            replaced += 1
            i = end
        return out, replaced

    def _match(self, tokens: list[Token], start: int) -> tuple[int, VocabularyEntry] | None:
        first = tokens[start]
        if first.type != PRONUNCIATION:
            return None
        best = None
        joined = ""
        for end in range(start, min(len(tokens), start + self.max_words)):
            token = tokens[end]
            key = spelling_key(token.content)
            if token.type != PRONUNCIATION or token.channel != first.channel or not key:
                break
            joined += key
            entry = self.index.get(joined)
            if entry is not None:
                best = (end + 1, entry)
        return best

    def __call__(self, doc: JobDocument) -> None:
        doc.tokens, replaced = self.rewrite(doc.tokens)
        doc.vocabulary_matches = replaced


def _display_tokens(run: list[Token], display: str) -> list[Token]:
    """The display form over the run's words: word for word when the counts agree, else one item
    spanning the run."""
    words = display.split()
    if len(words) == len(run):
        return [
            Token(t.type, word, t.start, t.end, t.confidence, t.channel, t.speaker)
            for t, word in zip(run, words, strict=True)
        ]
    first, last = run[0], run[-1]
    return [
        Token(
            PRONUNCIATION,
            display,
            first.start,
            last.end,
            min(t.confidence for t in run),
            first.channel,
            first.speaker,
        )
    ]
