"""Clinical entities in one utterance: a phrase lookup over the clinical vocabularies, spaCy, medspaCy.

The vocabularies (medications, conditions, anatomy, tests) are built from packages once per process by
:func:`load_clinical_nlp` (:mod:`~medscribe_engine.pipeline.clinical_terms` says how).

Attributes come from short cue patterns: a medication's DOSAGE (number + unit), FREQUENCY and
ROUTE_OR_MODE in the rest of its sentence, a test's TEST_VALUE (number, "120 over 80", "normal", ...).
Traits come from medspaCy's ConText on the sentence: ``NEGATION`` ("denies chest pain", "no fever"),
``PERTAINS_TO_FAMILY`` ("my mother has diabetes"), ``HYPOTHETICAL`` ("if you get a fever") and
``PAST_HISTORY``. Offsets are character offsets into the analyzed text, end-exclusive here; the insights
stage writes them in AWS's end-inclusive form.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field

from medscribe_engine.pipeline.clinical_terms import (
    anatomy_terms,
    condition_terms,
    icd10_descriptions,
    medication_terms,
    test_terms,
)

log = logging.getLogger("medscribe_engine")

MEDICATION = "MEDICATION"
MEDICAL_CONDITION = "MEDICAL_CONDITION"
ANATOMY = "ANATOMY"
TEST_TREATMENT_PROCEDURE = "TEST_TREATMENT_PROCEDURE"

# Cue patterns, not vocabularies: units, frequencies, routes, test values.
NUMBER_WORDS = (
    r"(?:\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"twenty-five|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|half|a half|one hundred|"
    r"two hundred|two hundred fifty|five hundred|a thousand|one thousand)"
)
UNITS = (
    r"(?:mg|milligrams?|mcg|micrograms?|g|grams?|units?|ml|milliliters?|cc|puffs?|tablets?|pills?|"
    r"capsules?|drops?|sprays?|patch(?:es)?|iu|meq)"
)
DOSAGE_RE = re.compile(rf"\b{NUMBER_WORDS}(?:[ -](?:and a half|point \w+))?[ -]?{UNITS}\b", re.I)
FREQUENCY_RE = re.compile(
    r"\b(?:(?:once|twice|three times|four times|one time|two times|\w+ times)\s+(?:a|per|each)\s+"
    r"(?:day|week|month|night)|daily|nightly|weekly|monthly|every (?:day|morning|night|evening|other day|"
    r"week|\w+ hours?|\w+ to \w+ hours)|(?:in the|every) (?:morning|evening)|at (?:bedtime|night)|"
    r"before (?:bed|meals)|with meals|as needed|prn|bid|tid|qid|q\.?d\.?)\b",
    re.I,
)
ROUTE_RE = re.compile(
    r"\b(?:by mouth|orally|oral|p\.?o\.?|inhaled|inhaler|nebulizer|topical(?:ly)?|cream|ointment|"
    r"injection|injectable|shot|subcutaneous(?:ly)?|intramuscular(?:ly)?|intravenous(?:ly)?|iv|"
    r"sublingual(?:ly)?|nasal spray|eye drops|patch|suppository)\b",
    re.I,
)
TEST_VALUE_RE = re.compile(
    r"\b(?:\d+(?:\.\d+)?\s*(?:/|over)\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*%?|\d+(?:\.\d+)?\s*percent|"
    r"(?:within normal limits|normal|abnormal|elevated|high|low|negative|positive|unremarkable|stable))\b",
    re.I,
)
ANSWER_NO_RE = re.compile(r"^\s*(?:no|nope|nah|not really|never|none|negative|denies)\b", re.I)


@dataclass
class Attribute:
    type: str
    begin: int
    end: int  # exclusive
    text: str


@dataclass
class Entity:
    """One clinical entity found in a text (offsets end-exclusive)."""

    category: str
    type: str
    begin: int
    end: int
    text: str
    traits: list[str] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)

    @property
    def negated(self) -> bool:
        return "NEGATION" in self.traits


class ClinicalNLP:
    """spaCy tokenizer + sentencizer, a phrase lookup over the vocabularies, medspaCy ConText.

    :param terms: lower-cased phrase (single spaces) -> (category, type, trait or None).
    :param max_words: the longest phrase in tokens that is looked up.
    """

    def __init__(self, terms: dict[str, tuple[str, str, str | None]], max_words: int = 6):
        import medspacy  # noqa: F401 - registers the medspacy_context factory
        import spacy

        self.nlp = spacy.blank("en")
        self.sentencizer = self.nlp.add_pipe("sentencizer")
        self.context = self.nlp.add_pipe("medspacy_context")
        self.terms = terms
        self.max_words = max_words
        self.size = len(terms)

    def lookup(self, key: str) -> tuple[str, str, str | None] | None:
        """The vocabulary entry of ``key``, else of ``key`` with its last word's plural or -ing ending
        taken off ("chest pains", "lungs", "rashes", "coughing")."""
        entry = self.terms.get(key)
        if entry is not None or len(key) < 4:
            return entry
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("ing", "")):
            if key.endswith(suffix) and not key.endswith("ss"):
                entry = self.terms.get(key[: -len(suffix)] + replacement)
                if entry is not None:
                    return entry
        return None

    def _candidates(self, doc):
        """Longest vocabulary phrases first, left to right, no overlaps; whole tokens only."""
        from spacy.tokens import Span

        kept = []
        start = 0
        while start < len(doc):
            found = None
            for end in range(min(len(doc), start + self.max_words), start, -1):
                entry = self.lookup(doc[start:end].text.lower())
                if entry is not None:
                    found = (Span(doc, start, end, label=entry[0]), entry[1], entry[2])
                    break
            if found is None:
                start += 1
            else:
                kept.append(found)
                start = found[0].end
        return kept

    def analyze(self, text: str) -> list[Entity]:
        """The entities of ``text`` with their traits and attributes, in text order."""
        doc = self.sentencizer(self.nlp.make_doc(text))
        kept = self._candidates(doc)
        doc.ents = [span for span, _, _ in kept]
        doc = self.context(doc)
        entities = []
        for span, type_, trait in kept:
            traits = []
            if span._.is_negated:
                traits.append("NEGATION")
            if span._.is_family:
                traits.append("PERTAINS_TO_FAMILY")
            if span._.is_hypothetical:
                traits.append("HYPOTHETICAL")
            if span._.is_historical:
                traits.append("PAST_HISTORY")
            if trait:
                traits.append(trait)
            entity = Entity(span.label_, type_, span.start_char, span.end_char, span.text, traits)
            entity.attributes = self._attributes(entity, span, text)
            entities.append(entity)
        return entities

    @staticmethod
    def _attributes(entity: Entity, span, text: str) -> list[Attribute]:
        sentence = span.sent
        tail_begin, tail_end = span.end_char, sentence.end_char
        tail = text[tail_begin:tail_end]
        found: list[Attribute] = []
        if entity.category == MEDICATION:
            for type_, pattern in (
                ("DOSAGE", DOSAGE_RE),
                ("FREQUENCY", FREQUENCY_RE),
                ("ROUTE_OR_MODE", ROUTE_RE),
            ):
                match = pattern.search(tail)
                if match:
                    begin, end = tail_begin + match.start(), tail_begin + match.end()
                    found.append(Attribute(type_, begin, end, text[begin:end]))
        elif entity.category == TEST_TREATMENT_PROCEDURE:
            window = tail[:60]
            match = TEST_VALUE_RE.search(window)
            if match and match.group(0).strip():
                begin, end = tail_begin + match.start(), tail_begin + match.end()
                found.append(Attribute("TEST_VALUE", begin, end, text[begin:end].strip()))
        return found


def question_answered_no(question: str, answer: str) -> bool:
    """A yes/no question ("any chest pain?") answered "no" by the next speaker's first words."""
    return question.rstrip().endswith("?") and bool(ANSWER_NO_RE.match(answer))


def load_clinical_nlp() -> ClinicalNLP:
    """Build the vocabularies from the packages and the spaCy/medspaCy pipeline (a few seconds)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    started = time.monotonic()
    icd = icd10_descriptions()
    medications = medication_terms()
    conditions = condition_terms(icd)
    tests = test_terms(icd)
    anatomy = anatomy_terms(icd) - set(conditions) - tests
    terms: dict[str, tuple[str, str, str | None]] = {}
    for phrase in anatomy:
        terms[phrase] = (ANATOMY, "SYSTEM_ORGAN_SITE", None)
    for phrase, trait in conditions.items():
        terms[phrase] = (MEDICAL_CONDITION, "DX_NAME", trait)
    for phrase in tests:
        terms[phrase] = (TEST_TREATMENT_PROCEDURE, "TEST_NAME", None)
    for phrase, type_ in medications.items():
        terms[phrase] = (MEDICATION, type_, None)
    for word in STOP_WORDS:  # single common words are never an entity on their own
        terms.pop(word, None)
    nlp = ClinicalNLP(terms)
    log.info("clinical vocabularies: %d phrases, built in %.1fs", nlp.size, time.monotonic() - started)
    return nlp
