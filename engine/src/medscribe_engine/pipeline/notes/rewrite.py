"""Sentence clean-up and the rewrite into third person, keeping every negation cue.

The rewrite works on word tokens and only ever *replaces* a pronoun or the verb right after it, or
*drops* a filler (``uh``, ``um``, ``mm-hmm``, cut-off words like ``f-``, a leading ``okay`` / ``so``);
it never drops a negation cue (:data:`NEGATION_CUES`). Patient speech: ``I`` -> the patient's pronoun,
``my`` -> possessive, ``I have`` -> ``he has`` / ``they have``. Clinician speech: ``you`` -> the patient's
pronoun, ``your`` -> possessive; the clinician's own ``I`` / ``we`` stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEGATION_CUES = frozenset(
    {"no", "not", "n't", "never", "without", "denies", "denied", "deny", "none", "nor", "negative", "nothing"}
)
FILLERS = frozenset(
    {"uh", "um", "uhm", "umm", "mm-hmm", "mm", "hmm", "mhm", "uh-huh", "er", "ah", "eh", "huh"}
)
LEADING_FILLERS = frozenset({"okay", "ok", "so", "and", "well", "yeah", "alright", "oh", "but", "now", "yes"})
CONTRACTIONS = {"gon": "going", "wan": "want", "got": "got"}  # ACI-Bench writes "gon na", "wan na", "got ta"
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


NUMBERS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
}
UNITS = frozenset(
    [
        "second",
        "seconds",
        "minute",
        "minutes",
        "hour",
        "hours",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "pound",
        "pounds",
        "times",
        "mg",
        "milligrams",
        "milligram",
        "units",
        "unit",
        "percent",
        "out",
        "cups",
        "cup",
        "drinks",
        "drink",
        "packs",
        "pack",
        "pills",
        "pill",
        "tablets",
        "tablet",
        "puffs",
        "miles",
        "mile",
        "feet",
        "inches",
        "kilograms",
        "kg",
        "liters",
        "days'",
        "weeks'",
        "nights",
        "night",
    ]
)
ABBREVIATIONS = {"milligrams": "mg", "milligram": "mg"}


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

_TOKEN = re.compile(
    r"\*+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|[A-Za-z0-9]+(?:[-'./][A-Za-z0-9]+)*-?|n't|'[a-z]+|[^\sA-Za-z0-9]"
)


def tokenize(text: str) -> list[str]:
    """Words (with inner hyphens, apostrophes, periods, slashes), clitics (``n't``, ``'s``) and marks."""
    return _TOKEN.findall(text)


def detokenize(tokens: list[str]) -> str:
    out = ""
    for token in tokens:
        if not out:
            out = token
        elif (
            token in {",", ".", "?", "!", ";", ":", "%", ")"}
            or token.startswith("'")
            or token == "n't"
            or out.endswith(("(", "$"))
        ):
            out += token
        else:
            out += " " + token
    return out


def third_person(verb: str) -> str:
    lower = verb.lower()
    if lower in IRREGULAR:
        return IRREGULAR[lower]
    if re.search(r"[^aeiou]y$", lower):
        return lower[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z|o)$", lower):
        return lower + "es"
    return lower + "s"


def split_clitics(tokens: list[str]) -> list[str]:
    """``I'm`` -> ``I 'm``, ``don't`` -> ``do n't`` (ACI-Bench's tokenization), ``can't`` -> ``ca n't``."""
    out: list[str] = []
    for token in tokens:
        lower = token.lower()
        match = re.fullmatch(r"([a-z]+)(n't)", lower)
        if match and lower not in {"n't"}:
            out += [token[: len(match.group(1))], "n't"]
            continue
        match = re.fullmatch(r"([a-z]+)('(?:m|s|re|ve|ll|d))", lower)
        if match:
            out += [token[: len(match.group(1))], match.group(2)]
            continue
        out.append(token)
    return out


def clean_tokens(tokens: list[str]) -> list[str]:
    """Drop fillers and cut-off words, expand ``gon na``, drop stutters (``i , i``), leading fillers."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        lower = token.lower()
        nxt = tokens[index + 1].lower() if index + 1 < len(tokens) else ""
        if lower in FILLERS or (lower.endswith("-") and len(lower) <= 3):
            index += 1  # fillers and cut-off words ("f-", "th-")
            continue
        if lower.endswith("-"):
            token, lower = token[:-1], lower[:-1]  # a word the next turn interrupted ("spine-")
        if lower in CONTRACTIONS and nxt in {"na", "ta"}:
            out += [CONTRACTIONS[lower], "to"]
            index += 2
            continue
        if lower == "you" and nxt == "know" and (index + 2 >= len(tokens) or tokens[index + 2] in {",", "."}):
            index += 2
            continue
        if (
            out
            and lower == out[-1].lower()
            and lower.isalpha()
            and lower not in NEGATION_CUES | {"that", "had"}
        ):
            index += 1  # "i i", "the the"
            continue
        if len(out) >= 2 and out[-1] == "," and lower == out[-2].lower() and lower.isalpha():
            out.pop()  # "i , i" -> "i"
            index += 1
            continue
        if lower in NUMBERS and nxt in UNITS:
            token = NUMBERS[lower]  # "five pounds" -> "5 pounds", as notes write them
        elif lower in ABBREVIATIONS:
            token = ABBREVIATIONS[lower]
        out.append(token)
        index += 1
    # leading fillers and the punctuation they leave behind; never a negation cue
    while out and (out[0].lower() in LEADING_FILLERS | {",", "...", "-"} or out[0].lower() == "all"):
        if out[0].lower() == "all" and len(out) > 1 and out[1].lower() == "right":
            out = out[2:]
        elif out[0].lower() == "all":
            break
        else:
            out = out[1:]
    # ", ," and a comma before the end
    cleaned: list[str] = []
    for token in out:
        if token == "," and (not cleaned or cleaned[-1] in {",", "."}):
            continue
        if token in {".", "?", "!"} and cleaned and cleaned[-1] == ",":
            cleaned.pop()
        cleaned.append(token)
    return cleaned


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
