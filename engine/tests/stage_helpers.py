"""Fixed inputs for the stage tests: tokens and documents built by hand."""

from __future__ import annotations

from medscribe_engine.pipeline.document import PRONUNCIATION, PUNCTUATION, JobDocument, Token


def word(
    content: str, start: float, end: float, confidence: float = 0.9, channel=None, speaker=None
) -> Token:
    return Token(PRONUNCIATION, content, start, end, confidence, channel, speaker)


def mark(content: str, at: float, channel=None, speaker=None) -> Token:
    return Token(PUNCTUATION, content, at, at, 0.0, channel, speaker)


def sentence(text: str, start: float, step: float = 0.3, channel=None, speaker=None) -> list[Token]:
    """Tokens of ``text`` (words separated by spaces, final punctuation attached), ``step`` s per word."""
    tokens: list[Token] = []
    at = start
    for raw in text.split():
        core = raw.rstrip(".,?!")
        tokens.append(word(core, at, at + step - 0.05, channel=channel, speaker=speaker))
        at += step
        for char in raw[len(core) :]:
            tokens.append(mark(char, tokens[-1].end if tokens else at, channel=channel, speaker=speaker))
    return tokens


def document(kind: str = "scribe", settings: dict | None = None, **request) -> JobDocument:
    return JobDocument(
        job_name="job-under-test",
        kind=kind,
        request={"Settings": settings or {}, "OutputBucketName": "out-bucket", **request},
    )
