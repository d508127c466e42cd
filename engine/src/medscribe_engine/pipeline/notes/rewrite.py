"""The rewrite into third person of a cleaned sentence, keeping every negation cue.

The rewrite works on the word tokens of the clean-up
(:func:`~medscribe_engine.pipeline.notes.cleanup.clean_tokens`, which drops the fillers) and only ever
*replaces* a pronoun or the verb right after it; no negation cue
(:data:`~medscribe_engine.pipeline.notes.cleanup.NEGATION_CUES`) is ever dropped. Patient speech:
``I`` -> the patient's pronoun, ``my`` -> possessive, ``I have`` -> ``he has`` / ``they have``.
Clinician speech: ``you`` -> the patient's pronoun, ``your`` -> possessive; the clinician's own ``I`` /
``we`` stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medscribe_engine.pipeline.notes.cleanup import clean_tokens, detokenize, split_clitics, tokenize

ADVERBS = frozenset(
    {
        "still", "just", "really", "also", "usually", "actually", "always", "only", "even", "sometimes",
        "definitely", "mostly", "generally", "normally", "already", "typically", "probably", "certainly",
        "honestly", "basically", "kind", "sort",
    }
)  # fmt: skip
# Verbs after "I" / "you" that take an -s in the third person singular (the rest are left alone).
PRESENT_VERBS = frozenset(
    [
        "feel",
        "get",
        "take",
        "think",
        "want",
        "know",
        "need",
        "try",
        "use",
        "notice",
        "see",
        "like",
        "eat",
        "drink",
        "work",
        "live",
        "wake",
        "sleep",
        "walk",
        "run",
        "go",
        "say",
        "mean",
        "remember",
        "forget",
        "hope",
        "love",
        "guess",
        "play",
        "smoke",
        "exercise",
        "check",
        "monitor",
        "keep",
        "stay",
        "start",
        "wear",
        "miss",
        "hear",
        "hate",
        "enjoy",
        "watch",
        "lift",
        "seem",
        "come",
        "bike",
        "swim",
        "cook",
        "continue",
        "stop",
        "tend",
        "get",
        "experience",
        "drive",
        "travel",
        "sit",
        "stand",
        "lay",
        "lie",
        "struggle",
        "deal",
        "cough",
        "sneeze",
        "vomit",
        "bleed",
        "ride",
        "hike",
        "golf",
        "ski",
        "skate",
        "dance",
        "sing",
        "read",
        "write",
        "teach",
        "help",
        "care",
        "understand",
        "agree",
        "follow",
        "plan",
        "prefer",
        "appreciate",
        "wish",
        "believe",
        "suppose",
        "recall",
        "realize",
        "worry",
        "wonder",
        "wear",
        "weigh",
        "measure",
        "test",
        "pee",
        "urinate",
        "avoid",
        "eat",
        "snack",
        "chew",
        "swallow",
        "breathe",
        "smell",
        "taste",
        "lose",
        "gain",
        "spend",
    ]
)
AUXILIARIES = frozenset(
    [
        "'m",
        "am",
        "'re",
        "are",
        "was",
        "were",
        "'ve",
        "'ll",
        "'d",
        "have",
        "had",
        "do",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "need",
        "got",
        "n't",
    ]
)
IRREGULAR = {"have": "has", "do": "does", "go": "goes", "be": "is"}


@dataclass(frozen=True)
class Pronouns:
    """The patient's pronouns (MedicalScribeContext.PatientContext.Pronouns)."""

    subject: str
    object: str
    possessive: str
    possessive_pronoun: str
    reflexive: str
    plural: bool

    @property
    def be(self) -> str:
        return "are" if self.plural else "is"

    @property
    def was(self) -> str:
        return "were" if self.plural else "was"


PRONOUNS = {
    "HE_HIM": Pronouns("he", "him", "his", "his", "himself", False),
    "SHE_HER": Pronouns("she", "her", "her", "hers", "herself", False),
    "THEY_THEM": Pronouns("they", "them", "their", "theirs", "themselves", True),
}
DEFAULT_PRONOUNS = "THEY_THEM"


