"""Retention by policy: delete the copies older than a ``RetentionPolicy`` (staged and quarantine audio,
job outputs and records, optionally the lake's text rows), attributed to recordings by the ids their
names carry; ``retention_audit_rows`` makes the run's ``governance_audit`` rows."""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from medscribe.governance.audit import audit_rows
from medscribe.governance.places import _JOB_APIS, _RECORDING_ID, _SESSION_ID, PLACES, Places, _delete, _keys
from medscribe.lake.schemas import PARTITION_COLUMN, TABLES
from medscribe.lake.store import collect_garbage, read_table, write_partition

log = logging.getLogger(__name__)

# Lake tables whose rows hold what was said or written (the others hold ids, states, numbers).
LAKE_TEXT_TABLES = (
    "transcript_words",
    "transcript_segments",
    "clinical_insights",
    "insight_attributes",
    "note_sentences",
    "review_decisions",
)  # decisions keep words and sentences before/after
# A job name (and so its output keys) embeds the first 40 hex digits of the recording's SHA-256.
_JOB_NAME = re.compile(r"medscribe-(?:hs|tm)-([0-9a-f]{40})")
# Job states whose records can be deleted; queued and running jobs are left alone.
_ENDED = ("COMPLETED", "FAILED")


@dataclass(frozen=True)
class RetentionPolicy:
    """
    How long each kind of copy is kept, in days (None: kept until forgotten).

    :param staged_days: staged audio copies (``<staging_prefix>/<sha256>.<ext>``), by age of the object.
    :param quarantined_days: quarantine copies, by age of the object.
    :param service_outputs_days: the jobs' output files in the output bucket and the job records on the
        service or engine (AWS itself keeps job records 90 days).
    :param lake_text_days: rows of ``LAKE_TEXT_TABLES`` in night partitions older than this.
    """

    staged_days: int | None = 30
    quarantined_days: int | None = 30
    service_outputs_days: int | None = 90
    lake_text_days: int | None = None

    def __post_init__(self) -> None:
        bad = [
            name
            for name in self.__dataclass_fields__
            if getattr(self, name) is not None
            and (
                isinstance(getattr(self, name), bool)
                or not isinstance(getattr(self, name), int)
                or getattr(self, name) < 1
            )
        ]
        if bad:
            raise ValueError(f"retention periods must be whole days >= 1 or null: {', '.join(bad)}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RetentionPolicy:
        """The policy named by a DAG run's params (the field names)."""
        return cls(**{name: params[name] for name in cls.__dataclass_fields__ if name in params})


def _recording(results: dict[str | None, dict[str, Any]], recording_id: str | None, night: str | None = None):
    """The result being filled for a recording (None: objects whose names carry no recording id)."""
    result = results.setdefault(
        recording_id,
        {"recording_id": recording_id, "nights": [], "lake_rows_by_table": {}, **{p: 0 for p in PLACES}},
    )
    if night and night not in result["nights"]:
        result["nights"] = sorted([*result["nights"], night])
    return result


def _old_keys(s3, bucket: str, prefix: str, cutoff: datetime) -> list[str]:
    """Keys under a prefix last modified before the cutoff."""
    return sorted(i["Key"] for i in _keys(s3, bucket, prefix) if i["LastModified"] < cutoff)


def _job_recording_id(name: str) -> str | None:
    """The recording id (the first 32 hex digits of the hash) that a job name, or a key under it, embeds."""
    match = _JOB_NAME.search(name)
    return match.group(1)[:32] if match else None


def _session_of(key: str, folder: str) -> str | None:
    """The SessionId of a streaming session's output key (``<folder><SessionId>/...``), else None."""
    session_id = key[len(folder) :].split("/", 1)[0] if key.startswith(folder) else ""
    return session_id if _SESSION_ID.fullmatch(session_id) and "/" in key[len(folder) :] else None


def _old_jobs(transcribe, cutoff: datetime, name_contains: str) -> list[tuple[str, str, str]]:
    """(delete operation, name key, name) of ended jobs created before the cutoff whose names contain
    ``name_contains`` and embed a recording's hash."""
    status_keys = {
        "MedicalScribeJobSummaries": "MedicalScribeJobStatus",
        "MedicalTranscriptionJobSummaries": "TranscriptionJobStatus",
    }
    jobs = []
    for list_op, summaries, name_key, _, delete_op in _JOB_APIS:
        kwargs: dict[str, Any] = {"JobNameContains": name_contains, "MaxResults": 100}
        while True:
            page = getattr(transcribe, list_op)(**kwargs)
            for summary in page.get(summaries, []):
                if (
                    summary.get(status_keys[summaries]) in _ENDED
                    and summary["CreationTime"] < cutoff
                    and _JOB_NAME.search(summary[name_key])
                ):
                    jobs.append((delete_op, name_key, summary[name_key]))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return jobs


def _old_lake_text(lake_uri: str, before_night: str) -> dict[str, dict[str, pa.Table]]:
    """{table: {night: rows}} of the text tables' partitions of nights before ``before_night`` (the nights
    are those of the small ``recordings`` and ``jobs`` tables: every night the nightly run wrote)."""
    nights: set[str] = set()
    for small in ("recordings", "jobs"):
        nights |= set(read_table(small, lake_uri).column(PARTITION_COLUMN).unique().to_pylist())
    found: dict[str, dict[str, pa.Table]] = {}
    for name in LAKE_TEXT_TABLES:
        for night in sorted(n for n in nights if n < before_night):
            rows = read_table(name, lake_uri, night=night).select(["recording_id"])
            found.setdefault(name, {})[night] = rows
    return found


def apply_retention(
    s3,
    transcribe,
    places: Places,
    policy: RetentionPolicy,
    now: datetime,
    *,
    dry_run: bool = False,
    job_name_contains: str = "medscribe-",
) -> dict[str, Any]:
    """
    Delete what the policy says is too old at ``now``: staged and quarantine copies, the jobs' output
    files (keys naming a ``medscribe-hs|tm-<hash>`` job, and streaming sessions' outputs under
    ``<streaming_prefix>/<SessionId>/``) and ended job records, and the text tables'
    rows of old nights (each partition rewritten empty with ``write_partition``, so the lake stays
    readable, and their superseded generations deleted at once). Originals, the ledger and the lake's
    non-text tables are never touched. Also deletes the lake's superseded generations older than
    ``generations.GRACE`` (not a dry run). Idempotent: what was deleted is not found again.

    :param s3: a boto3 S3 client for the recordings and output buckets.
    :param transcribe: a boto3 ``transcribe`` client (AWS or the engine).
    :param places: where the copies live.
    :param policy: the periods.
    :param now: the clock the ages are measured against (the DAG passes its logical date); timezone-aware.
    :param dry_run: find and count only; delete nothing.
    :param job_name_contains: only job records whose names contain this (the account may hold others' jobs).
    :return: ``{"dry_run", "totals": {<place>: count}, "results": [per recording: "recording_id" (None for
        objects whose names carry no id), "nights", <place>: count, "lake_rows_by_table"],
        "lake_superseded_files": files of superseded lake generations deleted}`` (results in the
        ``forget_recording`` shape, for ``audit_rows``).
    :raises ValueError: ``now`` without a timezone.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    results: dict[str | None, dict[str, Any]] = {}
    deletions: list[tuple[str, list[str]]] = []  # (bucket, keys)

    def cutoff(days: int) -> datetime:
        return now - timedelta(days=days)

    if policy.staged_days:
        prefix = places.staging_prefix.strip("/") + "/"
        keys = _old_keys(s3, places.recordings_bucket, prefix, cutoff(policy.staged_days))
        for key in keys:
            stem = posixpath.basename(key).split(".")[0].lower()
            _recording(results, stem[:32] if _RECORDING_ID.fullmatch(stem) else None)["staged"] += 1
        deletions.append((places.recordings_bucket, keys))
    if policy.quarantined_days:
        prefix = places.quarantine_prefix.strip("/") + "/"
        keys = _old_keys(s3, places.recordings_bucket, prefix, cutoff(policy.quarantined_days))
        for key in keys:
            night, _, name = key[len(prefix) :].rpartition("/")
            recording_id = name if _RECORDING_ID.fullmatch(name) else None
            _recording(results, recording_id, night or None)["quarantined"] += 1
        deletions.append((places.recordings_bucket, keys))
    jobs: list[tuple[str, str, str]] = []
    if policy.service_outputs_days:
        sessions = places.sessions_folder  # streaming sessions' outputs, by SessionId
        keys = [
            k
            for k in _old_keys(s3, places.output_bucket, "", cutoff(policy.service_outputs_days))
            if _JOB_NAME.search(k) or _session_of(k, sessions)
        ]
        for key in keys:
            _recording(results, _job_recording_id(key) or _session_of(key, sessions))["service_outputs"] += 1
        deletions.append((places.output_bucket, keys))
        jobs = _old_jobs(transcribe, cutoff(policy.service_outputs_days), job_name_contains)
        for _, _, name in jobs:
            _recording(results, _job_recording_id(name))["service_jobs"] += 1
    lake_text: dict[str, dict[str, pa.Table]] = {}
    superseded_files = 0
    if policy.lake_text_days:
        lake_text = _old_lake_text(places.lake_uri, cutoff(policy.lake_text_days).date().isoformat())
        for name, partitions in lake_text.items():
            for night, rows in partitions.items():
                for recording_id in rows["recording_id"].to_pylist():
                    result = _recording(results, recording_id, night)
                    result["lake_rows"] += 1
                    result["lake_rows_by_table"][name] = result["lake_rows_by_table"].get(name, 0) + 1

    if not dry_run:
        for name, partitions in lake_text.items():
            for night, rows in partitions.items():
                if rows.num_rows:
                    write_partition(name, TABLES[name].empty_table(), places.lake_uri, night)
                    collect_garbage(places.lake_uri, table_name=name, night=night, grace=timedelta(0))
        # superseded lake generations (and files of writers that died), past their grace period
        superseded_files = collect_garbage(places.lake_uri)
        for bucket, keys in deletions:
            _delete(s3, bucket, keys)
        for delete_op, name_key, name in jobs:
            try:
                getattr(transcribe, delete_op)(**{name_key: name})
            except (transcribe.exceptions.NotFoundException, transcribe.exceptions.BadRequestException):
                recording = _recording(results, _job_recording_id(name))
                recording["service_jobs"] -= 1  # gone meanwhile (AWS expires job records itself)
    totals = {p: sum(r[p] for r in results.values()) for p in PLACES}
    log.info(
        "Retention%s at %s: %d recordings, %s",
        " (dry run, nothing deleted)" if dry_run else "",
        now.isoformat(),
        len(results),
        {p: n for p, n in totals.items() if n} or "nothing older than the policy",
    )
    ordered = sorted(results.values(), key=lambda r: r["recording_id"] or "")
    return {
        "dry_run": dry_run,
        "totals": totals,
        "results": ordered,
        "lake_superseded_files": superseded_files,
    }


def retention_audit_rows(retention: dict[str, Any], *, run_id: str, requested_by: str | None) -> pa.Table:
    """
    The ``governance_audit`` rows of a retention run: one per recording something was deleted of, or a
    single ``nothing_found`` row (recording id null) when nothing was older than the policy.

    :param retention: ``apply_retention`` output (not a dry run: a dry run records nothing).
    :param run_id: the DAG run's id.
    :param requested_by: the user who triggered it (None for scheduled runs).
    """
    results = retention["results"] or [_recording({}, None)]
    return audit_rows("retention", results, missing_inputs=0, run_id=run_id, requested_by=requested_by)
