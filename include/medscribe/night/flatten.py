"""The night's job outputs flattened into the lake: transcripts, clinical documents, reviewed notes, jobs.

Only recording ids, job names, counts and durations are logged, never transcript text or output keys.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from medscribe.lake.columnar import flatten_transcripts
from medscribe.lake.parse import healthscribe_clinical_document_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import write_partition
from medscribe.lake.tables import FLATTENED_TABLES
from medscribe.outputs import read_json_object, read_object_bytes
from medscribe.review.notes import reviewed_uri
from medscribe.services import Service
from medscribe.streaming_sessions import job_row as streaming_job_row
from medscribe.streaming_sessions import mark_service

log = logging.getLogger(__name__)


def _reviewed_note(s3_client, service_uri: str) -> dict[str, Any] | None:
    """The reviewed note written beside the service's (``medscribe.review``), or None when there is none."""
    bucket, key = reviewed_uri(service_uri)
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _transcript_error(error: ValueError, transcripts: list[tuple[str, str, str]]) -> ValueError:
    """``flatten_transcripts``' error ("file <position>: ...") naming the job instead of the position."""
    head, sep, rest = str(error).partition(":")
    if sep and head.startswith("file ") and head[5:].isdigit() and int(head[5:]) < len(transcripts):
        return ValueError(f"transcript of job {transcripts[int(head[5:])][1]}:{rest}")
    return ValueError(f"transcripts: {error}")


