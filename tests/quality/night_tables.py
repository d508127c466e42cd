"""A small consistent night built by hand (and from the lake tests' consistent HealthScribe documents):
every table filled, every reference resolving, so that each test breaks exactly one thing."""

from __future__ import annotations

import pyarrow as pa

from medscribe.lake.parse import healthscribe_clinical_document_tables, healthscribe_transcript_tables
from medscribe.lake.schemas import TABLES
from tests.lake.consistent_documents import consistent_document, consistent_transcript

NIGHT = "2026-03-02"
IDS = {"recording_id": "rec-1", "job_name": "job-1"}


def word_rows(
    recording_id: str, job_name: str, confidences: list[float], service: str = "healthscribe"
) -> list[dict]:
    """Pronunciations 0.5 s apart with the given confidences, and a final full stop."""
    rows = [
        {
            "recording_id": recording_id,
            "job_name": job_name,
            "service": service,
            "item_index": i,
            "content": f"w{i}",
            "is_punctuation": False,
            "start_time": i * 0.5,
            "end_time": i * 0.5 + 0.4,
            "confidence": c,
            "alternative_rank": 0,
            "segment_id": "s1" if i * 0.5 < 2.0 else "s2",
            "participant_role": "CLINICIAN_0" if i * 0.5 < 2.0 else "PATIENT_0",
        }
        for i, c in enumerate(confidences)
    ]
    rows.append(
        {
            "recording_id": recording_id,
            "job_name": job_name,
            "service": service,
            "item_index": len(confidences),
            "content": ".",
            "is_punctuation": True,
            "alternative_rank": 0,
        }
    )
    return rows


def night_tables(
    confidences: list[float] | None = None,
    *,
    duration_s: float = 4.5,
    document: dict | None = None,
    transcript: dict | None = None,
    with_document: bool = True,
) -> dict[str, pa.Table]:
    """One HealthScribe recording ``rec-1`` (segments s1, s2 over 0-4 s, insights, a three-sentence note)."""
    confidences = confidences if confidences is not None else [0.95, 0.9, 0.97, 0.92, 0.99, 0.93, 0.96, 0.94]
    tables = healthscribe_transcript_tables(transcript or consistent_transcript(), **IDS, with_insights=True)
    notes = healthscribe_clinical_document_tables(
        document or consistent_document(), **IDS, note_template="HISTORY_AND_PHYSICAL"
    )
    if with_document:
        tables.update(notes)
    tables["transcript_words"] = pa.Table.from_pylist(
        word_rows("rec-1", "job-1", confidences), schema=TABLES["transcript_words"]
    )
    tables["recordings"] = pa.Table.from_pylist(
        [
            {
                "recording_id": "rec-1",
                "kind": "conversation",
                "service": "healthscribe",
                "state": "succeeded",
                "job_name": "job-1",
                "attempts": 1,
                "duration_s": duration_s,
            }
        ],
        schema=TABLES["recordings"],
    )
    tables["jobs"] = pa.Table.from_pylist(
        [
            {
                "recording_id": "rec-1",
                "job_name": "job-1",
                "service": "healthscribe",
                "status": "COMPLETED",
                "transcript_uri": "s3://out/job-1/transcript.json",
                "clinical_document_uri": "s3://out/job-1/summary.json" if with_document else None,
            }
        ],
        schema=TABLES["jobs"],
    )
    return tables
