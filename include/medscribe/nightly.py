"""The nightly run's steps as plain functions: job requests, flattening outputs into the lake, the summary.

The DAG (dags/medscribe_nightly.py) only wires these together; they take boto3 clients and callables,
so they are tested without Airflow. Nothing here logs or returns transcript text or S3 keys of
recordings: only recording ids (content hashes), job names, counts and durations.
"""

from __future__ import annotations

import json
import logging
import posixpath
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from medscribe.lake.columnar import flatten_transcripts
from medscribe.lake.parse import healthscribe_clinical_document_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import write_partition
from medscribe.review.notes import reviewed_uri
from medscribe.services import Service
from medscribe.streaming_sessions import job_row as streaming_job_row
from medscribe.streaming_sessions import mark_service

log = logging.getLogger(__name__)

FLATTENED_TABLES = (
    "recordings",
    "jobs",
    "transcript_words",
    "transcript_segments",
    "clinical_insights",
    "insight_attributes",
    "note_sentences",
    "note_evidence",
)


def job_request(
    recording: dict[str, Any], *, output_bucket: str, data_access_role_arn: str
) -> dict[str, Any]:
    """The Start* request of one recording's job, as ``{"service", "request"}`` (for the batch operator)."""
    options = recording["options"]
    if recording["service"] == Service.HEALTHSCRIBE:
        request = {
            "MedicalScribeJobName": recording["job_name"],
            "Media": {"MediaFileUri": recording["media_uri"]},
            "OutputBucketName": output_bucket,
            "DataAccessRoleArn": data_access_role_arn,
            "Settings": options["Settings"],
        }
        if options.get("ChannelDefinitions"):
            request["ChannelDefinitions"] = options["ChannelDefinitions"]
    else:
        request = {
            "MedicalTranscriptionJobName": recording["job_name"],
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": recording["media_uri"]},
            "MediaFormat": options["MediaFormat"],
            "MediaSampleRateHertz": options["MediaSampleRateHertz"],
            "OutputBucketName": output_bucket,
            "OutputKey": f"transcribe-medical/{recording['job_name']}.json",
            "Specialty": options["Specialty"],
            "Type": options["Type"],
        }
        if options.get("Settings"):
            request["Settings"] = options["Settings"]
    return {"service": recording["service"], "request": request}


def plan_batches(
    recordings: list[dict[str, Any]],
    *,
    ledger,
    batch_size: int,
    output_bucket: str,
    data_access_role_arn: str,
) -> list[dict[str, Any]]:
    """
    Bounded batches of job requests for the recordings that need a job; marks them ``submitted``.

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param batch_size: most jobs in one batch (one mapped task).
    :return: ``[{"jobs": [...]}, ...]`` for ``expand_kwargs``.
    """
    todo = [r for r in recordings if r["state"] in ("discovered", "submitted")]
    for recording in todo:
        if recording["state"] == "discovered":
            ledger.update(
                recording["night"],
                recording["recording_id"],
                state="submitted",
                attempts=recording["attempts"] + 1,
            )
    requests = [
        job_request(r, output_bucket=output_bucket, data_access_role_arn=data_access_role_arn) for r in todo
    ]
    batches = [{"jobs": requests[i : i + batch_size]} for i in range(0, len(requests), batch_size)]
    log.info("%d jobs to run in %d batches of at most %d", len(requests), len(batches), batch_size)
    return batches


def save_discovery(ledger, night: str, recordings: list, rejected: list) -> dict[str, Any]:
    """
    Write discovery's lists to the night's ``discover`` manifest; what the discover task returns.

    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifest).
    :param night: the night.
    :param recordings: ``discovery.Recording`` values.
    :param rejected: ``discovery.Rejected`` values.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}``.
    """
    from medscribe.manifests import manifest_key, write_manifest

    key = write_manifest(
        ledger.s3,
        ledger.bucket,
        manifest_key(ledger.prefix, night, "discover"),
        {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]},
    )
    return {"manifest": key, "recordings": len(recordings), "rejected": len(rejected)}


