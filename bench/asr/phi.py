"""The PHI figures of ``run.py``: a job's entities (``ContentIdentificationType=PHI``) against ACI-Bench's
metadata (fictional names and ages) and the reference text of the recording."""

from __future__ import annotations

from pathlib import Path


def encounter_metadata(path: Path) -> dict[str, dict]:
    """ACI-Bench's metadata rows by encounter id (fictional names and ages), {} without the file."""
    import csv

    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["encounter_id"]: row for row in csv.DictReader(handle)}


def phi_counts(entities: list[dict], reference_text: str, metadata: dict | None, normalize) -> dict:
    """Name and age mentions found, expected and matched for one recording.

    Truth is the encounter's metadata: the patient's first and family name and the doctor's name (when
    listed) and the patient's age; a mention is an occurrence in the reference text (words normalized by
    medwer's normalizer, numbers folded). An entity is name-like when its words are all letters and
    age-like when it holds a number with "year old" or on its own; its words are matched against the
    truth. Precision is a lower bound: the metadata lists only these people, so other true names (a
    relative, another doctor) count as false. Dates have no truth in the metadata: only counted.
    """
    names = set()
    age = None
    if metadata:
        for column in ("patient_firstname", "patient_familyname", "doctor_name"):
            names.update(normalize(metadata.get(column) or "").split())
        age = normalize(metadata.get("patient_age") or "").strip() or None
    reference = normalize(reference_text).split()
    counts = {"name_expected": sum(word in names for word in reference), "name_found": 0, "name_right": 0}
    counts.update({"age_expected": sum(word == age for word in reference), "age_found": 0, "age_right": 0})
    counts["dates_found"] = 0
    found_names: dict[str, int] = {}
    age_matches = 0
    for entity in entities:
        words = normalize(entity["content"]).split()
        content = entity["content"].lower()
        if any(month in content.split() for month in MONTHS):
            counts["dates_found"] += 1
        elif words and all(word.isalpha() for word in words):
            counts["name_found"] += len(words)
            for word in words:
                found_names[word] = found_names.get(word, 0) + 1
        elif any(word.isdigit() for word in words) and ("year" in content or len(words) == 1):
            counts["age_found"] += 1
            age_matches += age is not None and age in words
    counts["age_right"] = min(age_matches, counts["age_expected"])  # each mention matched at most once
    for word, count in found_names.items():  # each reference mention matched at most once
        if word in names:
            counts["name_right"] += min(count, sum(ref == word for ref in reference))
    return counts


MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december",
}  # fmt: skip
