"""Find one night's recordings in S3, check them, and turn each into a job request.

Layout (documented in README.md)::

    s3://<bucket>/<prefix>/<YYYY-MM-DD>/<anything>/<recording>.<ext>
    s3://<bucket>/<prefix>/<YYYY-MM-DD>/<anything>/<recording>.<ext>.json   (optional sidecar)

Routing rule: a sidecar's ``kind`` wins; otherwise a path component ``dictations`` makes the recording a
dictation, anything else is a conversation. Conversations go to HealthScribe, dictations to Transcribe
Medical. The sidecar may also give ``channel_roles`` (two-channel audio, default CLINICIAN then
PATIENT), ``max_speakers`` (mono conversations, default 2), ``specialty`` (dictations, default
PRIMARYCARE) and ``note_template`` (HealthScribe's ClinicalNoteGenerationSettings.NoteTemplate).

Every recording is identified by the SHA-256 of its bytes, never by its key (keys may carry patient
names): the audio is copied server-side to ``s3://<bucket>/<staging_prefix>/<sha256>.<ext>`` and jobs
read that copy, so job names, task parameters, XCom and logs never see the original key. Job names
derive from the content hash and the job settings, so a rerun finds the same names.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("conversation", "dictation")
SERVICE_BY_KIND = {"conversation": "healthscribe", "dictation": "transcribe_medical"}
NOTE_TEMPLATES = (
    "HISTORY_AND_PHYSICAL", "GIRPP", "BIRP", "SIRP", "DAP", "BEHAVIORAL_SOAP", "PHYSICAL_SOAP",
)


@dataclass(frozen=True)
class Limits:
    """What a recording must satisfy before any job is started (AWS's documented input limits).

    :param min_sample_rate_hz: lowest accepted sample rate (HealthScribe and Transcribe Medical: 16 kHz).
    :param max_sample_rate_hz: highest accepted sample rate.
    :param max_channels: most channels (channel identification supports two).
    :param min_duration_s: shortest accepted audio.
    :param max_duration_s: longest accepted audio (HealthScribe: 4 hours).
    :param max_size_bytes: largest accepted file (2 GB).
    """

    min_sample_rate_hz: int = 16_000
    max_sample_rate_hz: int = 48_000
    max_channels: int = 2
    min_duration_s: float = 0.5
    max_duration_s: float = 4 * 3600.0
    max_size_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class AudioInfo:
    """What the bytes of a recording turned out to be."""

    media_format: str
    sample_rate_hz: int
    channels: int
    duration_s: float


class InvalidRecording(ValueError):
    """The recording cannot be sent to a service; the message is safe to log (no key, no content)."""


# Leading bytes of each container the services accept (MediaFormat values).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),
    (0, b"#!AMR", "amr"),
    (4, b"ftyp", "mp4"),
    (0, b"ID3", "mp3"),
)


def sniff_format(head: bytes) -> str | None:
    """The MediaFormat of a file from its first bytes, or None when it is no audio container we accept."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    for offset, magic, media_format in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_format
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:  # MPEG audio frame sync
        return "mp3"
    return None


def probe_audio(data: bytes, limits: Limits = Limits()) -> AudioInfo:
    """
    Check a recording's bytes: container sniffed from content, then fully decoded with PyAV.

    :param data: the whole file.
    :param limits: the acceptance limits.
    :raises InvalidRecording: with a reason that carries no patient data.
    """
    import av  # PyAV: imported here, DAG files must stay light to parse

    if not data:
        raise InvalidRecording("empty file (0 bytes)")
    if len(data) > limits.max_size_bytes:
        raise InvalidRecording(f"file too large ({len(data)} bytes > {limits.max_size_bytes})")
    media_format = sniff_format(data[:16])
    if media_format is None:
        raise InvalidRecording("not an audio file: content matches no supported format (wav, flac, mp3, mp4, ogg, webm, amr)")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InvalidRecording(f"{media_format} file has no audio stream")
            stream = container.streams.audio[0]
            sample_rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            samples = sum(frame.samples for frame in container.decode(stream))
    except InvalidRecording:
        raise
    except (av.error.FFmpegError, ValueError, EOFError) as error:
        raise InvalidRecording(f"unreadable {media_format} audio ({type(error).__name__})") from None
    if not sample_rate or not samples:
        raise InvalidRecording(f"{media_format} file holds no audio samples")
    duration = samples / sample_rate
    if media_format == "wav":
        _check_wav_length(data)
    if sample_rate < limits.min_sample_rate_hz:
        raise InvalidRecording(f"sample rate {sample_rate} Hz is under the minimum of {limits.min_sample_rate_hz} Hz")
    if sample_rate > limits.max_sample_rate_hz:
        raise InvalidRecording(f"sample rate {sample_rate} Hz is over the maximum of {limits.max_sample_rate_hz} Hz")
    if channels > limits.max_channels:
        raise InvalidRecording(f"{channels} channels; at most {limits.max_channels} are supported")
    if duration < limits.min_duration_s:
        raise InvalidRecording(f"audio too short ({duration:.2f} s < {limits.min_duration_s} s)")
    if duration > limits.max_duration_s:
        raise InvalidRecording(f"audio too long ({duration:.0f} s > {limits.max_duration_s:.0f} s)")
    return AudioInfo(media_format, int(sample_rate), int(channels), round(duration, 3))


def _check_wav_length(data: bytes) -> None:
    """A WAV whose data chunk claims more bytes than the file holds was cut short in transfer."""
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], int.from_bytes(data[position + 4 : position + 8], "little")
        if chunk_id == b"data":
            available = len(data) - position - 8
            if size > available and size != 0xFFFFFFFF:
                raise InvalidRecording(f"truncated wav: data chunk declares {size} bytes, {available} present")
            return
        position += 8 + size + (size & 1)


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

    @property
    def needs_job(self) -> bool:
        """True unless the recording already succeeded, or failed and no retry was asked for."""
        return self.state in ("discovered", "submitted")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rejected:
    """A recording that failed validation; it is recorded, never silently skipped."""

    recording_id: str
    night: str
    size_bytes: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def night_prefix(prefix: str, night: str) -> str:
    """The S3 prefix holding one night's recordings."""
    return posixpath.join(prefix.strip("/"), night) + "/"


