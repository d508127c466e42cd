"""HealthScribe streaming sessions of a night: found in the outputs bucket, checked, recorded, handed to flatten.

At END_OF_SESSION, HealthScribe's post-stream analytics put a session's files where AWS documents them
(``ClinicalNoteGenerationSettings.OutputBucketName``; the offline engine writes the same layout)::

    s3://<output bucket>/healthscribe-streaming/<SessionId>/post-stream-analytics/clinical-notes/
        transcript.json   the batch transcript file, with SessionId for JobName / JobType
        summary.json      the clinical document, with SessionId beside Sections

A session belongs to the night whose window ``[start, end)`` holds the ``LastModified`` of its
``transcript.json``. Night D's window is the data interval of its scheduled run, ``[D 02:00, D+1 02:00)``
UTC (:func:`night_window`), whatever run processes D: a manual rerun or ``airflow dags test`` (whose
own data interval Airflow infers as the day *before* its logical date) takes the same sessions.
Consecutive nights' windows tile time, so each landed session is taken by exactly one night. Its ``summary.json`` is taken when it is
there at listing time. A session is recorded in the night's ledger like a recording (``recording_id`` and
``job_name`` = its SessionId, service ``healthscribe_streaming``): ``succeeded`` once its files parse,
``failed`` with the reason otherwise (then it is left out of the tables). The valid ones go to the
night's ``streaming`` manifest, which ``night.flatten.flatten_night`` reads. Only SessionIds (UUIDs, as the
service requires), counts and reasons that quote no content are logged or returned.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medscribe.ledger import now
from medscribe.services import Service

log = logging.getLogger(__name__)

SERVICE = Service.HEALTHSCRIBE_STREAMING.value
# AWS's fixed prefix for post-stream analytics in the output bucket
DEFAULT_PREFIX = "healthscribe-streaming"
ANALYTICS_FOLDER = "post-stream-analytics/clinical-notes"
TRANSCRIPT_FILE = "transcript.json"
DOCUMENT_FILE = "summary.json"
# StartMedicalScribeStream's SessionId pattern (transcribe-streaming service model): anything else under
# the prefix is not a session's output and is skipped (its name might not be safe to log)
SESSION_ID = re.compile(r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}")


def night_window(night: str, hour: int) -> tuple[datetime, datetime]:
    """
    Night ``night``'s window: the data interval of its scheduled run, ``[night hour:00, +1 day)`` UTC.

    :param night: the night, YYYY-MM-DD (the run's ``ds``).
    :param hour: the schedule's hour, UTC (the DAG's cron).
    """
    start = datetime.combine(date.fromisoformat(night), time(hour), tzinfo=UTC)
    return start, start + timedelta(days=1)


def list_night_sessions(
    s3_client, bucket: str, prefix: str, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], int]:
    """
    The sessions whose ``transcript.json`` landed in ``[start, end)``, ordered by SessionId.

    :param s3_client: a boto3 S3 client that can list and read the output bucket.
    :param bucket: the output bucket (``OutputBucketName`` of the sessions).
    :param prefix: the folder of the sessions, ``healthscribe-streaming`` unless outputs are copied elsewhere.
    :param start: the night's data interval start (timezone-aware).
    :param end: the night's data interval end, excluded.
    :return: ``([{"session_id", "transcript_uri", "clinical_document_uri", "landed_at"}], skipped)``;
        ``skipped`` counts keys under the prefix that are no session's output file.
    """
    folder = prefix.strip("/") + "/"
    skipped = 0

    def files():  # (session_id, file name, listing item) of the sessions' output files, in key order
        nonlocal skipped
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            for item in page.get("Contents", []):
                session_id, sep, rest = item["Key"][len(folder) :].partition("/")
                directory, name = posixpath.split(rest)
                ours = sep and SESSION_ID.fullmatch(session_id) and directory == ANALYTICS_FOLDER
                if ours and name in (TRANSCRIPT_FILE, DOCUMENT_FILE):
                    yield session_id, name, item
                else:
                    skipped += 1

    # S3 lists keys in order, so a session's files come together: one session in memory at a time,
    # however many the folder holds
    sessions = []
    for session_id, group in groupby(files(), key=lambda file: file[0]):
        items = {name: item for _, name, item in group}
        transcript, document = items.get(TRANSCRIPT_FILE), items.get(DOCUMENT_FILE)
        if transcript is None or not start <= transcript["LastModified"] < end:
            continue
        sessions.append(
            {
                "session_id": session_id,
                "transcript_uri": f"s3://{bucket}/{transcript['Key']}",
                "clinical_document_uri": f"s3://{bucket}/{document['Key']}" if document else None,
                "landed_at": transcript["LastModified"].isoformat(),
            }
        )
    return sessions, skipped


def _read(s3_client, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _parse_error(name: str, body: bytes) -> str | None:
    """Why ``name`` (transcript.json or summary.json) cannot be flattened, in words that quote none of it."""
    from medscribe.lake.parse import healthscribe_clinical_document_tables, healthscribe_transcript_tables

    try:
        doc = json.loads(body)
    except UnicodeDecodeError:
        return f"{name} is not UTF-8 text"
    except json.JSONDecodeError as error:
        return f"{name} is not JSON ({error.msg} at line {error.lineno} column {error.colno})"
    ids = {"recording_id": "session", "job_name": "session"}
    try:
        if name == TRANSCRIPT_FILE:
            healthscribe_transcript_tables(doc, **ids, with_insights=True)
        else:
            healthscribe_clinical_document_tables(doc, **ids)
    except ValueError as error:  # the messages name fields (JSON paths), never content
        return f"{name}: {error}"
    return None


def check_session(s3_client, session: dict[str, Any]) -> str | None:
    """
    Why a session's files cannot be flattened, or None when they can (both parsed with ``lake.parse``).

    :param s3_client: a boto3 S3 client.
    :param session: one of :func:`list_night_sessions`' sessions.
    """
    error = _parse_error(TRANSCRIPT_FILE, _read(s3_client, session["transcript_uri"]))
    if error is None and session["clinical_document_uri"]:
        error = _parse_error(DOCUMENT_FILE, _read(s3_client, session["clinical_document_uri"]))
    return error


def record_session(ledger, night: str, session_id: str, reason: str | None) -> dict[str, Any]:
    """
    The session's ledger entry: ``succeeded``, or ``failed`` with ``reason``; unchanged on a rerun that
    finds the same outcome (its times kept), rewritten otherwise.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param night: the night.
    :param session_id: the SessionId (the entry's ``recording_id`` and ``job_name``).
    :param reason: why its files cannot be flattened, or None.
    """
    state = "failed" if reason else "succeeded"
    entry = ledger.get(night, session_id)
    if entry is not None and entry["state"] == state and entry.get("reason") == reason:
        return entry
    return ledger.put(
        {
            "night": night,
            "recording_id": session_id,
            "kind": "conversation",
            "service": SERVICE,
            "state": state,
            "reason": reason,
            "job_name": session_id,
            "attempts": 1,
            "discovered_at": (entry or {}).get("discovered_at") or now().isoformat(),
            "finished_at": None,
        }
    )


def save_night_sessions(
    s3_client,
    ledger,
    *,
    bucket: str,
    prefix: str,
    night: str,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """
    List, check and record the night's sessions, and write the night's ``streaming`` manifest.

    :param s3_client: a boto3 S3 client that can read the output bucket.
    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifest).
    :param bucket: the output bucket.
    :param prefix: the sessions' folder in it.
    :param night: the night, YYYY-MM-DD.
    :param start: the night's data interval start.
    :param end: the night's data interval end, excluded.
    :return: ``{"manifest": key, "sessions": n, "failed": n, "skipped": n}`` (counts only: the XCom).
    """
    from medscribe.manifests import manifest_key, write_manifest

    listed, skipped = list_night_sessions(s3_client, bucket, prefix, start, end)
    valid, failed = [], []
    for session in listed:
        reason = check_session(s3_client, session)
        record_session(ledger, night, session["session_id"], reason)
        if reason:
            log.warning("Streaming session %s failed: %s", session["session_id"], reason)
            failed.append(
                {"session_id": session["session_id"], "landed_at": session["landed_at"], "reason": reason}
            )
        else:
            valid.append(session)
    key = write_manifest(
        ledger.s3,
        ledger.bucket,
        manifest_key(ledger.prefix, night, "streaming"),
        {"sessions": valid, "failed": failed},
    )
    log.info(
        "Night %s: %d streaming sessions landed in [%s, %s): %d valid, %d failed (%d other keys skipped)",
        night,
        len(listed),
        start.isoformat(),
        end.isoformat(),
        len(valid),
        len(failed),
        skipped,
    )
    return {"manifest": key, "sessions": len(valid), "failed": len(failed), "skipped": skipped}


def night_sessions(ledger, streaming: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """
    The ``streaming`` manifest of a :func:`save_night_sessions` result: ``{"sessions", "failed"}``.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param streaming: what :func:`save_night_sessions` returned (None: no sessions).
    """
    from medscribe.manifests import read_manifest

    if not streaming:
        return {"sessions": [], "failed": []}
    return read_manifest(ledger.s3, ledger.bucket, streaming["manifest"])


def job_row(session: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    """One row of the ``jobs`` table for a session: COMPLETED, or FAILED with the reason its files failed."""
    return {
        "recording_id": session["session_id"],
        "job_name": session["session_id"],
        "service": SERVICE,
        "status": "FAILED" if reason else "COMPLETED",
        "failure_reason": reason,
        "submitted_at": None,
        "started_at": None,
        "completed_at": datetime.fromisoformat(session["landed_at"]),
        "media_format": None,
        "sample_rate_hz": None,
        "settings_json": None,
        "transcript_uri": None if reason else session.get("transcript_uri"),
        "clinical_document_uri": None if reason else session.get("clinical_document_uri"),
    }


def mark_service(words: pa.Table, session_ids: set[str]) -> pa.Table:
    """``transcript_words`` with ``service`` = healthscribe_streaming on the sessions' rows (the flattener
    names the file's format, healthscribe, not how it was made)."""
    if not session_ids or words.num_rows == 0:
        return words
    index = words.schema.get_field_index("service")
    service = pc.if_else(
        pc.is_in(words["job_name"], value_set=pa.array(sorted(session_ids), pa.string())),
        pa.scalar(SERVICE, pa.string()),
        words["service"],
    )
    return words.set_column(index, words.schema.field(index), service)
