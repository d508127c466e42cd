"""What the reviewer page reads: the lake's tables (pyarrow, ``MEDSCRIBE_LAKE_URI``), the night's quality
report, and S3 through the Airflow connection ``aws_default``; and the reviewed note a sign-off writes.

An unknown job or item is an ``HTTPException`` (404) for :mod:`medscribe.quality.review_app`'s routes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException

from medscribe.quality.config import DEFAULT_CONFIG
from medscribe.review import decisions as review
from medscribe.review.notes import sentence_key

AWS_CONN_ID = "aws_default"
T = TypeVar("T")


def lake_uri() -> str:
    return os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake")


def read(name: str, night: str | None = None):
    from medscribe.lake.store import read_table

    return read_table(name, lake_uri(), night=night)


def _from_report(night: str, use: Callable[[Any], T], fallback: T) -> T:
    """``use`` of the night's report (``word_confidence.json``), or ``fallback`` when it is missing or unreadable."""
    from medscribe.quality.gate import quality_dir

    filesystem, directory = quality_dir(lake_uri(), night)
    try:
        with filesystem.open_input_stream(f"{directory}/word_confidence.json") as stream:
            return use(json.loads(stream.read()))
    except (FileNotFoundError, OSError, ValueError):
        return fallback


def night_config(night: str) -> dict[str, Any]:
    """The thresholds the night was gated with (from its report), else the defaults."""
    defaults = DEFAULT_CONFIG.to_dict()
    return _from_report(night, lambda report: {**defaults, **report.get("config", {})}, defaults)


def night_transcripts(night: str) -> list[dict[str, Any]]:
    """The transcripts of the night's report (each with its mean word confidence), else none."""
    return _from_report(night, lambda report: report.get("transcripts", []), [])


def statuses() -> dict[tuple[str, str], str]:
    """The review status of every recording with decisions, by (night, recording_id)."""
    by_recording: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in sorted(read("review_decisions").to_pylist(), key=lambda r: r["decided_at"]):
        by_recording.setdefault((row["night"], row["recording_id"]), []).append(row)
    return {key: review.status(rows) for key, rows in by_recording.items()}


def with_status(rows: list[dict[str, Any]], statuses: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
    return [{**r, "status": statuses.get((r["night"], r["recording_id"]), "open")} for r in rows]


def s3():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=AWS_CONN_ID).conn


def recording_rows(night: str, recording_id: str, name: str) -> list[dict[str, Any]]:
    import pyarrow.compute as pc

    table = read(name, night)
    return table.filter(pc.equal(table["recording_id"], recording_id)).to_pylist()


def job(night: str, recording_id: str) -> dict[str, Any]:
    """The recording's jobs row of the night (the service, job name and output locations)."""
    jobs = recording_rows(night, recording_id, "jobs")
    if not jobs:
        raise HTTPException(status_code=404, detail="no job for this recording in this night")
    return jobs[0]


def before(night: str, recording_id: str, item_kind: str, item_key: str | None) -> str | None:
    """The service's text of the item a decision is about (the page's copy is not trusted)."""
    if item_kind == "recording":
        return None
    if item_kind == "word":
        rows = [
            w
            for w in recording_rows(night, recording_id, "transcript_words")
            if w["alternative_rank"] == 0 and str(w["item_index"]) == item_key and not w["is_punctuation"]
        ]
    else:
        rows = [
            s
            for s in recording_rows(night, recording_id, "note_sentences")
            if s["source"] in (None, "service")
            and sentence_key(s["section_index"], s["sentence_index"]) == item_key
        ]
    if not rows:
        raise HTTPException(status_code=404, detail=f"no such {item_kind}")
    return rows[0]["content" if item_kind == "word" else "text"]


def sign_off(night: str, recording_id: str, job: dict[str, Any], decided: list[dict[str, Any]]) -> int:
    """Write the reviewed note (unless the recording was rejected); the number of its sentences."""
    from medscribe.review import notes

    if review.verdict(decided) == "reject" or not job["clinical_document_uri"]:
        return 0
    document, _ = notes.write_reviewed_note(
        s3(), job["clinical_document_uri"], review.latest(decided, "sentence")
    )
    return notes.flatten_reviewed_note(
        lake_uri(), night, document, recording_id=recording_id, job_name=job["job_name"]
    )
