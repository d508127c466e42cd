"""Stage ``phi``: personal health information (``ContentIdentificationType=PHI``, Transcribe Medical).

AWS labels PHI in ``results.entities`` of the transcript, one entry per run of words:
``{"content", "category": "PHI-Personal" | "PHI-Geographic" | "PHI-Account" | "PHI-Vehicle" | "PHI-Other",
"startTime", "endTime", "confidence"}`` (camelCase keys, JSON numbers; engine README). There is no clinical
NER model in the engine, so detection is a set of small detectors over the recognized words, each built
on a packaged resource rather than a hand-typed list:

=========  ============  ===================================================================================
kind       category      how
=========  ============  ===================================================================================
NAME       Personal      capitalized words in the US Census name lists (``names`` package: 1990 census
                         first and last names); after a title (Dr, Mr, Mrs, Ms, Doctor) or "my name is"
                         any capitalized word. Sentence-initial words, month and weekday names (stdlib
                         ``calendar``), English stop words (scikit-learn's list) and the pronoun I are
                         not names on their own; a sentence-initial
                         census first name counts when the transcript never writes it in lower case.
AGE        Personal      a number before "year(s) old" / "-year-old", after "age(d)", or "I'm N" / "I am N"
DATE       Personal      a month name (``calendar``) with a day and/or year, or a numeric m/d(/y) date,
                         checked with ``dateutil.parser``
PHONE      Personal      ``phonenumbers.PhoneNumberMatcher`` (US region)
EMAIL      Personal      an e-mail address pattern
ADDRESS    Geographic    a street number, capitalized street name and a USPS street type (``pyap``'s
                         list from USPS Publication 28); ZIP codes after "zip (code)"
ID         Account       SSN patterns; runs of 6+ digits after "number", "ID", "account", "MRN", ...
URL, IP    Other         URL and IPv4 patterns
=========  ============  ===================================================================================

Detection works on the words' text (punctuation joined as written, channels kept apart), so it sees what
Whisper wrote: names are found where Whisper capitalized them. An entity's confidence is the lowest
recognition confidence of its words; its times are those of its first and last word.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass

from medscribe_engine.pipeline.document import JobDocument, Token

CATEGORIES = {
    "NAME": "PHI-Personal",
    "AGE": "PHI-Personal",
    "DATE": "PHI-Personal",
    "PHONE": "PHI-Personal",
    "EMAIL": "PHI-Personal",
    "ADDRESS": "PHI-Geographic",
    "ZIP": "PHI-Geographic",
    "ID": "PHI-Account",
    "URL": "PHI-Other",
    "IP": "PHI-Other",
}
# On equal spans the more specific kind wins: "my number is 555-123-4567" is a PHONE, not an ID.
PRIORITY = ("PHONE", "EMAIL", "DATE", "AGE", "ADDRESS", "ZIP", "URL", "IP", "ID", "NAME")
TITLES = ("Dr", "Mr", "Mrs", "Ms", "Miss", "Doctor", "Nurse", "Professor")
SENTENCE_END = ".?!"
# A census first name must be at least this common (percent of people) to count on its own; rarer
# entries of the lists ("Will", "May", "Hope" are common) are mostly ordinary words.
MIN_FIRST_NAME_PERCENT = 0.001
MIN_LAST_NAME_PERCENT = 0.0005


@dataclass
class Entity:
    """One PHI entity: tokens ``first..last`` (inclusive indices into ``doc.tokens``)."""

    kind: str
    first: int
    last: int
    content: str
    start: float
    end: float
    confidence: float

    @property
    def category(self) -> str:
        return CATEGORIES[self.kind]


@functools.cache
def census_names(first_only: bool = False) -> frozenset[str]:
    """Lower-case first and last names of the US Census lists shipped in the ``names`` package."""
    import names

    found: set[str] = set()
    for key, path in names.FILES.items():
        if first_only and key == "last":
            continue
        floor = MIN_LAST_NAME_PERCENT if key == "last" else MIN_FIRST_NAME_PERCENT
        with open(path, encoding="ascii") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and float(parts[1]) >= floor:
                    found.add(parts[0].lower())
    return frozenset(found)


@functools.cache
def stop_words() -> frozenset[str]:
    """English function words (scikit-learn's list): never a name on their own ("My", "So", "Will")."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@functools.cache
def calendar_words() -> frozenset[str]:
    """Month and weekday names and abbreviations (stdlib ``calendar``, C locale), lower case."""
    words = [*calendar.month_name, *calendar.month_abbr, *calendar.day_name, *calendar.day_abbr]
    return frozenset(word.lower() for word in words if word)


@functools.cache
def street_type_pattern() -> str:
    """The USPS street types of ``pyap`` (its US data), as one alternation."""
    from pyap.source_US.data import street_type_list

    types = sorted({kind.strip() for kind in street_type_list if kind.strip()}, key=len, reverse=True)
    return "|".join(re.escape(kind) for kind in types)


@functools.cache
def _patterns() -> dict[str, re.Pattern]:
    months = "|".join(
        sorted((m for m in [*calendar.month_name, *calendar.month_abbr] if m), key=len, reverse=True)
    )
    day = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
    year = r"(?:19|20)\d\d"
    number = r"(?:1[01]\d|\d{1,2})"
    return {
        "AGE": re.compile(
            rf"\b(?P<x>{number})(?:[ -]years?[ -]old\b|[ -]year[ -]old\b)"
            rf"|\b(?:age|aged|ages) (?:of )?(?P<y>{number})\b"
            rf"|\b(?:I'm|I am) (?P<z>{number})\b"
            r"(?! (?:minutes|hours|days|weeks|months|percent|times|pounds|feet|foot|inches))",
            re.IGNORECASE,
        ),
        "DATE": re.compile(
            rf"\b(?:(?:{months})\.? {day}(?:,? {year})?|{day} of (?:{months})(?:,? {year})?"
            rf"|(?:{months}) {year}|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)\b"
        ),
        "EMAIL": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
        "URL": re.compile(r"\b(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|gov|edu)\b", re.IGNORECASE),
        "IP": re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
        "ID": re.compile(
            r"\b\d{3}-\d{2}-\d{4}\b"
            r"|\b(?:number|ID|account|MRN|record|policy|member|license|insurance|Medicare|Medicaid)"
            r"(?: is)? (?P<x>(?=[A-Z-]*\d)[A-Z0-9][A-Z0-9-]{5,})\b",
            re.IGNORECASE,
        ),
        "ZIP": re.compile(r"\bzip (?:code )?(?:is )?(?P<x>\d{5}(?:-\d{4})?)\b", re.IGNORECASE),
        "ADDRESS": re.compile(
            rf"\b\d{{1,6}} (?:(?:North|South|East|West|N|S|E|W)\.? )?(?:[A-Z][a-z]+ ){{1,3}}"
            rf"(?:{street_type_pattern()})\b\.?",
        ),
    }


class Text:
    """The words of a token list as one string, with each character's token index.

    Words are separated by a space, punctuation is attached to its word as written, and a change of
    channel or speaker starts a new line, so no pattern runs across two voices.
    """

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        parts: list[str] = []
        owners: list[int] = []
        previous: Token | None = None
        for index, token in enumerate(tokens):
            if previous is not None and token.is_word:
                voice_changed = (token.channel, token.speaker) != (previous.channel, previous.speaker)
                parts.append("\n" if voice_changed else " ")
                owners.append(-1)
            parts.append(token.content)
            owners.extend([index] * len(token.content))
            previous = token
        self.text = "".join(parts)
        self.owners = owners

    def token_span(self, start: int, end: int) -> tuple[int, int] | None:
        """First and last *word* token covering characters ``start..end-1``."""
        indices = [i for i in self.owners[start:end] if i >= 0 and self.tokens[i].is_word]
        if not indices:
            return None
        return indices[0], indices[-1]


def _entity(kind: str, tokens: list[Token], first: int, last: int) -> Entity:
    words = [t for t in tokens[first : last + 1] if t.is_word]
    content = " ".join(t.content for t in words)
    return Entity(
        kind,
        first,
        last,
        content,
        words[0].start,
        words[-1].end,
        min(t.confidence for t in words),
    )


def _core(word: str) -> str:
    return word.strip(".,?!;:'\"").removesuffix("'s").removesuffix("’s")


def find_names(tokens: list[Token]) -> list[tuple[int, int]]:
    """Runs of name words: census names written capitalized, and capitalized words after a title or
    after "my name is" / "this is" / "I'm"."""
    known = census_names() - stop_words()
    calendar_names = calendar_words()
    spans: list[tuple[int, int]] = []
    first_names = census_names(first_only=True) - stop_words()
    words = [i for i, t in enumerate(tokens) if t.is_word]
    written_lower = {_core(tokens[i].content) for i in words if _core(tokens[i].content).islower()}
    position = {index: n for n, index in enumerate(words)}

    def sentence_initial(index: int) -> bool:
        n = position[index]
        if n == 0:
            return True
        previous = words[n - 1]
        between = tokens[previous + 1 : index]
        if any(t.content in SENTENCE_END for t in between):
            return True
        return (tokens[previous].channel, tokens[previous].speaker) != (
            tokens[index].channel,
            tokens[index].speaker,
        )

    def cue_before(index: int) -> bool:
        n = position[index]
        before = [_core(tokens[i].content).lower() for i in words[max(0, n - 3) : n]]
        title = n > 0 and _core(tokens[words[n - 1]].content).rstrip(".") in TITLES
        return title or before[-3:] == ["my", "name", "is"] or before[-2:] == ["name", "is"]

    def capitalized(text: str) -> bool:
        return len(text) > 1 and text[0].isupper() and not text.isupper() and text.isalpha()

    n = 0
    while n < len(words):
        index = words[n]
        core = _core(tokens[index].content)
        lower = core.lower()
        is_name = False
        if capitalized(core) and lower not in calendar_names and core not in TITLES:
            if cue_before(index) or (lower in known and not sentence_initial(index)):
                is_name = True
            elif lower in known and lower in first_names and lower not in written_lower:
                is_name = True  # sentence-initial, never written in lower case in this transcript
            elif lower in known and n + 1 < len(words):
                following = _core(tokens[words[n + 1]].content)
                is_name = capitalized(following) and following.lower() in known
        if not is_name:
            n += 1
            continue
        first = last = index
        n += 1
        while n < len(words):  # a run of capitalized name words: "Brian White"
            nxt = words[n]
            core = _core(tokens[nxt].content)
            punctuation_between = any(not t.is_word for t in tokens[last + 1 : nxt])
            other_voice = (tokens[nxt].channel, tokens[nxt].speaker) != (
                tokens[last].channel,
                tokens[last].speaker,
            )
            if punctuation_between or other_voice or not capitalized(core) or core.lower() in calendar_names:
                break
            if core.lower() not in known:
                break
            last = nxt
            n += 1
        spans.append((first, last))
    return spans


def _valid_date(text: str) -> bool:
    from dateutil import parser

    try:
        parser.parse(re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text).replace(" of ", " "), fuzzy=True)
    except (ValueError, OverflowError):
        return False
    return True


