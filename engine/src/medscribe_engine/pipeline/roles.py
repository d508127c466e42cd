"""Stage ``roles``: ParticipantRole (CLINICIAN_0, PATIENT_0, ...) of every segment.

With channel identification the request's ``ChannelDefinitions`` decide: channel -> CLINICIAN / PATIENT,
numbered per role in channel order (``CLINICIAN_0``, ``PATIENT_0``).

With speaker labels, what each speaker says decides which one is the clinician. With a sentence
encoder (the engine always has one), every segment gets P(clinician) from a logistic regression over its
all-MiniLM-L6-v2 embedding (``roles_model.json``, trained by ``bench/insights/train.py`` on the doctor and
patient turns of ACI-Bench train); a speaker's score is the mean log-odds of their segments, weighted by
words, plus ``lexical_weight`` (:class:`RoleParams`) times the lexical score below. Without an encoder,
the lexical rule alone decides. The lexical rule, for each speaker:

* clinician evidence: ``question_weight`` per question the speaker asks (segment ending in ``?``), 1 per
  second-person word (you, your, ...), 1 per examination / plan word (blood pressure, prescribe, ...);
* patient evidence: 1 per first-person singular word (I, my, me, ...), 1 per symptom word
  (pain, hurts, tired, worse, ...);
* score = (clinician evidence - patient evidence) / words spoken.

The speaker with the highest score is CLINICIAN_0; the others are PATIENT_0, PATIENT_1, ... in order of
descending score. A single speaker is CLINICIAN_0 unless its score is negative (then PATIENT_0).
Ties go to the speaker who spoke first. The rule looks at words only while the stage runs; nothing
of it is kept or logged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medscribe_engine.pipeline.document import JobDocument, Segment

MODEL_PATH = Path(__file__).with_name("roles_model.json")


@dataclass(frozen=True)
class RoleParams:
    """How the lexical rule and the trained model are weighed."""

    lexical_weight: float = 4.0  # x the lexical score, added to the log-odds: both beat either alone
    question_weight: int = 2  # a question counts as two cue words: clinicians ask, patients answer


DEFAULTS = RoleParams()

SECOND_PERSON = frozenset({"you", "your", "yours", "yourself", "you're", "you've", "you'll", "you'd"})
FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself"})
CLINICIAN_WORDS = frozenset(
    {
        "exam",
        "examine",
        "examination",
        "pressure",
        "rate",
        "prescribe",
        "prescription",
        "start",
        "continue",
        "increase",
        "decrease",
        "dose",
        "dosage",
        "milligrams",
        "mg",
        "plan",
        "recommend",
        "refer",
        "referral",
        "test",
        "tests",
        "lab",
        "labs",
        "results",
        "diagnosis",
        "assessment",
        "treatment",
        "follow",
        "schedule",
        "listen",
        "breath",
        "deep",
        "we'll",
        "let's",
        "let",
        "keep",
        "add",
        "order",
        "x-ray",
        "scan",
        "tell",
        "describe",
    }
)
PATIENT_WORDS = frozenset(
    {
        "pain",
        "hurts",
        "hurt",
        "hurting",
        "ache",
        "aches",
        "aching",
        "feel",
        "feeling",
        "felt",
        "tired",
        "dizzy",
        "worse",
        "since",
        "sick",
        "nausea",
        "sore",
        "swollen",
        "can't",
        "sleep",
        "bothering",
        "itchy",
        "bleeding",
        "weak",
        "fever",
    }
)
WORD_RE = re.compile(r"[a-z][a-z'\-]*")


def lexical_score(segments: list[Segment], params: RoleParams = DEFAULTS) -> float:
    """(clinician evidence - patient evidence) / words, over one speaker's segments."""
    clinician = patient = words = 0
    for segment in segments:
        if segment.tokens and segment.tokens[-1].content == "?":
            clinician += params.question_weight
        for token in segment.tokens:
            if not token.is_word:
                continue
            for word in WORD_RE.findall(token.content.lower()):
                words += 1
                if word in SECOND_PERSON:
                    clinician += 1
                elif word in FIRST_PERSON:
                    patient += 1
                if word in CLINICIAN_WORDS:
                    clinician += 1
                elif word in PATIENT_WORDS:
                    patient += 1
    return (clinician - patient) / max(words, 1)


