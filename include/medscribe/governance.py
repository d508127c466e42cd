"""Data governance: forget a recording in every place a copy of it lives, retention by age, an audit trail.

A recording (id: the first 32 hex digits of the SHA-256 of its bytes) can live in:

- the original upload ``<recordings_prefix>/<night>/.../<name>.<ext>`` and its sidecar ``<name>.<ext>.json``;
- the staged copy ``<staging_prefix>/<sha256>.<ext>``; the quarantine copy ``<quarantine_prefix>/<night>/<id>``;
- the service's (or engine's) job records, named ``medscribe-hs|tm-<sha256[:40]>-...``, and their
  output files (transcript, clinical document) in the output bucket;
- the ledger entry ``<ledger_prefix>/<night>/<id>.json``;
- rows of every lake table in the night's partitions, and the night's quality report and data docs.

``forget_recording`` finds all of them, deletes them (the lake partitions are rewritten without the
recording's rows through ``store.write_partition``) and returns counts per place; ``audit_rows`` and
``append_audit`` record what was done in the ``governance_audit`` table. Deletion is idempotent: a
second run finds nothing and reports zeros. Nothing here logs or returns keys or text: ids, nights and
counts only.

``apply_retention`` deletes the copies older than a ``RetentionPolicy`` (staged and quarantine audio,
job outputs and records, optionally the lake's text rows), attributed to recordings by the ids their
names carry; ``retention_audit_rows`` makes its ``governance_audit`` rows (dags/medscribe_retention.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake.schemas import PARTITION_COLUMN, TABLES
from medscribe.lake.store import collect_garbage, read_table, write_partition

log = logging.getLogger(__name__)

AUDIT_TABLE = "governance_audit"
# Lake tables that hold recordings' rows (the audit table keeps its record of the deletion).
RECORDING_TABLES = tuple(name for name in TABLES if name != AUDIT_TABLE)
PLACES = (
    "originals",
    "staged",
    "quarantined",
    "service_outputs",
    "service_jobs",
    "ledger_entries",
    "lake_rows",
    "quality_reports",
)
_RECORDING_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")
# (list operation, summaries key, name key, get operation, delete operation) per service
_JOB_APIS = (
    (
        "list_medical_scribe_jobs",
        "MedicalScribeJobSummaries",
        "MedicalScribeJobName",
        "get_medical_scribe_job",
        "delete_medical_scribe_job",
    ),
    (
        "list_medical_transcription_jobs",
        "MedicalTranscriptionJobSummaries",
        "MedicalTranscriptionJobName",
        "get_medical_transcription_job",
        "delete_medical_transcription_job",
    ),
)


@dataclass(frozen=True)
class Places:
    """
    Where the nightly run keeps its copies (the nightly DAG's params of the same names).

    :param recordings_bucket: bucket of the uploads, staged and quarantine copies and the ledger.
    :param recordings_prefix: prefix above the night folders of the uploads.
    :param staging_prefix: prefix of the content-addressed staged copies.
    :param quarantine_prefix: prefix of the quarantine copies.
    :param ledger_prefix: prefix of the ledger entries.
    :param output_bucket: bucket the jobs write their outputs to.
    :param lake_uri: root of the Parquet lake.
    """

    recordings_bucket: str
    recordings_prefix: str
    staging_prefix: str
    quarantine_prefix: str
    ledger_prefix: str
    output_bucket: str
    lake_uri: str

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Places:
        """The places named by a DAG run's params (the nightly DAG's names)."""
        return cls(**{name: params[name] for name in cls.__dataclass_fields__})


def _keys(s3, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object (``Key``, ``Size``) under a prefix."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _manifests(s3, places: Places, recording_id: str, nights: set[str]) -> list[str]:
    """The night manifests (run plumbing under the ledger prefix, see :mod:`medscribe.manifests`) that
    name the recording; they are deleted whole, and a rerun of the night writes them again."""
    from medscribe.manifests import manifest_key

    found = []
    for night in sorted(nights):
        folder = posixpath.dirname(manifest_key(places.ledger_prefix, night, "discover"))
        for item in _keys(s3, places.recordings_bucket, folder + "/"):
            body = s3.get_object(Bucket=places.recordings_bucket, Key=item["Key"])["Body"].read()
            if recording_id.encode() in body:
                found.append(item["Key"])
    return found


def _delete(s3, bucket: str, keys: list[str]) -> int:
    """Delete objects (at most 1,000 per request); returns how many were deleted."""
    deleted = 0
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        response = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        if response.get("Errors"):
            codes = sorted({e.get("Code", "?") for e in response["Errors"]})
            raise RuntimeError(f"{len(response['Errors'])} objects could not be deleted ({', '.join(codes)})")
        deleted += len(batch)
    return deleted


def resolve_inputs(s3, places: Places, inputs: list[str]) -> tuple[list[str], int]:
    """
    Recording ids of the DAG's inputs: a recording id (32 hex digits) or full SHA-256 is taken as is;
    anything else is an original key in the recordings bucket, hashed to its id.

    :param s3: a boto3 S3 client.
    :param places: where the copies live.
    :param inputs: recording ids and/or original keys.
    :return: the distinct recording ids in input order, and how many keys no longer exist.
    :raises ValueError: no input, or an input that is not a non-empty string (the message shows no input).
    """
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("give at least one recording id or original key in the param 'recordings'")
    bad = [i for i, value in enumerate(inputs) if not isinstance(value, str) or not value.strip()]
    if bad:
        raise ValueError(f"inputs at positions {bad} are not recording ids or keys (non-empty strings)")
    ids: list[str] = []
    missing = 0
    for value in (v.strip() for v in inputs):
        if _RECORDING_ID.fullmatch(value.lower()):
            recording_id = value.lower()[:32]
        else:
            try:
                body = s3.get_object(Bucket=places.recordings_bucket, Key=value.lstrip("/"))["Body"]
            except s3.exceptions.NoSuchKey:
                missing += 1
                continue
            digest = hashlib.sha256()
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
            recording_id = digest.hexdigest()[:32]
        if recording_id not in ids:
            ids.append(recording_id)
    log.info(
        "%d recordings to forget; %d of %d inputs were keys that no longer exist",
        len(ids),
        missing,
        len(inputs),
    )
    return ids, missing


def _ledger_entries(s3, places: Places, recording_id: str) -> dict[str, dict[str, Any]]:
    """{ledger key: entry} of every night's entry of the recording."""
    found = {}
    name = f"{recording_id}.json"
    for item in _keys(s3, places.recordings_bucket, places.ledger_prefix.strip("/") + "/"):
        if posixpath.basename(item["Key"]) == name:
            found[item["Key"]] = json.loads(
                s3.get_object(Bucket=places.recordings_bucket, Key=item["Key"])["Body"].read()
            )
    return found


