"""The NoteTemplate values and their sections (SectionName strings, in the order the note shows them).

HISTORY_AND_PHYSICAL's section names are AWS's (page "AWS HealthScribe Clinical Documentation file",
and its example file). For the other templates the docs name the sections (Goal, Intervention, Response,
Progress, Plan; Behavior ...; Situation ...; Data, Assessment, Plan; Subjective, Objective, Assessment,
Plan); they are written here in the same upper-case form.

The builder sorts each kept sentence into one *kind* (:data:`KINDS`); a template says which kinds feed
each of its sections. A kind may feed no section of a template (it is then left out of that note).
"""

from __future__ import annotations

DEFAULT_TEMPLATE = "HISTORY_AND_PHYSICAL"

KINDS = (
    "CHIEF_COMPLAINT",
    "HISTORY_OF_PRESENT_ILLNESS",
    "REVIEW_OF_SYSTEMS",
    "PAST_MEDICAL_HISTORY",
    "PAST_FAMILY_HISTORY",
    "PAST_SOCIAL_HISTORY",
    "PHYSICAL_EXAMINATION",
    "DIAGNOSTIC_TESTING",
    "ASSESSMENT",
    "PLAN",
    # kinds used only by the behavioral templates
    "GOAL",  # what the patient wants to reach ("I want to", "my goal")
    "INTERVENTION",  # what the clinician did or discussed in the session
    "RESPONSE",  # how the patient took it (the patient's answer to an intervention or plan)
    "PROGRESS",  # better, worse, since last time
)

SUBJECTIVE = (
    "CHIEF_COMPLAINT",
    "HISTORY_OF_PRESENT_ILLNESS",
    "REVIEW_OF_SYSTEMS",
    "PAST_MEDICAL_HISTORY",
    "PAST_FAMILY_HISTORY",
    "PAST_SOCIAL_HISTORY",
)
OBJECTIVE = ("PHYSICAL_EXAMINATION", "DIAGNOSTIC_TESTING")

# template -> [(SectionName, kinds that feed it)]
TEMPLATES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "HISTORY_AND_PHYSICAL": [(kind, (kind,)) for kind in KINDS[:10]],
    "GIRPP": [
        ("GOAL", ("GOAL", "CHIEF_COMPLAINT")),
        ("INTERVENTION", ("INTERVENTION", "ASSESSMENT")),
        ("RESPONSE", ("RESPONSE",)),
        ("PROGRESS", ("PROGRESS",)),
        ("PLAN", ("PLAN",)),
    ],
    "BIRP": [
        ("BEHAVIOR", ("HISTORY_OF_PRESENT_ILLNESS", "REVIEW_OF_SYSTEMS", "PROGRESS", "GOAL", *OBJECTIVE)),
        ("INTERVENTION", ("INTERVENTION", "ASSESSMENT")),
        ("RESPONSE", ("RESPONSE",)),
        ("PLAN", ("PLAN",)),
    ],
    "SIRP": [
        ("SITUATION", (*SUBJECTIVE, "PROGRESS", "GOAL", *OBJECTIVE)),
        ("INTERVENTION", ("INTERVENTION", "ASSESSMENT")),
        ("RESPONSE", ("RESPONSE",)),
        ("PLAN", ("PLAN",)),
    ],
    "DAP": [
        ("DATA", (*SUBJECTIVE, "PROGRESS", "GOAL", "RESPONSE", *OBJECTIVE)),
        ("ASSESSMENT", ("ASSESSMENT", "INTERVENTION")),
        ("PLAN", ("PLAN",)),
    ],
    "BEHAVIORAL_SOAP": [
        ("SUBJECTIVE", (*SUBJECTIVE, "PROGRESS", "GOAL", "RESPONSE")),
        ("OBJECTIVE", OBJECTIVE),
        ("ASSESSMENT", ("ASSESSMENT", "INTERVENTION")),
        ("PLAN", ("PLAN",)),
    ],
    "PHYSICAL_SOAP": [
        ("SUBJECTIVE", (*SUBJECTIVE, "PROGRESS", "GOAL", "RESPONSE")),
        ("OBJECTIVE", OBJECTIVE),
        ("ASSESSMENT", ("ASSESSMENT", "INTERVENTION")),
        ("PLAN", ("PLAN",)),
    ],
}

# In HISTORY_AND_PHYSICAL the behavioral kinds fold into the nearest H&P section.
HP_FOLD = {
    "GOAL": "HISTORY_OF_PRESENT_ILLNESS",
    "PROGRESS": "HISTORY_OF_PRESENT_ILLNESS",
    "INTERVENTION": "PLAN",
}


def section_names(template: str) -> list[str]:
    return [name for name, _ in TEMPLATES[template]]
