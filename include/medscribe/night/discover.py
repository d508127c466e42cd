"""Find one night's recordings in S3, check them, and turn each into a job request.

The night's keys are listed and sharded by ``night.keys`` and routed by ``night.routing`` (layout and
routing rule in their docstrings); a sidecar that breaks its schema, or a planned request the service
would refuse, is quarantined (``medscribe.admission``). A sidecar without its audio is quarantined too,
and the same audio under two keys with different routing gets a note in its ledger entry.

Every recording is identified by the SHA-256 of its bytes, never by its key (keys may carry patient
names): the audio is copied server-side to ``s3://<bucket>/<staging_prefix>/<sha256>.<ext>`` and jobs
read that copy, so job names, task parameters, XCom and logs never see the original key. Job names
derive from the content hash and the job settings, so a rerun finds the same names.

One call discovers one shard of the night's keys (``shard``/``shards``); the shards of a night together
do what one call with ``shards=1`` does (``night.keys`` says why).
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any

from medscribe.admission import RefusedInput, check_request
from medscribe.audio import AudioInfo, InvalidRecording, Limits, check_size, probe_audio
from medscribe.night.keys import night_objects, shard_of, split_keys
from medscribe.night.plan import job_request  # the very request the plan task will send
from medscribe.night.routing import SERVICE_BY_KIND, job_name_for, job_settings, read_sidecar, routing_options
from medscribe.services import Service
from medscribe.spool import S3Object

log = logging.getLogger(__name__)

#: AWS's documented input limits (``audio.Limits``' defaults)
DEFAULT_LIMITS = Limits()


@dataclass
class Recording:
    """One recording of one night, ready to become a job. Carries no key and no patient data."""

    recording_id: str
    night: str
    kind: str
    service: str
    size_bytes: int
    audio: AudioInfo
    media_uri: str
    job_name: str
    options: dict[str, Any] = field(default_factory=dict)
    state: str = "discovered"
    attempts: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rejected:
    """A recording that failed validation; it is recorded, never silently skipped."""

    recording_id: str
    night: str
    size_bytes: int
    reason: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def discover_night(
    s3_client,
    *,
    bucket: str,
    prefix: str,
    night: str,
    staging_prefix: str,
    output_bucket: str,
    data_access_role_arn: str,
    quarantine_prefix: str = "quarantine",
    ledger=None,
    retry_failed: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    shard: int = 0,
    shards: int = 1,
) -> tuple[list[Recording], list[Rejected]]:
    """
    Find, check and stage one night's recordings (or one shard of them).

    A recording whose bytes, sidecar or planned job request the service would refuse is quarantined with
    the reason; so is a sidecar without its audio. Nothing about one recording stops another. The
    ``shards`` calls of one night (any order, in parallel) together do what one call with ``shards=1``
    does, each recording in exactly one of them (:func:`shard_of`).

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param prefix: the prefix above the night folders.
    :param night: the night, YYYY-MM-DD.
    :param staging_prefix: where content-addressed copies of valid recordings go.
    :param output_bucket: the bucket the jobs write to (part of each planned request).
    :param data_access_role_arn: the role HealthScribe assumes (part of each planned request).
    :param quarantine_prefix: where invalid recordings are copied (with the reason as object metadata).
    :param ledger: a :class:`medscribe.ledger.Ledger`; entries are created or read back (reruns).
    :param retry_failed: give recordings whose job failed on an earlier run a new job (a new name).
    :param limits: acceptance limits.
    :param shard: which shard of the night's keys to discover, ``0 <= shard < shards``.
    :param shards: how many shards the night's keys are split into (1: the whole night).
    :return: the valid recordings and the rejected ones (each with its reason).
    :raises ValueError: ``output_bucket`` or ``data_access_role_arn`` is one the service would refuse
        (before anything is read or recorded), or ``shard`` is not one of ``shards``.
    """
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of {shards} shards")
    destination = {"output_bucket": output_bucket, "data_access_role_arn": data_access_role_arn}
    _check_destination(job_request, destination)
    objects = night_objects(s3_client, bucket, prefix, night)
    audio_keys, sidecars, orphans = split_keys(objects)
    if shards > 1:
        audio_keys = [key for key in audio_keys if shard_of(objects[key], shards) == shard]
        orphans = [key for key in orphans if shard_of(objects[key], shards) == shard]
    recordings: dict[str, Recording] = {}
    rejected: dict[str, Rejected] = {}
    routes: dict[str, str] = {}  # recording id -> routing of its first key, compared with later keys'

    def refuse(key: str, recording_id: str, size_bytes: int, reason: str) -> None:
        rejected[recording_id] = Rejected(recording_id, night, size_bytes, reason)
        log.warning("Recording %s quarantined: %s", recording_id, reason)
        _quarantine(s3_client, bucket, key, quarantine_prefix, night, recording_id, reason)
        if ledger is not None:
            previous = ledger.get(night, recording_id) or {}
            again = previous.get("state") == "quarantined" and previous.get("reason") == reason
            ledger.put(
                {
                    "night": night,
                    "recording_id": recording_id,
                    "state": "quarantined",
                    "reason": reason,
                    "size_bytes": size_bytes,
                    "attempts": 0,
                    "discovered_at": previous.get("discovered_at") or _now(),
                    "finished_at": previous.get("finished_at") if again else None,  # a rerun changes nothing
                }
            )

    for key in audio_keys:
        # Streamed: hashed on the way into a bounded spool (or S3's full-object checksum), never whole in memory.
        with S3Object(s3_client, bucket, key, spool_limit=limits.max_size_bytes) as source:
            sha256 = source.sha256
            recording_id = sha256[:32]
            refused: InvalidRecording | None = None
            try:
                sidecar = read_sidecar(s3_client, bucket, sidecars[key]) if key in sidecars else None
                options = routing_options(key, sidecar)
                route = json.dumps(options, sort_keys=True)
            except InvalidRecording as error:
                options, route, refused = {}, "a refused sidecar", error
            first = recordings.get(recording_id) or rejected.get(recording_id)
            if first is not None:
                _note_duplicate(first, routes[recording_id], route, ledger)
                continue
            routes[recording_id] = route
            try:
                if refused is not None:
                    raise refused
                check_size(source.size_bytes, limits)  # an empty or oversize file is never spooled
                audio = probe_audio(source.open(), limits)
                kind = options.pop("kind")
                service = SERVICE_BY_KIND[kind]
                staged_key = posixpath.join(staging_prefix.strip("/"), f"{sha256}.{audio.media_format}")
                settings = job_settings(kind, audio, options)
                recording = Recording(
                    recording_id=recording_id,
                    night=night,
                    kind=kind,
                    service=service,
                    size_bytes=source.size_bytes,
                    audio=audio,
                    media_uri=f"s3://{bucket}/{staged_key}",
                    job_name=job_name_for(service, sha256, settings),
                    options=settings,
                )
                check_request(service, job_request(recording.to_dict(), **destination)["request"])
            except (InvalidRecording, RefusedInput) as error:
                refuse(key, recording_id, source.size_bytes, str(error))
                continue
        _stage(s3_client, bucket, key, staged_key)
        if ledger is not None:
            _reconcile(ledger, recording, retry_failed)
        recordings[recording_id] = recording
    for key in orphans:
        response = s3_client.get_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256()
        for chunk in response["Body"].iter_chunks(1 << 20):
            digest.update(chunk)
        recording_id = digest.hexdigest()[:32]
        if recording_id in recordings or recording_id in rejected:
            log.info("Sidecar %s has the bytes of another object of the night; recorded once", recording_id)
            continue
        refuse(key, recording_id, response["ContentLength"], ORPHAN_SIDECAR)
    log.info(
        "Night %s, shard %d of %d: %d recordings valid, %d quarantined",
        night,
        shard,
        shards,
        len(recordings),
        len(rejected),
    )
    return list(recordings.values()), list(rejected.values())


# The reason of a sidecar whose recording is missing (or named otherwise): it is quarantined like one.
ORPHAN_SIDECAR = "sidecar without its audio: no recording of the night has its key without '.json'"


def _check_destination(job_request, destination: dict[str, str]) -> None:
    """Refuse an output bucket or role the service would refuse, before any recording is blamed for it."""
    probe = {
        "service": Service.HEALTHSCRIBE.value,
        "job_name": "medscribe-hs-destination-check",
        "media_uri": "s3://bucket/audio.wav",
        "options": {"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}},
    }
    try:
        check_request(Service.HEALTHSCRIBE.value, job_request(probe, **destination)["request"])
    except RefusedInput as error:
        raise ValueError(f"output_bucket or data_access_role_arn: {error}") from None


def _note_duplicate(first: Recording | Rejected, first_route: str, route: str, ledger) -> None:
    """The same audio under a second key: a note in its ledger entry when that key routes it differently."""
    if route == first_route:
        log.info("Recording %s appears twice in the night; processed once", first.recording_id)
        return
    first.notes.append(
        f"the same audio is also under another key, routed {route} there; this entry follows the first key ({first_route})"
    )
    log.warning(
        "Recording %s appears under keys with different routing; the first key's is used", first.recording_id
    )
    if ledger is not None:
        ledger.update(first.night, first.recording_id, notes=first.notes)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _reconcile(ledger, recording: Recording, retry_failed: bool) -> None:
    """Take state, attempts and job name from an earlier run's entry (reruns), then write the entry."""
    entry = ledger.get(recording.night, recording.recording_id) or {}
    base = recording.job_name  # from content and settings: the first attempt's name
    if entry.get("job_name") and entry.get("state") in ("submitted", "succeeded", "failed"):
        recording.job_name, recording.state = entry["job_name"], entry["state"]
    recording.attempts = entry.get("attempts") or 0
    if recording.state == "failed" and retry_failed:
        recording.job_name, recording.state = f"{base}-a{recording.attempts + 1}", "discovered"
    ledger.put(
        {
            "night": recording.night,
            "recording_id": recording.recording_id,
            "kind": recording.kind,
            "service": recording.service,
            "state": recording.state,
            "reason": entry.get("reason") if recording.state == "failed" else None,
            "job_name": recording.job_name,
            "attempts": recording.attempts,
            "size_bytes": recording.size_bytes,
            "media_format": recording.audio.media_format,
            "sample_rate_hz": recording.audio.sample_rate_hz,
            "channels": recording.audio.channels,
            "duration_s": recording.audio.duration_s,
            "discovered_at": entry.get("discovered_at") or _now(),
            "finished_at": entry.get("finished_at") if recording.state in ("succeeded", "failed") else None,
        }
    )


def _quarantine(
    s3_client, bucket: str, key: str, prefix: str, night: str, recording_id: str, reason: str
) -> None:
    """Copy an invalid recording under the quarantine prefix with its reason; the original stays as it is."""
    s3_client.copy_object(
        Bucket=bucket,
        Key=posixpath.join(prefix.strip("/"), night, recording_id),
        CopySource={"Bucket": bucket, "Key": key},
        Metadata={"reason": reason.encode("ascii", "replace").decode()[:1000], "night": night},
        MetadataDirective="REPLACE",
    )


def _stage(s3_client, bucket: str, key: str, staged_key: str) -> None:
    """Server-side copy to the content-addressed staging key, once."""
    from botocore.exceptions import ClientError

    try:
        s3_client.head_object(Bucket=bucket, Key=staged_key)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3_client.copy_object(Bucket=bucket, Key=staged_key, CopySource={"Bucket": bucket, "Key": key})