def _phones(text: str) -> list[tuple[int, int]]:
    import phonenumbers

    # POSSIBLE: the length fits a US number; VALID would also ask for an assigned area code and exchange
    matcher = phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.POSSIBLE)
    return [(match.start, match.end) for match in matcher]


def detect(tokens: list[Token]) -> list[Entity]:
    """PHI entities of ``tokens``, in order, not overlapping (a longer entity wins over a shorter one)."""
    if not any(t.is_word for t in tokens):
        return []
    text = Text(tokens)
    candidates: list[tuple[str, int, int]] = [("NAME", a, b) for a, b in find_names(tokens)]
    for kind, pattern in _patterns().items():
        for match in pattern.finditer(text.text):
            group = next((g for g in ("x", "y", "z") if pattern.groupindex.get(g) and match.group(g)), None)
            start, end = match.span(group) if group else match.span()
            if kind == "DATE" and not _valid_date(match.group(0)):
                continue
            span = text.token_span(start, end)
            if span:
                candidates.append((kind, *span))
    for start, end in _phones(text.text):
        span = text.token_span(start, end)
        if span:
            candidates.append(("PHONE", *span))
    candidates.sort(key=lambda c: (c[1], -(c[2] - c[1]), PRIORITY.index(c[0])))
    entities: list[Entity] = []
    for kind, first, last in candidates:
        if entities and first <= entities[-1].last:
            continue  # overlaps a longer or earlier entity
        entities.append(_entity(kind, tokens, first, last))
    return entities


class IdentifyPhi:
    """``doc.phi_entities`` from ``doc.tokens`` (after vocabulary rewriting, before the writer)."""

    name = "phi"
    requires = ("doc.tokens",)
    assigns = ("doc.phi_entities",)

    def __call__(self, doc: JobDocument) -> None:
        doc.phi_entities = detect(doc.tokens)