def list_recording_keys(s3_client, bucket: str, prefix: str, night: str) -> tuple[list[str], dict[str, str]]:
    """
    Keys of the night's recordings and of their sidecars.

    :return: (audio keys sorted, {audio key: sidecar key})
    """
    keys: list[str] = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=night_prefix(prefix, night)):
        keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
    key_set = set(keys)
    sidecars = {key[: -len(".json")]: key for key in keys if key.endswith(".json") and key[:-5] in key_set}
    audio = sorted(key for key in keys if not key.endswith(".json"))
    return audio, sidecars


def routing_options(key: str, sidecar: dict[str, Any] | None) -> dict[str, Any]:
    """Kind and job options of a recording from its sidecar, else from its path (see module docstring)."""
    sidecar = dict(sidecar or {})
    parts = key.split("/")[:-1]
    kind = sidecar.pop("kind", None) or ("dictation" if "dictations" in parts else "conversation")
    if kind not in KINDS:
        raise InvalidRecording(f"sidecar kind must be one of {KINDS}")
    template = sidecar.get("note_template")
    if template is not None and template not in NOTE_TEMPLATES:
        raise InvalidRecording(f"sidecar note_template must be one of {NOTE_TEMPLATES}")
    roles = sidecar.get("channel_roles")
    if roles is not None and (len(roles) != 2 or set(roles) != {"CLINICIAN", "PATIENT"}):
        raise InvalidRecording("sidecar channel_roles must name CLINICIAN and PATIENT once each")
    return {"kind": kind, **sidecar}


