"""A recording's sidecar and routing: its kind, its service, its job's settings and its job's name.

Routing rule: a sidecar's ``kind`` wins; otherwise a path component ``dictations`` makes the recording a
dictation, anything else is a conversation. Conversations go to HealthScribe, dictations to Transcribe
Medical. The sidecar may also give ``channel_roles`` (two-channel audio, default CLINICIAN then
PATIENT), ``max_speakers`` (mono conversations, default 2), ``specialty`` (dictations, default
PRIMARYCARE) and ``note_template`` (HealthScribe's ClinicalNoteGenerationSettings.NoteTemplate); a
sidecar with anything else is refused (``medscribe.admission``). Job names derive from the content hash
and the job settings, so a rerun finds the same names.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from medscribe.admission import MAX_SIDECAR_BYTES, RefusedInput, check_sidecar
from medscribe.audio import AudioInfo, InvalidRecording
from medscribe.services import Service

#: the service of each kind of recording (plain strings: they travel in manifests and the ledger)
SERVICE_BY_KIND = {"conversation": Service.HEALTHSCRIBE.value, "dictation": Service.TRANSCRIBE_MEDICAL.value}


def read_sidecar(s3_client, bucket: str, key: str) -> Any:
    """
    A sidecar's parsed JSON (any JSON value), read only when it is small enough to be one.

    :raises InvalidRecording: too large, not UTF-8 JSON, or nested too deep to parse.
    """
    response = s3_client.get_object(Bucket=bucket, Key=key)
    if response["ContentLength"] > MAX_SIDECAR_BYTES:
        response["Body"].close()
        raise InvalidRecording(f"sidecar too large ({response['ContentLength']} bytes > {MAX_SIDECAR_BYTES})")
    try:
        sidecar = json.loads(response["Body"].read())
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidRecording("sidecar is not valid JSON") from None
    if sidecar is None:  # None means "no sidecar" to routing_options
        raise InvalidRecording("sidecar must be a JSON object, not null")
    return sidecar


def routing_options(key: str, sidecar: Any) -> dict[str, Any]:
    """
    Kind and job options of a recording from its sidecar, else from its path (see module docstring).

    :param key: the recording's key.
    :param sidecar: its sidecar's parsed JSON (any value), or None.
    :raises InvalidRecording: the sidecar breaks its schema (``admission.sidecar_schema``).
    """
    try:
        options = check_sidecar(sidecar)
    except RefusedInput as error:
        raise InvalidRecording(str(error)) from None
    kind = options.pop("kind", None) or (
        "dictation" if "dictations" in key.split("/")[:-1] else "conversation"
    )
    return {"kind": kind, **options}


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
    return f"medscribe-{Service(service).job_prefix}-{sha256[:40]}-{digest}"
