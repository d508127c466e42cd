"""Stage ``sections``: HealthScribe SectionDetails of every segment (HealthScribe only).

Sections are AWS's ``SectionName`` strings: ``SUBJECTIVE`` (the patient's account of their health),
``OBJECTIVE`` (exam, vitals, labs, imaging), ``ASSESSMENT_AND_PLAN``, ``VISIT_FLOW_MANAGEMENT`` (the
visit itself: "let me take a look", "the nurse will be in") and ``OTHER`` (small talk).

A segment's section is decided by a multinomial logistic regression (``sections_model.json``, trained by
``bench/insights/train.py`` on ACI-Bench train sentences labelled from their reference notes) over its
all-MiniLM-L6-v2 embedding, whether a clinician said it, its position in the visit and whether the
``insights`` stage (which runs before) found a clinical entity in it. The class
probabilities are smoothed with the neighbouring segments' (a visit moves through its sections in runs).
Segments of fewer than three content words ("Okay.", "Yes, that's right.") answer or acknowledge the
segment before them and take its section; a visit that opens with one is ``VISIT_FLOW_MANAGEMENT``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medscribe_engine.pipeline.document import JobDocument, Segment
from medscribe_engine.pipeline.roles import segment_embeddings

MODEL_PATH = Path(__file__).with_name("sections_model.json")
SECTION_NAMES = ("SUBJECTIVE", "OBJECTIVE", "ASSESSMENT_AND_PLAN", "VISIT_FLOW_MANAGEMENT", "OTHER")
FILLER = frozenset(
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
        "is",
        "are",
        "was",
        "be",
        "i",
        "you",
        "it",
        "we",
        "my",
        "your",
        "this",
        "that",
        "do",
        "have",
        "has",
        "not",
        "no",
        "yes",
        "okay",
        "ok",
        "um",
        "uh",
        "yeah",
        "yep",
        "just",
        "like",
        "really",
        "very",
        "well",
        "oh",
        "right",
        "all",
        "sure",
        "good",
        "great",
        "fine",
        "thanks",
        "thank",
        "hmm",
        "mm-hmm",
        "alright",
        "got",
        "it's",
        "that's",
        "i'm",
    ]
)


@dataclass(frozen=True)
class SectionParams:
    """How the model's per-segment probabilities become sections."""

    neighbour_weight: float = 0.3  # share of each neighbour's probabilities added: a visit moves in runs
    short: int = 3  # fewer content words than this ("Okay.") answer the segment before: its section


DEFAULTS = SectionParams()


def content_word_count(text: str) -> int:
    return sum(1 for w in re.findall(r"[a-z0-9][a-z0-9'\-]*", text.lower()) if w not in FILLER)


class SectionModel:
    """The trained logistic regression, evaluated with numpy."""

    def __init__(self, path: Path = MODEL_PATH):
        data = json.loads(path.read_text())
        self.classes = list(data["classes"])
        self.coef = np.asarray(data["coef"], dtype=np.float32)
        self.intercept = np.asarray(data["intercept"], dtype=np.float32)
        unknown = set(self.classes) - set(SECTION_NAMES)
        if unknown:
            raise ValueError(
                f"section model has classes that are not HealthScribe sections: {sorted(unknown)}"
            )

    def probabilities(self, embeddings, clinician, positions, clinical) -> np.ndarray:
        extra = np.asarray([clinician, positions, clinical], dtype=np.float32).T
        features = np.hstack([np.asarray(embeddings, dtype=np.float32), extra])
        logits = features @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def assign_sections(
    segments: list[Segment],
    embeddings,
    model: SectionModel,
    clinical: set[str] | None = None,
    params: SectionParams = DEFAULTS,
) -> list[str]:
    """One section name per segment (``embeddings``: one normalized row per segment; ``clinical``: the
    ids of the segments that have a ClinicalInsight)."""
    if not segments:
        return []
    count = len(segments)
    clinician = [bool(segment.role and segment.role.startswith("CLINICIAN")) for segment in segments]
    positions = [index / max(count - 1, 1) for index in range(count)]
    has_entity = [segment.segment_id in (clinical or set()) for segment in segments]
    probs = model.probabilities(embeddings, clinician, positions, has_entity)
    smoothed = probs.copy()
    smoothed[1:] += params.neighbour_weight * probs[:-1]
    smoothed[:-1] += params.neighbour_weight * probs[1:]
    names = [model.classes[int(index)] for index in smoothed.argmax(axis=1)]
    result: list[str] = []
    for index, segment in enumerate(segments):
        if content_word_count(segment.content) < params.short:
            result.append(result[-1] if result else "VISIT_FLOW_MANAGEMENT")
        else:
            result.append(names[index])
    return result


class AssignSections:
    """Every segment's ``section``.

    :param encoder: a sentence-transformers model (all-MiniLM-L6-v2).
    :param model: the section model (default: the shipped ``sections_model.json``).
    :param params: how probabilities become sections (default :class:`SectionParams`).
    """

    name = "sections"
    requires = ("doc.segments", "segment.role")
    assigns = ("segment.section",)

    def __init__(self, encoder, model: SectionModel | None = None, params: SectionParams | None = None):
        self.encoder = encoder
        self.model = model or SectionModel()
        self.params = params or DEFAULTS

    def __call__(self, doc: JobDocument) -> None:
        if not doc.segments:
            return
        embeddings = segment_embeddings(doc, self.encoder)
        clinical = {span["SegmentId"] for insight in doc.insights for span in insight["Spans"]}
        sections = assign_sections(doc.segments, embeddings, self.model, clinical, self.params)
        for segment, section in zip(doc.segments, sections, strict=True):
            segment.section = section