def job_settings(kind: str, audio: AudioInfo, options: dict[str, Any]) -> dict[str, Any]:
    """The service settings of a recording's job (what goes into the request besides names and URIs)."""
    if kind == "conversation":
        settings: dict[str, Any]
        request: dict[str, Any] = {}
        if audio.channels == 2:
            roles = options.get("channel_roles") or ["CLINICIAN", "PATIENT"]
            settings = {"ChannelIdentification": True}
            request["ChannelDefinitions"] = [
                {"ChannelId": channel, "ParticipantRole": role} for channel, role in enumerate(roles)
            ]
        else:
            settings = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": int(options.get("max_speakers", 2))}
        if options.get("note_template"):
            settings["ClinicalNoteGenerationSettings"] = {"NoteTemplate": options["note_template"]}
        return {"Settings": settings, **request}
    settings = {"ChannelIdentification": True} if audio.channels == 2 else {}
    return {
        "Type": "DICTATION",
        "Specialty": options.get("specialty", "PRIMARYCARE"),
        "MediaFormat": audio.media_format,
        "MediaSampleRateHertz": audio.sample_rate_hz,
        **({"Settings": settings} if settings else {}),
    }


def job_name_for(service: str, sha256: str, settings: dict[str, Any]) -> str:
    """Deterministic job name from content hash and settings (never from the key)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    return f"medscribe-{'hs' if service == 'healthscribe' else 'tm'}-{sha256[:40]}-{digest}"


def discover_night(
    s3_client,
    *,
    bucket: str,
    prefix: str,
    night: str,
    staging_prefix: str,
    quarantine_prefix: str = "quarantine",
    ledger=None,
    retry_failed: bool = False,
    limits: Limits = Limits(),
) -> tuple[list[Recording], list[Rejected]]:
    """
    Find, check and stage one night's recordings.

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param prefix: the prefix above the night folders.
    :param night: the night, YYYY-MM-DD.
    :param staging_prefix: where content-addressed copies of valid recordings go.
    :param quarantine_prefix: where invalid recordings are copied (with the reason as object metadata).
    :param ledger: a :class:`medscribe.ledger.Ledger`; entries are created or read back (reruns).
    :param retry_failed: give recordings whose job failed on an earlier run a new job (a new name).
    :param limits: acceptance limits.
    :return: the valid recordings and the rejected ones (each with its reason).
    """
    audio_keys, sidecars = list_recording_keys(s3_client, bucket, prefix, night)
    recordings: dict[str, Recording] = {}
    rejected: dict[str, Rejected] = {}
    for key in audio_keys:
        data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        sha256 = hashlib.sha256(data).hexdigest()
        recording_id = sha256[:32]
        if recording_id in recordings or recording_id in rejected:
            log.info("Recording %s appears twice in the night; processed once", recording_id)
            continue
        try:
            sidecar = None
            if key in sidecars:
                try:
                    sidecar = json.loads(s3_client.get_object(Bucket=bucket, Key=sidecars[key])["Body"].read())
                except json.JSONDecodeError:
                    raise InvalidRecording("sidecar is not valid JSON") from None
            options = routing_options(key, sidecar)
            audio = probe_audio(data, limits)
        except InvalidRecording as error:
            rejected[recording_id] = Rejected(recording_id, night, len(data), str(error))
            log.warning("Recording %s quarantined: %s", recording_id, error)
            _quarantine(s3_client, bucket, key, quarantine_prefix, night, recording_id, str(error))
            if ledger is not None:
                previous = ledger.get(night, recording_id) or {}
                ledger.put(
                    {"night": night, "recording_id": recording_id, "state": "quarantined", "reason": str(error),
                     "size_bytes": len(data), "attempts": 0, "discovered_at": previous.get("discovered_at") or _now()}
                )
            continue
        kind = options.pop("kind")
        service = SERVICE_BY_KIND[kind]
        staged_key = posixpath.join(staging_prefix.strip("/"), f"{sha256}.{audio.media_format}")
        _stage(s3_client, bucket, key, staged_key)
        settings = job_settings(kind, audio, options)
        recording = Recording(
            recording_id=recording_id,
            night=night,
            kind=kind,
            service=service,
            size_bytes=len(data),
            audio=audio,
            media_uri=f"s3://{bucket}/{staged_key}",
            job_name=job_name_for(service, sha256, settings),
            options=settings,
        )
        if ledger is not None:
            _reconcile(ledger, recording, retry_failed)
        recordings[recording_id] = recording
    log.info("Night %s: %d recordings valid, %d quarantined", night, len(recordings), len(rejected))
    return list(recordings.values()), list(rejected.values())


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


def _quarantine(s3_client, bucket: str, key: str, prefix: str, night: str, recording_id: str, reason: str) -> None:
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
