"""The guards of a note sentence: every content word found in its evidence, and nothing stated that the
evidence only negates (a cue before it, a "no" to the clinician's question, or an insight's NEGATION)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from medscribe_engine.pipeline.notes.cleanup import NEGATION_CUES, clean_tokens, split_clitics, tokenize
from medscribe_engine.pipeline.notes.cues import NO_ANSWER, NOTE_WORDS, STOPWORDS, TERMINATORS


def _stem(word: str) -> str:
    """The word without a plural / third-person -s: "takes" -> "take", "watches" -> "watch"."""
    word = word.lower().strip("'")
    if len(word) <= 3 or not word.endswith("s") or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "oes", "zes")):
        return word[:-2]
    return word[:-1]


def normalized_words(text: str) -> list[str]:
    return [t.lower() for t in clean_tokens(split_clitics(tokenize(text)))]


def plain(text: str) -> str:
    """Lower-case cleaned text, words separated by single spaces, clitics attached ("i'm", "don't")."""
    joined = " ".join(normalized_words(text))
    return re.sub(r" (n't|'(?:m|s|re|ve|ll|d))\b", r"\1", joined)


def unsupported_words(sentence: str, evidence_texts: Iterable[str]) -> list[str]:
    """Content words of ``sentence`` found in none of ``evidence_texts`` (plural/3rd-person -s ignored).

    The measure of support: a note sentence is supported by its evidence when this is empty. Pronouns,
    the verb forms the rewrite produces and the note's own words ("denies", "reports") need no evidence.
    """
    available = {_stem(w) for text in evidence_texts for w in normalized_words(text)}
    missing = []
    for word in normalized_words(sentence):
        if not re.search(r"[a-z0-9]", word) or word in STOPWORDS or word in NOTE_WORDS:
            continue
        if _stem(word) not in available:
            missing.append(word)
    return missing


def negated_terms(text: str) -> tuple[set[str], set[str]]:
    """(words negated, words asserted) in ``text``: a negation cue negates the content words after it,
    up to a terminator (comma, period, but, and) or five words."""
    words = normalized_words(text)
    negated: set[str] = set()
    asserted: set[str] = set()
    reach = 0
    for word in words:
        if word in NEGATION_CUES:
            reach = 5
            continue
        if word in TERMINATORS:
            reach = 0
            continue
        if word in STOPWORDS or not re.search(r"[a-z]", word) or len(word) < 3:
            if reach:
                reach -= 1
            continue
        (negated if reach else asserted).add(_stem(word))
        if reach:
            reach -= 1
    return negated, asserted


def negated_findings(evidence: Sequence[tuple[str, str]]) -> set[str]:
    """Words the evidence only ever negates: negated after a cue, or asked about by the clinician and
    answered "no" by the patient, and never asserted elsewhere in the evidence.

    :param evidence: (speaker, text) of the linked segments in order.
    """
    negated: set[str] = set()
    asserted: set[str] = set()
    for number, (speaker, text) in enumerate(evidence):
        neg, pos = negated_terms(text)
        answer = evidence[number + 1] if number + 1 < len(evidence) else None
        if (
            speaker == "CLINICIAN"
            and text.rstrip().endswith("?")
            and answer
            and answer[0] == "PATIENT"
            and NO_ANSWER.match(" ".join(t.lower() for t in tokenize(answer[1])))
        ):
            neg |= pos
            pos = set()
        negated |= neg
        asserted |= pos
    return negated - asserted


def asserted_negations(sentence: str, evidence: Sequence[tuple[str, str]]) -> list[str]:
    """Findings the evidence only negates that ``sentence`` states without a negation cue before them."""
    findings = negated_findings(evidence)
    if not findings:
        return []
    _, asserted = negated_terms(sentence)
    return sorted(findings & asserted)


def negated_insight_spans(insights: Iterable[dict]) -> dict[str, list[str]]:
    """SegmentId -> contents of the insight spans with a NEGATION trait (set by the insights stage)."""
    spans: dict[str, list[str]] = {}
    for insight in insights or ():
        traits = insight.get("Traits") or insight.get("Attributes") or []
        names = {str(t.get("Name") or t.get("Type") or "").upper() for t in traits if isinstance(t, dict)}
        if "NEGATION" not in names:
            continue
        for span in insight.get("Spans") or []:
            if span.get("SegmentId") and span.get("Content"):
                spans.setdefault(span["SegmentId"], []).append(str(span["Content"]))
    return spans


def breaks_negated_span(sentence, negated_spans: dict[str, list[str]]) -> bool:
    """True when a negated insight of an evidence segment appears in the sentence with no cue before it.

    :param sentence: a note sentence (``text`` and the ``evidence`` segment ids).
    :param negated_spans: :func:`negated_insight_spans` of the job's insights.
    """
    words = normalized_words(sentence.text)
    for sid in sentence.evidence:
        for content in negated_spans.get(sid, []):
            target = normalized_words(content)
            if not target:
                continue
            for start in range(len(words) - len(target) + 1):
                if words[start : start + len(target)] == target:
                    window = words[max(0, start - 6) : start]
                    if not any(w in NEGATION_CUES for w in window):
                        return True
    return False
