"""What a recording's sidecar and job request must satisfy before discovery admits it.

Anything the service would refuse is refused here, at discovery, so that it is quarantined with a
reason instead of reaching the batch operator: the sidecar is checked against a JSON schema whose
enums and ranges come from botocore's transcribe service model, and every planned Start* request is
checked with botocore's own ``ParamValidator`` against the operation's input shape (what a boto3 client
checks before it sends anything). Reasons name fields and limits, never the values a sidecar holds.
"""

from __future__ import annotations

import functools
from typing import Any

from medscribe.services import Service

KINDS = ("conversation", "dictation")
OPERATIONS: dict[str, str] = {
    Service.HEALTHSCRIBE: "StartMedicalScribeJob",
    Service.TRANSCRIBE_MEDICAL: "StartMedicalTranscriptionJob",
}
# A sidecar holds a handful of settings; anything larger is not one.
MAX_SIDECAR_BYTES = 64 * 1024


class RefusedInput(ValueError):
    """A sidecar or request the service would refuse; the message is safe to log (no key, no value)."""


@functools.cache
def service_model():
    """botocore's model of the transcribe service (HealthScribe and Transcribe Medical)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("transcribe")


def _member(operation: str, *path: str):
    shape = service_model().operation_model(operation).input_shape
    for name in path:
        shape = shape.member if name == "[]" else shape.members[name]
    return shape


@functools.cache
def sidecar_schema() -> dict[str, Any]:
    """The sidecar's JSON schema: known keys only, with the service model's enums and ranges."""
    scribe, medical = OPERATIONS[Service.HEALTHSCRIBE], OPERATIONS[Service.TRANSCRIBE_MEDICAL]
    speakers = _member(scribe, "Settings", "MaxSpeakerLabels").metadata
    channels = _member(scribe, "ChannelDefinitions").metadata
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": list(KINDS)},
            "channel_roles": {
                "type": "array",
                "items": {"enum": _member(scribe, "ChannelDefinitions", "[]", "ParticipantRole").enum},
                "minItems": channels["min"],
                "maxItems": channels["max"],
                "uniqueItems": True,
            },
            "max_speakers": {"type": "integer", "minimum": speakers["min"], "maximum": speakers["max"]},
            "specialty": {"enum": _member(medical, "Specialty").enum},
            "note_template": {
                "enum": _member(scribe, "Settings", "ClinicalNoteGenerationSettings", "NoteTemplate").enum
            },
        },
    }


def _json_type(value: Any) -> str:
    for name, kind in (("null", type(None)), ("a boolean", bool), ("a number", (int, float)), ("a string", str),
                       ("an array", list), ("an object", dict)):  # fmt: skip
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _describe(error) -> str:
    """One schema violation in words that name the field and the rule, never the sidecar's value."""
    field = "/".join(str(part) for part in error.absolute_path)
    rule, limit = error.validator, error.validator_value
    if rule == "additionalProperties":
        known = ", ".join(sidecar_schema()["properties"])
        extra = len(set(error.instance) - set(error.schema.get("properties", {})))
        return f"sidecar has {extra} unknown key{'s' if extra > 1 else ''} (known: {known})"
    if rule == "type" and not field:
        return f"sidecar must be a JSON object, not {_json_type(error.instance)}"
    match rule:
        case "type":
            text = f"must be {'an' if str(limit)[:1] in 'aeiou' else 'a'} {limit}, not {_json_type(error.instance)}"
        case "enum":
            text = f"must be one of {', '.join(map(str, limit))}"
        case "minimum" | "maximum":
            text = f"must be at {'least' if rule == 'minimum' else 'most'} {limit}"
        case "minItems" | "maxItems":
            text = f"must have at {'least' if rule == 'minItems' else 'most'} {limit} items"
        case "uniqueItems":
            text = "must not repeat an item"
        case _:
            text = f"fails the schema's {rule} rule"
    return f"sidecar {field} {text}"


def check_sidecar(sidecar: Any) -> dict[str, Any]:
    """
    Check a parsed sidecar against :func:`sidecar_schema`.

    :param sidecar: the sidecar's parsed JSON (any JSON value), or None when the recording has none.
    :return: the sidecar as a dict (empty when there is none).
    :raises RefusedInput: naming every violated rule, in the order of the fields.
    """
    if sidecar is None:
        return {}
    from jsonschema import Draft202012Validator

    errors = Draft202012Validator(sidecar_schema()).iter_errors(sidecar)
    errors = sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    if errors:
        raise RefusedInput("; ".join(dict.fromkeys(_describe(error) for error in errors)))
    return dict(sidecar)


def check_request(service: str, request: dict[str, Any]) -> None:
    """
    Validate a Start* request with botocore's ParamValidator against the operation's input shape.

    :param service: "healthscribe" or "transcribe_medical".
    :param request: the request as the batch operator will send it.
    :raises RefusedInput: with botocore's report (parameter names and limits).
    """
    from botocore.validate import ParamValidator

    shape = service_model().operation_model(OPERATIONS[service]).input_shape
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        problems = "; ".join(report.generate_report().splitlines())
        raise RefusedInput(f"the service would refuse the job request: {problems}")
