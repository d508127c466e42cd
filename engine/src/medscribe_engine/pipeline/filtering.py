"""Stage ``filter`` (HealthScribe ``VocabularyFilterName`` + ``VocabularyFilterMethod``): the filter's
words, matched case-insensitively against whole recognized words, are removed (``remove``: the item is
dropped, punctuation after it stays), replaced by ``***`` (``mask``) or flagged (``tag``: the item gets
``VocabularyFilterMatch: true`` in the transcript file, its word unchanged) - AWS's three methods.
Runs after diarization and before segments, so segment text follows the filtered items."""

from __future__ import annotations

from medscribe_engine.pipeline.document import JobDocument, Token

MASK = "***"


def _key(text: str) -> str:
    return text.lower().strip(".")


class FilterWords:
    """Apply a vocabulary filter to ``doc.tokens``.

    :param words: the filter's words.
    :param method: ``remove``, ``mask`` or ``tag``.
    """

    name = "filter"
    requires = ("doc.tokens",)
    assigns = ("doc.tokens", "doc.filter_matches")

    def __init__(self, words: list[str], method: str):
        self.words = {_key(word) for word in words}
        self.method = method

    def apply(self, tokens: list[Token]) -> tuple[list[Token], int]:
        out: list[Token] = []
        matched = 0
        for token in tokens:
            if not (token.is_word and _key(token.content) in self.words):
                out.append(token)
                continue
            matched += 1
            if self.method == "remove":
                continue
            if self.method == "mask":
                out.append(
                    Token(
                        token.type,
                        MASK,
                        token.start,
                        token.end,
                        token.confidence,
                        token.channel,
                        token.speaker,
                    )
                )
            else:
                out.append(
                    Token(
                        token.type,
                        token.content,
                        token.start,
                        token.end,
                        token.confidence,
                        token.channel,
                        token.speaker,
                        filter_match=True,
                    )
                )
        return out, matched

    def __call__(self, doc: JobDocument) -> None:
        doc.tokens, doc.filter_matches = self.apply(doc.tokens)