def _lake_nights(lake_uri: str, recording_id: str) -> set[str]:
    """Nights whose ``recordings`` or ``jobs`` partition holds the recording (every recording has a row in one)."""
    nights: set[str] = set()
    for name in ("recordings", "jobs"):
        table = read_table(name, lake_uri).select(["recording_id", PARTITION_COLUMN])
        mine = table.filter(pc.equal(table["recording_id"], recording_id))
        nights |= set(mine[PARTITION_COLUMN].to_pylist())
    return nights


def _originals(s3, places: Places, recording_id: str, nights: set[str], sizes: set[int]) -> list[str]:
    """Keys under the nights' folders whose bytes hash to the recording (only objects of a known size
    are read when the ledger gave sizes), with their sidecars."""
    matches: list[str] = []
    for night in sorted(nights):
        objects = list(
            _keys(
                s3, places.recordings_bucket, posixpath.join(places.recordings_prefix.strip("/"), night) + "/"
            )
        )
        present = {item["Key"] for item in objects}
        for item in objects:
            if sizes and item["Size"] not in sizes:
                continue
            digest = hashlib.sha256()
            for chunk in s3.get_object(Bucket=places.recordings_bucket, Key=item["Key"])["Body"].iter_chunks(
                1 << 20
            ):
                digest.update(chunk)
            if digest.hexdigest()[:32] == recording_id:
                matches.append(item["Key"])
                if f"{item['Key']}.json" in present:
                    matches.append(f"{item['Key']}.json")
    return sorted(set(matches))


