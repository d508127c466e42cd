"""Stage ``roles``: ParticipantRole (CLINICIAN_0, PATIENT_0, ...) of every segment.

With channel identification the request's ``ChannelDefinitions`` decide: channel -> CLINICIAN / PATIENT,
numbered per role in channel order (``CLINICIAN_0``, ``PATIENT_0``).

With speaker labels a lexical rule decides which speaker is the clinician. For each speaker:

* clinician evidence: 2 per question the speaker asks (segment ending in ``?``), 1 per second-person
  word (you, your, ...), 1 per examination / plan word (blood pressure, prescribe, follow up, ...);
* patient evidence: 1 per first-person singular word (I, my, me, ...), 1 per symptom word
  (pain, hurts, tired, worse, ...);
* score = (clinician evidence - patient evidence) / words spoken.

The speaker with the highest score is CLINICIAN_0; the others are PATIENT_0, PATIENT_1, ... in order of
descending score. A single speaker is CLINICIAN_0 unless its score is negative (then PATIENT_0).
Ties go to the speaker who spoke first. The rule looks at words only while the stage runs; nothing
of it is kept or logged.
"""

from __future__ import annotations

import re

from medscribe.engine.pipeline.document import JobDocument, Segment

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


def lexical_score(segments: list[Segment]) -> float:
    """(clinician evidence - patient evidence) / words, over one speaker's segments."""
    clinician = patient = words = 0
    for segment in segments:
        if segment.tokens and segment.tokens[-1].content == "?":
            clinician += 2
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


def roles_from_speech(segments: list[Segment]) -> dict[str, str]:
    """Speaker label -> role, by the lexical rule of this module."""
    by_speaker: dict[str, list[Segment]] = {}
    for segment in segments:
        by_speaker.setdefault(segment.source, []).append(segment)
    if not by_speaker:
        return {}
    first_seen = {speaker: index for index, speaker in enumerate(by_speaker)}
    scores = {speaker: lexical_score(segs) for speaker, segs in by_speaker.items()}
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


class AssignRoles:
    """``doc.roles`` and every segment's ``role``."""

    name = "roles"

    def __call__(self, doc: JobDocument) -> None:
        if doc.channel_identification:
            doc.roles = roles_from_channels(doc.request.get("ChannelDefinitions") or [])
        else:
            doc.roles = roles_from_speech(doc.segments)
        for segment in doc.segments:
            segment.role = doc.roles.get(segment.source, "CLINICIAN_0")
