"""ACI-Bench dialogues as sentences with speaker roles and note-derived section labels.

Shared by ``train.py`` (the role and section models the engine ships) and ``run.py`` (the benchmark).
A dialogue is parsed as ``bench/corpus/build.py`` parses it (same cleaning, ``[doctor]`` -> CLINICIAN,
everything else -> PATIENT), then cut into sentences like the engine's segments.

Section labels are derived from the encounter's reference note, never typed: the note is split at its
upper-case headings, each heading maps to a HealthScribe section (:data:`HEADING_SECTIONS`), and a
sentence takes the section whose note text covers most of its content words (recall of the sentence's
content words, at least :data:`MIN_COVER`). Sentences that speak about the visit itself (:data:`VISIT_FLOW_CUES`) are
``VISIT_FLOW_MANAGEMENT``; sentences the note hardly covers (below :data:`MAX_SMALL_TALK_COVER`) and in
which the engine's clinical NLP finds no entity are ``OTHER`` (small talk). Sentences with fewer than
three content words, and the ones in between, carry no label (``None``).
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ACI_DIR = Path("/work/shared/data/aci-bench")
if not ACI_DIR.is_dir():
    ACI_DIR = REPO_ROOT.parent / "shared" / "data" / "aci-bench"

HEADING_SECTIONS = {
    "CHIEF COMPLAINT": "SUBJECTIVE",
    "HISTORY OF PRESENT ILLNESS": "SUBJECTIVE",
    "REVIEW OF SYSTEMS": "SUBJECTIVE",
    "PAST HISTORY": "SUBJECTIVE",
    "PAST MEDICAL HISTORY": "SUBJECTIVE",
    "PAST SURGICAL HISTORY": "SUBJECTIVE",
    "SURGICAL HISTORY": "SUBJECTIVE",
    "SOCIAL HISTORY": "SUBJECTIVE",
    "FAMILY HISTORY": "SUBJECTIVE",
    "MEDICATIONS": "SUBJECTIVE",
    "CURRENT MEDICATIONS": "SUBJECTIVE",
    "ALLERGIES": "SUBJECTIVE",
    "PHYSICAL EXAMINATION": "OBJECTIVE",
    "PHYSICAL EXAM": "OBJECTIVE",
    "EXAM": "OBJECTIVE",
    "VITALS": "OBJECTIVE",
    "VITALS REVIEWED": "OBJECTIVE",
    "VITAL SIGNS": "OBJECTIVE",
    "RESULTS": "OBJECTIVE",
    "IMAGING": "OBJECTIVE",
    "LABS": "OBJECTIVE",
    "ASSESSMENT AND PLAN": "ASSESSMENT_AND_PLAN",
    "ASSESSMENT": "ASSESSMENT_AND_PLAN",
    "PLAN": "ASSESSMENT_AND_PLAN",
    "INSTRUCTIONS": "ASSESSMENT_AND_PLAN",
    "PATIENT INSTRUCTIONS": "ASSESSMENT_AND_PLAN",
}
SECTIONS = ("SUBJECTIVE", "OBJECTIVE", "ASSESSMENT_AND_PLAN", "VISIT_FLOW_MANAGEMENT", "OTHER")
VISIT_FLOW_CUES = re.compile(
    r"\b(dragon|dax|finalize|the note|nurse|come back|follow up|follow-up|appointment|schedule|"
    r"let me|let's|take a look|examine you|exam(ine)? now|any questions|questions for me|"
    r"see you|check out|hop up|lie back|sit up)\b"
)
MIN_COVER = 0.34
MAX_SMALL_TALK_COVER = 0.2
STOP = set(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "so",
        "if",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "okay",
        "ok",
        "um",
        "uh",
        "yeah",
        "just",
        "like",
        "really",
        "very",
        "well",
        "oh",
        "right",
        "all",
        "also",
        "can",
        "could",
        "would",
        "should",
        "will",
        "about",
        "what",
        "how",
        "any",
        "some",
        "there",
        "here",
        "then",
        "than",
        "too",
        "as",
        "up",
        "out",
    ]
)


def _build_module():
    path = REPO_ROOT / "bench" / "corpus" / "build.py"
    spec = importlib.util.spec_from_file_location("bench_corpus_build", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_corpus_build"] = module
    spec.loader.exec_module(module)
    return module


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9][a-z0-9'\-]*", text.lower()) if w not in STOP and len(w) > 1}


def note_sections(note: str) -> dict[str, set[str]]:
    """HealthScribe section -> content words of the note text under its headings."""
    words: dict[str, set[str]] = {}
    current = None
    for line in note.splitlines():
        heading = line.strip().rstrip(":")
        if heading and heading.isupper() and len(heading) < 40:
            current = HEADING_SECTIONS.get(heading)
            continue
        if current:
            words.setdefault(current, set()).update(content_words(line))
    return words


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if re.search(r"[a-z0-9]", s)]


def label_sentence(sentence: str, sections: dict[str, set[str]], clinical: bool) -> str | None:
    """The note section covering the sentence; small talk or visit flow when the note does not cover
    it and it names no clinical entity (``clinical``); None when unsure."""
    words = content_words(sentence)
    if len(words) < 3:
        return None
    best, cover = None, 0.0
    for section, note_words in sections.items():
        share = len(words & note_words) / len(words)
        if share > cover:
            best, cover = section, share
    if best is not None and cover >= MIN_COVER:
        return best
    if VISIT_FLOW_CUES.search(sentence.lower()):
        return "VISIT_FLOW_MANAGEMENT"
    if cover < MAX_SMALL_TALK_COVER and not clinical:
        return "OTHER"
    return None


def encounters(split: str, nlp=None) -> list[dict]:
    """``[{"id", "sentences": [{"role", "text", "section", "turn", "clinical"}]}]`` for ``train`` or
    ``valid``; ``clinical``: the engine's clinical NLP (``nlp``) finds an entity in the sentence."""
    if nlp is None:
        from medscribe_engine.pipeline.clinical_nlp import load_clinical_nlp

        nlp = load_clinical_nlp()
    build = _build_module()
    with open(ACI_DIR / f"{split}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    result = []
    for row in rows:
        sections = note_sections(row["note"])
        sentences = []
        for turn_index, (role, text) in enumerate(build.parse_dialogue(row["dialogue"])):
            for sentence in split_sentences(text):
                clinical = bool(nlp.analyze(sentence))
                sentences.append(
                    {
                        "role": role,
                        "text": sentence,
                        "section": label_sentence(sentence, sections, clinical),
                        "turn": turn_index,
                        "clinical": clinical,
                    }
                )
        result.append({"id": row["encounter_id"], "sentences": sentences})
    return result
