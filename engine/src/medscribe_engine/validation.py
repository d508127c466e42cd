"""Request validation: botocore's own service model first, then the service's rules.

1. :class:`botocore.validate.ParamValidator` against the operation's input shape (required members,
   types, minimums, unknown parameters), plus what it leaves to the service: maximums, enum values and
   the ``pattern`` of every string the model constrains - the checks AWS does before anything else.
2. The rules AWS documents for each operation (which settings go together).
3. Features the engine does not implement yet are refused with BadRequestException, never ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from medscribe_engine.exceptions import BadRequestException, UnknownOperationException
from medscribe_engine.pipeline.s3 import parse_media_uri
from medscribe_engine.pipeline.writers import (
    healthscribe_output_key,
    output_key_refusal,
    transcribe_output_key,
)
from medscribe_engine.resources import DIARIZATION_UNAVAILABLE

SUPPORTED_ACTIONS = (
    "StartMedicalTranscriptionJob",
    "GetMedicalTranscriptionJob",
    "ListMedicalTranscriptionJobs",
    "DeleteMedicalTranscriptionJob",
    "StartMedicalScribeJob",
    "GetMedicalScribeJob",
    "ListMedicalScribeJobs",
    "DeleteMedicalScribeJob",
    "CreateMedicalVocabulary",
    "GetMedicalVocabulary",
    "ListMedicalVocabularies",
    "UpdateMedicalVocabulary",
    "DeleteMedicalVocabulary",
    "CreateVocabularyFilter",
    "GetVocabularyFilter",
    "ListVocabularyFilters",
    "UpdateVocabularyFilter",
    "DeleteVocabularyFilter",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)
JOB_NAME_RE = re.compile(r"[0-9a-zA-Z._-]{1,200}")


def not_supported(feature: str) -> BadRequestException:
    return BadRequestException(
        f"{feature} is not supported by the engine yet. Remove it from the request, or run the job on AWS."
    )


@lru_cache(maxsize=1)
def service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("transcribe")


def operation_model(action: str):
    if action not in SUPPORTED_ACTIONS:
        raise UnknownOperationException(f"The operation {action or '(none)'} is not supported by the engine.")
    return service_model().operation_model(action)


def _constraint_errors(value: Any, shape, path: str) -> list[str]:
    """What botocore's ParamValidator leaves to the service: ``max`` bounds, enums and patterns."""
    errors: list[str] = []
    if value is None:
        return errors
    maximum = shape.metadata.get("max")
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                errors += _constraint_errors(value[name], member, f"{path}.{name}" if path else name)
    elif shape.type_name == "list" and isinstance(value, list):
        if maximum is not None and len(value) > maximum:
            errors.append(f"Invalid length for parameter {path}, valid max length: {maximum}")
        for index, item in enumerate(value):
            errors += _constraint_errors(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            errors += _constraint_errors(key, shape.key, f"{path} key")
            errors += _constraint_errors(item, shape.value, f"{path}[{key!r}]")
    elif shape.type_name in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if maximum is not None and value > maximum:
            errors.append(f"Invalid value for parameter {path}, value: {value}, valid max value: {maximum}")
    elif shape.type_name == "string" and isinstance(value, str):
        if maximum is not None and len(value) > maximum:
            errors.append(f"Invalid length for parameter {path}, valid max length: {maximum}")
        if shape.enum and value not in shape.enum:
            errors.append(f"Invalid value for parameter {path}, valid values: {', '.join(shape.enum)}")
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                matched = True  # a pattern Python's re cannot read is not enforced
            if not matched:
                errors.append(f"Invalid value for parameter {path}: it does not match the pattern {pattern}")
    return errors


def validate_with_model(action: str, params: dict) -> None:
    """BadRequestException with botocore's report when ``params`` break the service model."""
    from botocore.validate import ParamValidator

    model = operation_model(action)
    report = ParamValidator().validate(params, model.input_shape)
    if report.has_errors():
        raise BadRequestException(report.generate_report())
    errors = _constraint_errors(params, model.input_shape, "")
    if errors:
        raise BadRequestException("Parameter validation failed:\n" + "\n".join(errors))


def _check_job_name(name: str) -> None:
    if not JOB_NAME_RE.fullmatch(name):
        raise BadRequestException(
            "The job name is not valid: use 1 to 200 characters from 0-9, a-z, A-Z, '.', '_' and '-'."
        )


def _check_media(params: dict) -> None:
    if parse_media_uri(params["Media"].get("MediaFileUri") or "") is None:
        raise BadRequestException(
            "The Media.MediaFileUri is not valid: use s3://<bucket>/<key> or https://<host>/<bucket>/<key>."
        )
    if params["Media"].get("RedactedMediaFileUri"):
        raise not_supported("Media.RedactedMediaFileUri")


def check_role_arn(arn: str, field: str = "DataAccessRoleArn") -> None:
    """BadRequestException unless ``arn`` names an IAM role: a 12-digit account and a role name.

    botocore's model pattern (checked before) allows any number of account digits and an empty name.

    :param arn: the role ARN of the request.
    :param field: the request field it came from, for the message.
    """
    from botocore.utils import ArnParser, InvalidArnException

    try:
        parts = ArnParser().parse_arn(arn)
    except InvalidArnException:
        parts = {}
    resource = parts.get("resource", "")
    if not (
        parts.get("service") == "iam"
        and re.fullmatch(r"[0-9]{12}", parts.get("account", ""))
        and resource.startswith("role/")
        and resource.rpartition("/")[2]
    ):
        raise BadRequestException(
            f"The {field} is not a valid IAM role ARN. "
            "Use arn:<partition>:iam::<12-digit account id>:role/<name>."
        )


def _refuse(reason: str | None) -> None:
    if reason:
        raise BadRequestException(reason)


def _check_common_unsupported(params: dict) -> None:
    if params.get("KMSEncryptionContext") and not params.get("OutputEncryptionKMSKeyId"):
        raise BadRequestException("KMSEncryptionContext can be set only with OutputEncryptionKMSKeyId.")


def check_start_medical_transcription_job(params: dict, diarization_available: bool) -> None:
    _check_job_name(params["MedicalTranscriptionJobName"])
    _check_media(params)
    output_key = transcribe_output_key(params["MedicalTranscriptionJobName"], params.get("OutputKey"))
    _refuse(output_key_refusal(output_key))
    if params["LanguageCode"] != "en-US":
        raise BadRequestException("Amazon Transcribe Medical supports only the en-US language code.")
    rate = params.get("MediaSampleRateHertz")
    if rate is not None and not 16000 <= rate <= 48000:
        raise BadRequestException(
            "The MediaSampleRateHertz is not valid: Amazon Transcribe Medical supports sample rates from "
            "16000 Hz to 48000 Hz."
        )
    settings = params.get("Settings") or {}
    speakers, channels = settings.get("ShowSpeakerLabels"), settings.get("ChannelIdentification")
    if speakers and channels:
        raise BadRequestException(
            "You can't specify both ShowSpeakerLabels and ChannelIdentification in the same request. "
            "Choose one and try your request again."
        )
    if bool(speakers) != ("MaxSpeakerLabels" in settings):
        raise BadRequestException(
            "MaxSpeakerLabels must be set together with ShowSpeakerLabels, and only with it."
        )
    if ("MaxAlternatives" in settings) != bool(settings.get("ShowAlternatives")):
        raise BadRequestException(
            "MaxAlternatives must be set together with ShowAlternatives, and only with it."
        )
    _check_common_unsupported(params)
    # DICTATION is one person: speaker labels need no diarization (every word is spk_0)
    if speakers and params["Type"] != "DICTATION" and not diarization_available:
        raise BadRequestException(DIARIZATION_UNAVAILABLE)


def check_start_medical_scribe_job(params: dict, diarization_available: bool) -> None:
    _check_job_name(params["MedicalScribeJobName"])
    _check_media(params)
    _refuse(output_key_refusal(healthscribe_output_key(params["MedicalScribeJobName"])))
    check_role_arn(params["DataAccessRoleArn"])
    settings = params["Settings"]
    speakers, channels = bool(settings.get("ShowSpeakerLabels")), bool(settings.get("ChannelIdentification"))
    if speakers == channels:
        raise BadRequestException(
            "You must specify either ShowSpeakerLabels or ChannelIdentification, but not both."
        )
    if speakers != ("MaxSpeakerLabels" in settings):
        raise BadRequestException(
            "MaxSpeakerLabels must be set when ShowSpeakerLabels is true, and only then."
        )
    definitions = params.get("ChannelDefinitions")
    if channels:
        if not definitions or len(definitions) != 2:
            raise BadRequestException(
                "When ChannelIdentification is true, ChannelDefinitions must define exactly two channels."
            )
        if sorted(definition["ChannelId"] for definition in definitions) != [0, 1]:
            raise BadRequestException("ChannelDefinitions must define channel 0 and channel 1 once each.")
    elif definitions:
        raise BadRequestException("ChannelDefinitions can be set only when ChannelIdentification is true.")
    if bool(settings.get("VocabularyFilterName")) != bool(settings.get("VocabularyFilterMethod")):
        raise BadRequestException("VocabularyFilterName and VocabularyFilterMethod must be set together.")
    _check_common_unsupported(params)
    if speakers and not diarization_available:
        raise BadRequestException(DIARIZATION_UNAVAILABLE)


def check_vocabulary_filter_request(params: dict) -> None:
    """CreateVocabularyFilter / UpdateVocabularyFilter: the role's shape; no KMS encryption of the filter.

    The engine keeps a filter's words in its own database and has no KMS to encrypt them with, so
    ``EncryptionConfiguration`` is refused rather than accepted and not honoured.

    :param params: the request, already valid against botocore's model.
    """
    if params.get("EncryptionConfiguration") is not None:
        raise BadRequestException(
            "EncryptionConfiguration is not supported by the engine: it stores vocabulary filters in its local "
            "database and has no KMS key to encrypt them with. Remove it from the request, or create the "
            "filter on AWS."
        )
    if params.get("DataAccessRoleArn"):
        check_role_arn(params["DataAccessRoleArn"])
