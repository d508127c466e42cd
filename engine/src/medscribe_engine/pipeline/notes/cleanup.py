"""Sentence clean-up before the rewrite into third person: word tokens with fillers, stutters and
cut-off words dropped, ``gon na`` expanded and spoken numbers before a unit written as digits.

It only ever *drops* a filler (``uh``, ``um``, ``mm-hmm``, cut-off words like ``f-``, a leading ``okay`` /
``so``) and never a negation cue (:data:`NEGATION_CUES`); :mod:`~medscribe_engine.pipeline.notes.rewrite`
then puts the cleaned tokens in the third person.
"""

from __future__ import annotations

import re

NEGATION_CUES = frozenset(
    {"no", "not", "n't", "never", "without", "denies", "denied", "deny", "none", "nor", "negative", "nothing"}
)
FILLERS = frozenset(
    {"uh", "um", "uhm", "umm", "mm-hmm", "mm", "hmm", "mhm", "uh-huh", "er", "ah", "eh", "huh"}
)
LEADING_FILLERS = frozenset({"okay", "ok", "so", "and", "well", "yeah", "alright", "oh", "but", "now", "yes"})
CONTRACTIONS = {"gon": "going", "wan": "want", "got": "got"}  # ACI-Bench writes "gon na", "wan na", "got ta"
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
