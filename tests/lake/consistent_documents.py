"""A small consistent HealthScribe transcript and clinical document built here (the AWS examples'
placeholder ids do not cross-reference, see tests/fixtures/aws/SOURCES.md): insights and evidence point at
the transcript's own segments. For offsets and join integrity (``test_lake_integrity.py``) and the nights
of the quality gate and the reviewer page."""

from __future__ import annotations

SEGMENTS = [
    ("s1", "CLINICIAN_0", "I see you take metformin daily.", 0.0, 2.0),
    ("s2", "PATIENT_0", "Yes, and my blood sugar is high.", 2.1, 4.0),
]


def consistent_transcript() -> dict:
    """A HealthScribe transcript whose insights point at its own segments, offsets end-inclusive."""

    def span(segment_id: str, word: str) -> dict:
        content = dict((s[0], s[2]) for s in SEGMENTS)[segment_id]
        begin = content.index(word)
        return {
            "SegmentId": segment_id,
            "BeginCharacterOffset": begin,
            "EndCharacterOffset": begin + len(word) - 1,
            "Content": word,
        }

    return {
        "Conversation": {
            "ConversationId": "c",
            "JobName": "job-1",
            "TranscriptItems": [],
            "TranscriptSegments": [
                {
                    "SegmentId": sid,
                    "ParticipantDetails": {"ParticipantRole": role},
                    "Content": text,
                    "BeginAudioTime": begin,
                    "EndAudioTime": end,
                }
                for sid, role, text, begin, end in SEGMENTS
            ],
            "ClinicalInsights": [
                {
                    "InsightId": "i1",
                    "InsightType": "ClinicalEntity",
                    "Category": "MEDICATION",
                    "Type": "GENERIC_NAME",
                    "Spans": [span("s1", "metformin")],
                    "Attributes": [
                        {"AttributeId": "a1", "Type": "FREQUENCY", "Spans": [span("s1", "daily")]}
                    ],
                },
                {
                    "InsightId": "i2",
                    "InsightType": "ClinicalEntity",
                    "Category": "TEST_TREATMENT_PROCEDURE",
                    "Type": "TEST_NAME",
                    "Spans": [span("s2", "blood sugar")],
                    "Attributes": [
                        {"AttributeId": "a2", "Type": "TEST_VALUE", "Spans": [span("s2", "high")]}
                    ],
                },
            ],
        }
    }


def consistent_document() -> dict:
    return {
        "ClinicalDocumentation": {
            "Sections": [
                {
                    "SectionName": "HISTORY_OF_PRESENT_ILLNESS",
                    "Summary": [
                        {
                            "SummarizedSegment": "Takes metformin daily.",
                            "EvidenceLinks": [{"SegmentId": "s1"}],
                        },
                        {
                            "SummarizedSegment": "Reports high blood sugar.",
                            "EvidenceLinks": [{"SegmentId": "s2"}],
                        },
                    ],
                },
                {
                    "SectionName": "PLAN",
                    "Summary": [
                        {
                            "SummarizedSegment": "Continue metformin.",
                            "EvidenceLinks": [{"SegmentId": "s1"}, {"SegmentId": "s2"}],
                        },
                    ],
                },
            ]
        }
    }
