"""The settings of ``StartMedicalScribeStream``: its request headers, then its first event, the
``MedicalScribeConfigurationEvent``, checked as the service model and AWS's documented rules say.

The configuration is kept as the accepted JSON object (member names as in the model): it holds role
ARNs, bucket, vocabulary and key names, never audio or text, and a resumed session must send the same
one again (AWS: "this event must have the same configurations that you provided to start the session").
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Literal, overload

from medscribe_engine.exceptions import BadRequestException
from medscribe_engine.pipeline.notes.templates import DEFAULT_TEMPLATE, TEMPLATES
from medscribe_engine.streaming.settings import (
    ENCODINGS,
    MAX_RATE,
    PREFIX,
    SESSION_ID,
    _one_of,
    _required,
)
from medscribe_engine.validation import check_role_arn

MIN_SCRIBE_RATE = 16000  # HealthScribe streams take 16-48 kHz (MedicalScribeMediaSampleRateHertz)
ROLES = ("CLINICIAN", "PATIENT")
FILTER_METHODS = ("remove", "mask", "tag")
PRONOUNS = ("HE_HIM", "SHE_HER", "THEY_THEM")
NOTE_TEMPLATES = (
    "HISTORY_AND_PHYSICAL", "GIRPP", "DAP", "SIRP", "BIRP", "BEHAVIORAL_SOAP", "PHYSICAL_SOAP",
)  # fmt: skip
BUCKET = re.compile(r"^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$")
KNOWN_MEMBERS = (
    "ResourceAccessRoleArn", "PostStreamAnalyticsSettings", "VocabularyName", "VocabularyFilterName",
    "VocabularyFilterMethod", "ChannelDefinitions", "EncryptionSettings", "MedicalScribeContext",
)  # fmt: skip


@dataclass(frozen=True)
class ScribeStreamSettings:
    """The request headers of a scribe stream, as accepted."""

    language_code: str
    sample_rate: int
    media_encoding: str
    session_id: str

    def response_headers(self) -> list[tuple[str, str]]:
        """The response's echo of the request headers (the model's output members)."""
        headers = [
            ("session-id", self.session_id),
            ("language-code", self.language_code),
            ("sample-rate", str(self.sample_rate)),
            ("media-encoding", self.media_encoding),
        ]
        return [(PREFIX + name, value) for name, value in headers]


def parse_scribe_headers(headers: dict[str, str]) -> ScribeStreamSettings:
    """The settings of a scribe stream from its (lower-cased) request headers; BadRequestException
    otherwise."""
    language = _required(headers, "language-code")
    if language != "en-US":
        raise BadRequestException(
            f"The language code {language} isn't supported for HealthScribe: use en-US."
        )
    rate_text = _required(headers, "sample-rate")
    if not rate_text.isdigit() or not MIN_SCRIBE_RATE <= int(rate_text) <= MAX_RATE:
        raise BadRequestException(
            f"The sample rate {rate_text} isn't valid. The sample rate must be between {MIN_SCRIBE_RATE} and "
            f"{MAX_RATE} Hz."
        )
    encoding = _one_of(_required(headers, "media-encoding"), ENCODINGS, "mediaEncoding")
    session_id = headers.get(PREFIX + "session-id") or str(uuid.uuid4())
    if not SESSION_ID.match(session_id):
        raise BadRequestException("The session id must be a UUID (36 characters).")
    return ScribeStreamSettings(language, int(rate_text), encoding, session_id.lower())


def _object(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise BadRequestException(f"{name} must be an object.")
    return value


@overload
def _text(value, name: str, required: Literal[True]) -> str: ...


@overload
def _text(value, name: str, required: bool = False) -> str | None: ...


def _text(value, name: str, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadRequestException(f"The ConfigurationEvent is missing the required member {name}.")
        return None
    if not isinstance(value, str) or not value:
        raise BadRequestException(f"{name} must be a non-empty string.")
    return value


def parse_configuration(payload: bytes) -> dict:
    """The accepted ``MedicalScribeConfigurationEvent`` (its JSON object); BadRequestException otherwise.
    Whether the named vocabulary and filter exist is checked by the caller (they live in the engine).

    :param payload: the event's JSON payload.
    """
    try:
        event = json.loads(payload or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequestException("The ConfigurationEvent is not valid JSON.") from None
    event = _object(event, "The ConfigurationEvent")
    unknown = sorted(set(event) - set(KNOWN_MEMBERS))
    if unknown:
        raise BadRequestException(f"The ConfigurationEvent has unknown members: {', '.join(unknown)}.")
    arn = _text(event.get("ResourceAccessRoleArn"), "ResourceAccessRoleArn", required=True)
    check_role_arn(arn, "ResourceAccessRoleArn")
    if "PostStreamAnalyticsSettings" not in event:
        raise BadRequestException(
            "The ConfigurationEvent is missing the required member PostStreamAnalyticsSettings."
        )
    analytics = _object(event["PostStreamAnalyticsSettings"], "PostStreamAnalyticsSettings")
    notes = _object(analytics.get("ClinicalNoteGenerationSettings"), "ClinicalNoteGenerationSettings")
    bucket = _text(notes.get("OutputBucketName"), "OutputBucketName", required=True)
    if not BUCKET.match(bucket):
        raise BadRequestException("The OutputBucketName is not a valid S3 bucket name.")
    template = _text(notes.get("NoteTemplate"), "NoteTemplate")
    if template is not None:
        _one_of(template, NOTE_TEMPLATES, "noteTemplate")
        if template not in TEMPLATES:
            raise BadRequestException(f"The note template {template} is not supported by the engine yet.")
    _text(event.get("VocabularyName"), "VocabularyName")
    filter_name = _text(event.get("VocabularyFilterName"), "VocabularyFilterName")
    method = _text(event.get("VocabularyFilterMethod"), "VocabularyFilterMethod")
    if bool(filter_name) != bool(method):
        raise BadRequestException("VocabularyFilterName and VocabularyFilterMethod must be set together.")
    if method is not None:
        _one_of(method, FILTER_METHODS, "vocabularyFilterMethod")
    definitions = event.get("ChannelDefinitions")
    if definitions is not None:
        if not isinstance(definitions, list) or len(definitions) != 2:
            raise BadRequestException("ChannelDefinitions must define exactly two channels.")
        for definition in definitions:
            _object(definition, "A ChannelDefinition")
            _one_of(str(definition.get("ParticipantRole")), ROLES, "participantRole")
        if sorted(str(definition.get("ChannelId")) for definition in definitions) != ["0", "1"]:
            raise BadRequestException("ChannelDefinitions must define channel 0 and channel 1 once each.")
        if sorted(definition["ParticipantRole"] for definition in definitions) != sorted(ROLES):
            raise BadRequestException("ChannelDefinitions must define one CLINICIAN and one PATIENT channel.")
    if "EncryptionSettings" in event:
        encryption = _object(event["EncryptionSettings"], "EncryptionSettings")
        _text(encryption.get("KmsKeyId"), "EncryptionSettings.KmsKeyId", required=True)
        context = encryption.get("KmsEncryptionContext")
        if context is not None and not (
            isinstance(context, dict) and all(isinstance(v, str) for v in context.values())
        ):
            raise BadRequestException("EncryptionSettings.KmsEncryptionContext must map strings to strings.")
    if "MedicalScribeContext" in event:
        patient = _object(event["MedicalScribeContext"], "MedicalScribeContext").get("PatientContext") or {}
        pronouns = _object(patient, "PatientContext").get("Pronouns")
        if pronouns is not None:
            _one_of(str(pronouns), PRONOUNS, "pronouns")
    return event


def channel_count(configuration: dict) -> int:
    """Audio channels of the session: two with ChannelDefinitions (one speaker each), else one."""
    return 2 if configuration.get("ChannelDefinitions") else 1


def note_template(configuration: dict) -> str:
    """The session's NoteTemplate, with AWS's default."""
    notes = configuration["PostStreamAnalyticsSettings"]["ClinicalNoteGenerationSettings"]
    return notes.get("NoteTemplate") or DEFAULT_TEMPLATE