def _utc(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def job_row(
    recording: dict[str, Any], job: dict[str, Any] | None, error: str | None = None
) -> dict[str, Any]:
    """One row of the ``jobs`` table from a recording and its job description (None if never started)."""
    job = job or {}
    scribe = recording["service"] == Service.HEALTHSCRIBE
    output = (job.get("MedicalScribeOutput") or {}) if scribe else {}
    status = job.get("MedicalScribeJobStatus") or job.get("TranscriptionJobStatus") or "NOT_STARTED"
    return {
        "recording_id": recording["recording_id"],
        "job_name": recording["job_name"],
        "service": recording["service"],
        "status": status,
        "failure_reason": job.get("FailureReason") or error,
        "submitted_at": _utc(job.get("CreationTime")),
        "started_at": _utc(job.get("StartTime")),
        "completed_at": _utc(job.get("CompletionTime")),
        "media_format": recording["audio"]["media_format"],
        "sample_rate_hz": recording["audio"]["sample_rate_hz"],
        "settings_json": json.dumps(recording["options"], sort_keys=True),
        "transcript_uri": output.get("TranscriptFileUri")
        if scribe
        else (job.get("Transcript") or {}).get("TranscriptFileUri"),
        "clinical_document_uri": output.get("ClinicalDocumentUri"),
    }


def flatten_night(
    *,
    recordings: list[dict[str, Any]],
    describe_job: Callable[[str, str], dict[str, Any]],
    s3_client,
    lake_uri: str,
    night: str,
    ledger=None,
    streaming: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, int]:
    """
    Flatten the night's job outputs into the lake, replacing the night's partition of each table.

    Transcripts go through the lake's flattener (``lake.columnar.flatten_transcripts``, many files per
    Arrow batch) in this process, downloaded one batch at a time; the file's own top-level key says
    which service wrote it. Clinical documents (small) go through ``lake.parse``. Nothing is written
    until every output is flattened, so a bad output fails the task with the previous
    partitions intact; each table's partition is then replaced atomically (``store.write_partition``),
    and running the night again gives the same rows.

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param describe_job: ``(service, job_name) -> job description`` (GetMedical*Job).
    :param s3_client: boto3 S3 client that can read the output buckets.
    :param lake_uri: root of the Parquet lake (local path or s3:// URI).
    :param night: the night, YYYY-MM-DD (the partition).
    :param ledger: the :class:`medscribe.ledger.Ledger`, exported as the ``recordings`` table.
    :param streaming: the night's HealthScribe streaming sessions (``streaming_sessions.night_sessions``):
        the valid ones are flattened like HealthScribe jobs (service ``healthscribe_streaming``, job name
        and recording id = the SessionId), the failed ones get a FAILED ``jobs`` row.
    :return: rows written per table.
    :raises ValueError: an output that is not JSON or not a transcript file, or a value the flattener
        refuses (the message names the job and the field, never the file's content or key).
    """
    started = time.monotonic()
    parts: dict[str, list[pa.Table]] = {name: [] for name in FLATTENED_TABLES}
    job_rows = []
    transcripts: list[tuple[str, str, str]] = []  # (recording_id, job_name, transcript URI)
    if ledger is not None:
        from medscribe.ledger import recordings_table

        parts["recordings"].append(recordings_table(ledger.night(night)))
    for recording in recordings:
        try:
            job = describe_job(recording["service"], recording["job_name"])
        except Exception as error:  # the job was never created: record it, do not lose the recording
            log.warning("Job %s could not be described (%s)", recording["job_name"], type(error).__name__)
            entry = (ledger.get(night, recording["recording_id"]) if ledger is not None else None) or {}
            job_rows.append(
                job_row(
                    recording, None, error=entry.get("reason") or f"job not found ({type(error).__name__})"
                )
            )
            continue
        row = job_row(recording, job)
        job_rows.append(row)
        if row["status"] != "COMPLETED" or not row["transcript_uri"]:
            continue
        transcripts.append((recording["recording_id"], recording["job_name"], row["transcript_uri"]))
        if recording["service"] == Service.HEALTHSCRIBE and row["clinical_document_uri"]:
            ids = {"recording_id": recording["recording_id"], "job_name": recording["job_name"]}
            note = read_json_object(s3_client, row["clinical_document_uri"])
            settings = recording["options"].get("Settings") or {}
            template = (settings.get("ClinicalNoteGenerationSettings") or {}).get(
                "NoteTemplate", "HISTORY_AND_PHYSICAL"
            )
            for name, table in healthscribe_clinical_document_tables(
                note, **ids, note_template=template
            ).items():
                parts[name].append(table)
            # a reviewer's signed-off note beside it stays in the lake when the night is flattened again
            reviewed = _reviewed_note(s3_client, row["clinical_document_uri"])
            if reviewed is not None:
                tables = healthscribe_clinical_document_tables(
                    reviewed, **ids, note_template=template, source="reviewed"
                )
                parts["note_sentences"].append(tables["note_sentences"])
    streaming = streaming or {}
    for session in streaming.get("sessions", []):
        row = streaming_job_row(session)
        job_rows.append(row)
        transcripts.append((row["recording_id"], row["job_name"], row["transcript_uri"]))
        if row["clinical_document_uri"]:
            ids = {"recording_id": row["recording_id"], "job_name": row["job_name"]}
            note = read_json_object(s3_client, row["clinical_document_uri"])
            # no note_template: a session's files do not say which template made the note
            for name, table in healthscribe_clinical_document_tables(note, **ids).items():
                parts[name].append(table)
            reviewed = _reviewed_note(s3_client, row["clinical_document_uri"])
            if reviewed is not None:
                tables = healthscribe_clinical_document_tables(reviewed, **ids, source="reviewed")
                parts["note_sentences"].append(tables["note_sentences"])
    job_rows += [streaming_job_row(s, s["reason"]) for s in streaming.get("failed", [])]
    counts: dict[str, int] = {}
    files = ((r, j, read_object_bytes(s3_client, uri)) for r, j, uri in transcripts)
    try:
        flattened = flatten_transcripts(files)
    except ValueError as error:
        raise _transcript_error(error, transcripts) from None
    sessions = {s["session_id"] for s in streaming.get("sessions", [])}
    flattened["transcript_words"] = mark_service(flattened["transcript_words"], sessions)
    for name, table in flattened.items():
        parts[name].append(table)
    parts["jobs"].append(pa.Table.from_pylist(job_rows, schema=TABLES["jobs"]))
    for name, pieces in parts.items():
        table = pa.concat_tables(pieces) if pieces else TABLES[name].empty_table()
        write_partition(name, table, lake_uri, night)
        counts[name] = table.num_rows
    log.info(
        "Night %s flattened in %.1f s: %s (%d transcripts)",
        night,
        time.monotonic() - started,
        counts,
        len(transcripts),
    )
    return {name: counts[name] for name in FLATTENED_TABLES}