class RoleModel:
    """The trained P(clinician | sentence embedding), evaluated with numpy."""

    def __init__(self, path: Path = MODEL_PATH):
        data = json.loads(path.read_text())
        self.coef = np.asarray(data["coef"], dtype=np.float32)
        self.intercept = float(data["intercept"])

    def log_odds(self, embeddings) -> np.ndarray:
        return np.asarray(embeddings, dtype=np.float32) @ self.coef + self.intercept


def _word_count(segment: Segment) -> int:
    return sum(1 for token in segment.tokens if token.is_word)


def speaker_scores(segments: list[Segment], log_odds=None, params: RoleParams = DEFAULTS) -> dict[str, float]:
    """Clinician score per speaker: lexical score, plus the word-weighted mean log-odds if given."""
    by_speaker: dict[str, list[int]] = {}
    for index, segment in enumerate(segments):
        by_speaker.setdefault(segment.source, []).append(index)
    scores = {}
    for speaker, indexes in by_speaker.items():
        lexical = lexical_score([segments[i] for i in indexes], params)
        if log_odds is None:
            scores[speaker] = lexical
            continue
        weights = np.array([max(_word_count(segments[i]), 1) for i in indexes], dtype=np.float32)
        mean = float(np.dot(weights, np.asarray(log_odds)[indexes]) / weights.sum())
        scores[speaker] = mean + params.lexical_weight * lexical
    return scores


def roles_from_speech(
    segments: list[Segment], log_odds=None, params: RoleParams = DEFAULTS
) -> dict[str, str]:
    """Speaker label -> role, from :func:`speaker_scores` (per-segment ``log_odds`` optional)."""
    by_speaker: dict[str, list[Segment]] = {}
    for segment in segments:
        by_speaker.setdefault(segment.source, []).append(segment)
    if not by_speaker:
        return {}
    first_seen = {speaker: index for index, speaker in enumerate(by_speaker)}
    scores = speaker_scores(segments, log_odds, params)
    ranked = sorted(by_speaker, key=lambda speaker: (-scores[speaker], first_seen[speaker]))
    if len(ranked) == 1:
        return {ranked[0]: "CLINICIAN_0" if scores[ranked[0]] >= 0 else "PATIENT_0"}
    roles = {ranked[0]: "CLINICIAN_0"}
    for number, speaker in enumerate(ranked[1:]):
        roles[speaker] = f"PATIENT_{number}"
    return roles


def roles_from_channels(channel_definitions: list[dict]) -> dict[str, str]:
    """``ch_N`` -> role from the request's ChannelDefinitions."""
    roles: dict[str, str] = {}
    counts: dict[str, int] = {}
    for definition in sorted(channel_definitions, key=lambda item: int(item["ChannelId"])):
        role = definition["ParticipantRole"]
        roles[f"ch_{int(definition['ChannelId'])}"] = f"{role}_{counts.get(role, 0)}"
        counts[role] = counts.get(role, 0) + 1
    return roles


def segment_embeddings(doc: JobDocument, encoder):
    """Normalized sentence embeddings of ``doc.segments``, computed once per document (sections reuse them)."""
    cached = doc.segment_embeddings
    if cached is not None and len(cached) == len(doc.segments):
        return cached
    texts = [segment.content for segment in doc.segments]
    embeddings = np.asarray(
        encoder.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False),
        dtype=np.float32,
    )
    doc.segment_embeddings = embeddings
    return embeddings


class AssignRoles:
    """``doc.roles`` and every segment's ``role``.

    :param encoder: a sentence-transformers model (all-MiniLM-L6-v2), or None for the lexical rule alone.
    :param model: the role model (default: the shipped ``roles_model.json`` when there is an encoder).
    :param params: the weights (default :class:`RoleParams`).
    """

    name = "roles"
    requires = ("doc.segments",)
    assigns = ("doc.roles", "segment.role")

    def __init__(self, encoder=None, model: RoleModel | None = None, params: RoleParams | None = None):
        self.encoder = encoder
        self.model = model or (RoleModel() if encoder is not None else None)
        self.params = params or DEFAULTS

    def __call__(self, doc: JobDocument) -> None:
        if doc.channel_identification:
            doc.roles = roles_from_channels(doc.request.get("ChannelDefinitions") or [])
        elif self.encoder is not None and self.model is not None and doc.segments:
            log_odds = self.model.log_odds(segment_embeddings(doc, self.encoder))
            doc.roles = roles_from_speech(doc.segments, log_odds, self.params)
        else:
            doc.roles = roles_from_speech(doc.segments, params=self.params)
        for segment in doc.segments:
            segment.role = doc.roles.get(segment.source, "CLINICIAN_0")
