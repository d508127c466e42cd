"""Forget a recording in every place a copy of it lives (see :mod:`medscribe.governance`): find the
copies, rewrite the lake's night partitions without its rows, regenerate the quality reports that name it,
delete the rest; counts per place. Idempotent: a second run finds nothing and reports zeros."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from datetime import timedelta
from typing import Any

import pyarrow.compute as pc

from medscribe.governance.audit import AUDIT_TABLE
from medscribe.governance.places import _JOB_APIS, _RECORDING_ID, _SESSION_ID, PLACES, Places, _delete, _keys
from medscribe.lake.schemas import PARTITION_COLUMN, TABLES
from medscribe.lake.store import collect_garbage, read_table, write_partition

log = logging.getLogger(__name__)

# Lake tables that hold recordings' rows (the audit table keeps its record of the deletion).
RECORDING_TABLES = tuple(name for name in TABLES if name != AUDIT_TABLE)


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


def resolve_inputs(s3, places: Places, inputs: list[str]) -> tuple[list[str], int]:
    """
    Recording ids of the DAG's inputs: a recording id (32 hex digits) or full SHA-256 is taken as is, and so
    is a streaming session's SessionId (a UUID: its recording id); anything else is an original key in the
    recordings bucket, hashed to its id.

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
        elif _SESSION_ID.fullmatch(value.lower()):
            recording_id = value.lower()
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
    from medscribe.outputs import split_output_uri

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
    :param recording_id: the recording's id (32 hex digits, or a streaming session's SessionId).
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
    if _SESSION_ID.fullmatch(recording_id):  # a streaming session: what AWS wrote under its folder
        outputs.setdefault(places.output_bucket, set()).update(
            i["Key"] for i in _keys(s3, places.output_bucket, places.session_folder(recording_id))
        )
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