def third_person(verb: str) -> str:
    lower = verb.lower()
    if lower in IRREGULAR:
        return IRREGULAR[lower]
    if re.search(r"[^aeiou]y$", lower):
        return lower[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z|o)$", lower):
        return lower + "es"
    return lower + "s"


def _next_verb(tokens: list[str], start: int) -> int | None:
    """Index of the verb after a subject pronoun at ``start - 1``, skipping adverbs; None if none."""
    index = start
    while index < len(tokens) and tokens[index].lower() in ADVERBS:
        if (
            tokens[index].lower() in {"kind", "sort"}
            and index + 1 < len(tokens)
            and tokens[index + 1].lower() == "of"
        ):
            index += 2
            continue
        index += 1
    return index if index < len(tokens) else None


def _conjugate_after_subject(tokens: list[str], index: int | None, pronouns: Pronouns) -> None:
    """Rewrite the verb at ``index`` for the new subject (in place)."""
    if index is None or index >= len(tokens):
        return
    lower = tokens[index].lower()
    if lower in {"'m", "am", "'re", "are"}:
        tokens[index] = pronouns.be
    elif lower in {"was", "were"}:
        tokens[index] = pronouns.was
    elif lower == "'ve":
        tokens[index] = "have" if pronouns.plural else "has"
    elif lower == "'ll":
        tokens[index] = "will"
    elif lower == "'d":
        tokens[index] = "would"
    elif pronouns.plural:
        return
    elif lower in {"have", "do"} or lower in PRESENT_VERBS:
        tokens[index] = third_person(lower)


def rewrite(text: str, speaker: str, pronouns: Pronouns) -> str:
    """One sentence of ``speaker`` (``CLINICIAN`` or ``PATIENT``) cleaned and put in the third person.

    Returns "" when nothing but fillers is left.
    """
    tokens = clean_tokens(split_clitics(tokenize(text)))
    if not any(re.search(r"[A-Za-z0-9]", t) for t in tokens):
        return ""
    first, possessive = (
        (
            {"i"},
            {"my": pronouns.possessive, "mine": pronouns.possessive_pronoun, "myself": pronouns.reflexive},
        )
        if speaker == "PATIENT"
        else (
            {"you"},
            {
                "your": pronouns.possessive,
                "yours": pronouns.possessive_pronoun,
                "yourself": pronouns.reflexive,
            },
        )
    )
    out = list(tokens)
    for index, token in enumerate(tokens):
        lower = token.lower()
        if lower in possessive:
            out[index] = possessive[lower]
        elif speaker == "PATIENT" and lower == "me":
            out[index] = pronouns.object
        elif lower in first:
            verb_index = _next_verb(tokens, index + 1)
            nxt = tokens[verb_index].lower() if verb_index is not None else ""
            subject_like = verb_index is not None and (
                nxt in AUXILIARIES or nxt in PRESENT_VERBS or nxt.endswith("ed")
            )
            if speaker == "CLINICIAN" and not subject_like:
                out[index] = pronouns.object
                continue
            out[index] = pronouns.subject
            if subject_like:
                _conjugate_after_subject(out, verb_index, pronouns)
        elif speaker == "CLINICIAN" and lower == "i":
            out[index] = "I"
    joined = detokenize([t for t in out if t])
    joined = re.sub(r"\s+", " ", joined.replace("  ", " ")).strip()
    joined = re.sub(
        r"\b(does|do|is|are|was|were|has|have|can|could|would|should|did|ca|wo) ?n't\b", _expand_not, joined
    )
    joined = re.sub(r"\s+([,.?!;:])", r"\1", joined)
    if not joined:
        return ""
    joined = joined[0].upper() + joined[1:]
    if joined[-1] not in ".?!":
        joined += "."
    return joined


def _expand_not(match: re.Match) -> str:
    verb = {"ca": "can", "wo": "will"}.get(match.group(1), match.group(1))
    return f"{verb} not"