def _jobs(transcribe, recording_id: str, known_names: set[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(delete operation, name, description) of every job of the recording the service still has:
    those listed with ``JobNameContains`` (names embed the content hash) and those the ledger and lake name."""
    jobs = []
    for list_op, summaries, name_key, get_op, delete_op in _JOB_APIS:
        names = {n for n in known_names if ("-hs-" in n) == (name_key == "MedicalScribeJobName")}
        kwargs: dict[str, Any] = {"JobNameContains": recording_id, "MaxResults": 100}
        while True:
            page = getattr(transcribe, list_op)(**kwargs)
            names |= {s[name_key] for s in page.get(summaries, [])}
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for name in sorted(names):
            try:
                response = getattr(transcribe, get_op)(**{name_key: name})
            except (transcribe.exceptions.NotFoundException, transcribe.exceptions.BadRequestException):
                continue  # already deleted (or expired: AWS keeps job records 90 days)
            jobs.append((delete_op, name, next(v for k, v in response.items() if k != "ResponseMetadata")))
    return jobs


def _output_keys(
    s3, places: Places, jobs, job_rows: list[dict[str, Any]], job_names: set[str]
) -> dict[str, set[str]]:
    """{bucket: keys} of the jobs' output files: the URIs the jobs and the lake name, and what lies under
    the names' conventional prefixes in the output bucket (``<name>/`` for HealthScribe,
    ``transcribe-medical/<name>.json`` for the nightly's Transcribe Medical jobs)."""
    from medscribe.nightly import split_output_uri

    uris = [r.get(c) for r in job_rows for c in ("transcript_uri", "clinical_document_uri")]
    for _, _, job in jobs:
        output = job.get("MedicalScribeOutput") or {}
        uris += [
            output.get("TranscriptFileUri"),
            output.get("ClinicalDocumentUri"),
            (job.get("Transcript") or {}).get("TranscriptFileUri"),
        ]
    found: dict[str, set[str]] = {}
    for uri in filter(None, uris):
        bucket, key = split_output_uri(uri)
        if any(item["Key"] == key for item in _keys(s3, bucket, key)):
            found.setdefault(bucket, set()).add(key)
    for name in job_names:
        for prefix in (f"{name}/", f"transcribe-medical/{name}.json"):
            found.setdefault(places.output_bucket, set()).update(
                i["Key"] for i in _keys(s3, places.output_bucket, prefix)
            )
    return found


def _forget_lake(lake_uri: str, recording_id: str, nights: set[str]) -> dict[str, int]:
    """Rewrite each night partition holding the recording without its rows; returns rows removed per table."""
    removed: dict[str, int] = {}
    for night in sorted(nights):
        for name in RECORDING_TABLES:
            table = read_table(name, lake_uri, night=night)
            keep = pc.invert(pc.fill_null(pc.equal(table["recording_id"], recording_id), False))
            kept = table.filter(keep)
            if kept.num_rows < table.num_rows:
                write_partition(name, kept, lake_uri, night)
                # the superseded generation still holds the recording's rows: no grace for it
                collect_garbage(lake_uri, table_name=name, night=night, grace=timedelta(0))
                removed[name] = removed.get(name, 0) + table.num_rows - kept.num_rows
    return removed


def _regenerate_quality(lake_uri: str, recording_id: str, nights: set[str]) -> int:
    """Run the quality gate again on each night whose saved report or data docs name the recording, so
    they are rewritten from the remaining rows with the night's saved configuration; returns the nights."""
    from pyarrow import fs as pafs

    from medscribe.quality.gate import quality_dir

    regenerated = 0
    for night in sorted(nights):
        filesystem, directory = quality_dir(lake_uri, night)
        files = [
            i
            for i in filesystem.get_file_info(
                pafs.FileSelector(directory, allow_not_found=True, recursive=True)
            )
            if i.type == pafs.FileType.File
        ]
        mentions = False
        for info in files:
            with filesystem.open_input_stream(info.path) as stream:
                if recording_id.encode() in stream.read():
                    mentions = True
                    break
        if not mentions:
            continue
        from medscribe.quality.config import DEFAULT_CONFIG
        from medscribe.quality.gate import gate_night

        report = f"{directory}/word_confidence.json"
        saved: dict[str, Any] = {}
        if filesystem.get_file_info(report).type == pafs.FileType.File:
            with filesystem.open_input_stream(report) as stream:
                saved = json.loads(stream.read()).get("config") or {}
        gate_night(lake_uri, night, DEFAULT_CONFIG.with_overrides(saved))
        regenerated += 1
    return regenerated


def forget_recording(s3, transcribe, places: Places, recording_id: str) -> dict[str, Any]:
    """
    Delete one recording from every place (see the module docstring). Everything is located first; the
    lake is rewritten first and the ledger (which locates the nights) deleted last, so a run interrupted
    half-way finds the rest when it is run again.

    :param s3: a boto3 S3 client for the recordings and output buckets.
    :param transcribe: a boto3 ``transcribe`` client (AWS or the engine).
    :param places: where the copies live.
    :param recording_id: the recording's id (32 hex digits).
    :return: ``{"recording_id", "nights", <place>: count, ..., "lake_rows_by_table"}``.
    """
    entries = _ledger_entries(s3, places, recording_id)
    nights = {e["night"] for e in entries.values()} | _lake_nights(places.lake_uri, recording_id)
    job_rows = []
    for night in sorted(nights):
        jobs_table = read_table("jobs", places.lake_uri, night=night)
        job_rows += [r for r in jobs_table.to_pylist() if r["recording_id"] == recording_id]
    known_names = {e["job_name"] for e in entries.values() if e.get("job_name")} | {
        r["job_name"] for r in job_rows
    }
    jobs = _jobs(transcribe, recording_id, known_names)
    job_names = known_names | {name for _, name, _ in jobs}
    outputs = _output_keys(s3, places, jobs, job_rows, job_names)
    staged = [
        i["Key"]
        for i in _keys(
            s3, places.recordings_bucket, posixpath.join(places.staging_prefix.strip("/"), recording_id)
        )
    ]
    quarantined = [
        i["Key"]
        for i in _keys(s3, places.recordings_bucket, places.quarantine_prefix.strip("/") + "/")
        if posixpath.basename(i["Key"]) == recording_id
    ]
    sizes = {e["size_bytes"] for e in entries.values() if e.get("size_bytes") is not None}
    originals = _originals(s3, places, recording_id, nights, sizes)
    manifests = _manifests(s3, places, recording_id, nights)

    lake = _forget_lake(places.lake_uri, recording_id, nights)
    counts: dict[str, Any] = {
        "recording_id": recording_id,
        "nights": sorted(nights),
        "lake_rows": sum(lake.values()),
        "lake_rows_by_table": lake,
        "quality_reports": _regenerate_quality(places.lake_uri, recording_id, nights),
        "service_outputs": sum(_delete(s3, bucket, sorted(keys)) for bucket, keys in outputs.items()),
    }
    for delete_op, name, _ in jobs:
        name_key = (
            "MedicalScribeJobName"
            if delete_op == "delete_medical_scribe_job"
            else "MedicalTranscriptionJobName"
        )
        getattr(transcribe, delete_op)(**{name_key: name})
    counts["service_jobs"] = len(jobs)
    counts["staged"] = _delete(s3, places.recordings_bucket, staged)
    counts["quarantined"] = _delete(s3, places.recordings_bucket, quarantined)
    counts["originals"] = _delete(s3, places.recordings_bucket, originals)
    # the night manifests naming it are ledger plumbing: counted with the ledger entries
    counts["ledger_entries"] = _delete(s3, places.recordings_bucket, sorted(entries)) + _delete(
        s3, places.recordings_bucket, manifests
    )
    if any(counts[p] for p in PLACES):
        log.info(
            "Recording %s forgotten in nights %s: %s",
            recording_id,
            counts["nights"],
            {p: counts[p] for p in PLACES},
        )
    else:
        log.info("Recording %s: nothing found in any place (already forgotten, or never seen)", recording_id)
    return counts


def audit_rows(
    action: str, results: list[dict[str, Any]], *, missing_inputs: int, run_id: str, requested_by: str | None
) -> pa.Table:
    """
    The ``governance_audit`` rows of one run: one per recording acted on, one per input key not found.

    :param action: ``forget`` or ``retention``.
    :param results: ``forget_recording`` results.
    :param missing_inputs: how many input keys no longer existed.
    :param run_id: the DAG run's id.
    :param requested_by: the user who triggered it (None if unknown).
    """
    now = datetime.now(UTC)
    zeros = {p: 0 for p in PLACES}
    rows = []
    for result in results:
        found = any(result[p] for p in PLACES)
        rows.append(
            {
                **zeros,
                **{p: result[p] for p in PLACES},
                "outcome": "removed" if found else "nothing_found",
                "recording_id": result["recording_id"],
                "recording_nights": ",".join(result["nights"]) or None,
                "lake_rows_by_table": json.dumps(result["lake_rows_by_table"], sort_keys=True),
            }
        )
    rows += [
        {
            **zeros,
            "outcome": "input_not_found",
            "recording_id": None,
            "recording_nights": None,
            "lake_rows_by_table": "{}",
        }
    ] * missing_inputs
    for row in rows:
        row.update(action=action, run_id=run_id, requested_by=requested_by, acted_at=now)
    return pa.Table.from_pylist(rows, schema=TABLES[AUDIT_TABLE])


def append_audit(rows: pa.Table, lake_uri: str) -> str:
    """
    Append rows to the ``governance_audit`` partition of today (UTC): the partition is read, extended and
    replaced whole (one writer at a time: the governance DAGs run one at a time per day's partition).

    :param rows: ``audit_rows`` output.
    :param lake_uri: root of the Parquet lake.
    :return: the partition's day.
    """
    day = datetime.now(UTC).date().isoformat()
    existing = read_table(AUDIT_TABLE, lake_uri, night=day).drop_columns([PARTITION_COLUMN])
    write_partition(AUDIT_TABLE, pa.concat_tables([existing, rows]), lake_uri, day)
    log.info("%d audit rows appended to %s night=%s", rows.num_rows, AUDIT_TABLE, day)
    return day


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
    files (keys naming a ``medscribe-hs|tm-<hash>`` job) and ended job records, and the text tables'
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
        keys = [
            k
            for k in _old_keys(s3, places.output_bucket, "", cutoff(policy.service_outputs_days))
            if _JOB_NAME.search(k)
        ]
        for key in keys:
            _recording(results, _job_recording_id(key))["service_outputs"] += 1
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