def save_discovery_part(ledger, night: str, shard: int, recordings: list, rejected: list) -> dict[str, Any]:
    """
    Write one discovery shard's lists to its own part of the night's ``discover`` manifest.

    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifest).
    :param night: the night.
    :param shard: the shard's number (``discovery.discover_night``'s ``shard``).
    :param recordings: ``discovery.Recording`` values.
    :param rejected: ``discovery.Rejected`` values.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}`` (one small XCom per shard).
    """
    from medscribe.manifests import manifest_key, write_manifest

    key = write_manifest(
        ledger.s3,
        ledger.bucket,
        manifest_key(ledger.prefix, night, f"discover/{shard:04d}"),
        {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]},
    )
    return {"manifest": key, "recordings": len(recordings), "rejected": len(rejected)}


def merge_discovery(ledger, night: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """
    The night's ``discover`` manifest from its shards' parts; what the ``discover`` task returns.

    A rerun with fewer shards leaves no stale part behind. Each recording comes from exactly one shard
    (``discovery.shard_of``); one found in two parts fails the night rather than being submitted twice.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param night: the night.
    :param parts: what :func:`save_discovery_part` returned for every shard.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}``, as :func:`save_discovery`.
    :raises ValueError: a recording id in two parts.
    """
    from medscribe.manifests import delete_stale, manifest_key, read_manifest, write_manifest

    merged: dict[str, list[dict[str, Any]]] = {"recordings": [], "rejected": []}
    for part in parts:
        manifest = read_manifest(ledger.s3, ledger.bucket, part["manifest"])
        for name in merged:
            merged[name] += manifest[name]
    ids = [entry["recording_id"] for name in merged for entry in merged[name]]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{len(ids) - len(set(ids))} recordings of {night} were found by two shards")
    key = write_manifest(ledger.s3, ledger.bucket, manifest_key(ledger.prefix, night, "discover"), merged)
    folder = posixpath.dirname(manifest_key(ledger.prefix, night, "discover/0")) + "/"
    delete_stale(ledger.s3, ledger.bucket, folder, {part["manifest"] for part in parts})
    log.info(
        "Night %s discovered by %d shards: %d recordings valid, %d quarantined",
        night,
        len(parts),
        len(merged["recordings"]),
        len(merged["rejected"]),
    )
    return {"manifest": key, "recordings": len(merged["recordings"]), "rejected": len(merged["rejected"])}


def night_recordings(ledger, discovery: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The valid recordings (``Recording.to_dict()`` values) of a discover task's result.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param discovery: what :func:`save_discovery` or :func:`merge_discovery` returned.
    """
    from medscribe.manifests import read_manifest

    return read_manifest(ledger.s3, ledger.bucket, discovery["manifest"])["recordings"]


def plan_batch_manifests(
    recordings: list[dict[str, Any]],
    *,
    ledger,
    night: str,
    batch_size: int,
    output_bucket: str,
    data_access_role_arn: str,
) -> list[str]:
    """
    :func:`plan_batches`, each batch written to its own manifest: the mapped job tasks get one key each.

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifests).
    :param night: the night.
    :param batch_size: most jobs in one batch (one mapped task).
    :param output_bucket: the bucket the jobs write to.
    :param data_access_role_arn: the role HealthScribe assumes.
    :return: the batch manifests' keys, in order (for ``expand``).
    """
    from medscribe.manifests import delete_stale, manifest_key, write_manifest

    batches = plan_batches(
        recordings,
        ledger=ledger,
        batch_size=batch_size,
        output_bucket=output_bucket,
        data_access_role_arn=data_access_role_arn,
    )
    keys = [
        write_manifest(
            ledger.s3, ledger.bucket, manifest_key(ledger.prefix, night, f"batches/{index:04d}"), batch
        )
        for index, batch in enumerate(batches)
    ]
    delete_stale(
        ledger.s3,
        ledger.bucket,
        posixpath.dirname(manifest_key(ledger.prefix, night, "batches/0")) + "/",
        set(keys),
    )
    return keys


def batch_outcomes(ledger, results: list[dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """
    The job outcomes of the night's batches, read from the manifests their tasks wrote.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param results: the batch tasks' results (``manifests.save_batch_outcomes``); None for a batch
        whose task failed (its jobs are then described by :func:`settle_night`).
    :return: ``{job name: {"status", "failure_reason"}}``.
    """
    from medscribe.manifests import read_manifest

    outcomes: dict[str, dict[str, Any]] = {}
    for result in results or []:
        if result and result.get("outcomes"):
            outcomes.update(read_manifest(ledger.s3, ledger.bucket, result["outcomes"]))
    return outcomes


def settle_night(
    *,
    recordings: list[dict[str, Any]],
    outcomes: dict[str, dict[str, Any]],
    describe_job: Callable[[str, str], dict[str, Any]],
    ledger,
    night: str,
) -> dict[str, int]:
    """
    Move every submitted recording of the night to ``succeeded`` or ``failed`` (with the reason).

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param outcomes: ``{job name: {"status", "failure_reason"}}`` merged from the batches (may miss jobs
        of batches that failed; those are described).
    :param describe_job: ``(service, job_name) -> job description``.
    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param night: the night.
    :return: the night's ledger states and their counts.
    """
    for recording in recordings:
        entry = ledger.get(night, recording["recording_id"])
        if entry is None or entry["state"] != "submitted":
            continue
        outcome = outcomes.get(entry["job_name"])
        if outcome is None or outcome["status"] not in ("COMPLETED", "FAILED", "NOT_STARTED"):
            try:
                job = describe_job(recording["service"], entry["job_name"])
                outcome = {
                    "status": job.get("MedicalScribeJobStatus") or job.get("TranscriptionJobStatus"),
                    "failure_reason": job.get("FailureReason"),
                }
            except Exception as error:  # never created: the batch failed before starting it
                outcome = {
                    "status": "NOT_STARTED",
                    "failure_reason": f"job was not started ({type(error).__name__})",
                }
        if outcome["status"] == "COMPLETED":
            ledger.update(night, recording["recording_id"], state="succeeded", reason=None)
        elif outcome["status"] in ("FAILED", "NOT_STARTED"):
            ledger.update(
                night,
                recording["recording_id"],
                state="failed",
                reason=outcome["failure_reason"] or outcome["status"],
            )
        else:
            ledger.update(
                night,
                recording["recording_id"],
                state="failed",
                reason=f"job still {outcome['status']} at the end of the run",
            )
    states: dict[str, int] = {}
    for entry in ledger.night(night):
        states[entry["state"]] = states.get(entry["state"], 0) + 1
    log.info("Night %s settled: %s", night, states)
    return states


def split_output_uri(uri: str) -> tuple[str, str]:
    """
    Bucket and key of an output URI: ``s3://b/k``, path style ``https://host/b/k`` (what AWS and the
    engine return), or virtual-hosted ``https://b.s3.<region>.amazonaws.com/k``.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return parsed.netloc, parsed.path.lstrip("/")
    host = parsed.netloc
    if ".s3." in host and not host.startswith("s3."):
        return host.split(".s3.", 1)[0], parsed.path.lstrip("/")
    bucket, _, key = parsed.path.lstrip("/").partition("/")
    if not bucket or not key:
        raise ValueError("output URI has no bucket and key")
    return bucket, key


def read_object_bytes(s3_client, uri: str) -> bytes:
    """Download one output file, unparsed."""
    bucket, key = split_output_uri(uri)
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_json_object(s3_client, uri: str) -> dict[str, Any]:
    """Download and parse one output file."""
    return json.loads(read_object_bytes(s3_client, uri))


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


def apply_quality(report: dict[str, Any], lake_uri: str, night: str) -> dict[str, int]:
    """
    Write the gate's verdict into the lake: the night's ``review_queue`` partition, and the
    ``quality_status`` of every row of ``jobs``, ``transcript_words`` and ``transcript_segments``
    (``passed`` | ``review`` per recording; null for recordings the gate had nothing to check in).

    :param report: a :func:`medscribe.quality.gate.run_gate` report.
    :param lake_uri: root of the Parquet lake.
    :param night: the night, YYYY-MM-DD.
    :return: review_queue rows, and rows per status.
    """
    import pyarrow.compute as pc

    from medscribe.lake.store import read_table
    from medscribe.quality.gate import review_queue_table

    statuses = report["quality_status"]
    ids = sorted(statuses)
    values = [statuses[i] for i in ids]
    counts = {"review_queue": len(report["review_queue"])}
    write_partition("review_queue", review_queue_table(report), lake_uri, night)
    for name in ("jobs", "transcript_words", "transcript_segments"):
        table = read_table(name, lake_uri, night=night).drop_columns(["night"])
        status = pc.take(
            pa.array(values, pa.string()),
            pc.index_in(table["recording_id"], value_set=pa.array(ids, pa.string())),
        )
        table = table.set_column(
            table.schema.get_field_index("quality_status"), TABLES[name].field("quality_status"), status
        )
        write_partition(name, table, lake_uri, night)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    log.info("Night %s quality written: %s", night, counts)
    return counts
