"""The two AWS services a recording is sent to, and HealthScribe's streams, named once.

A :class:`Service` is a ``str`` whose value is what the lake's ``service`` columns, the ledger, the
manifests and the batch operator's ``jobs`` carry ("healthscribe", "transcribe_medical"), so it compares
equal to those strings and serializes as them; its ``label`` is the name people read in logs and errors.
``healthscribe_streaming`` marks the sessions the night picks up from the outputs bucket
(``medscribe.streaming_sessions``); no job is ever started for them.
"""

from __future__ import annotations

from enum import StrEnum


class Service(StrEnum):
    """AWS HealthScribe (conversations) or Amazon Transcribe Medical (dictations); HealthScribe streams."""

    HEALTHSCRIBE = "healthscribe"
    TRANSCRIBE_MEDICAL = "transcribe_medical"
    HEALTHSCRIBE_STREAMING = "healthscribe_streaming"

    @property
    def label(self) -> str:
        """The service's name for people: "HealthScribe", "Transcribe Medical"."""
        return _LABELS[self]

    @property
    def job_name_field(self) -> str:
        """The job name's field in the service's Start/Get requests."""
        return _JOB_NAME_FIELDS[self]

    @property
    def job_prefix(self) -> str:
        """The short code in the night's job names (``medscribe-<code>-...``)."""
        return _JOB_PREFIXES[self]


_LABELS = {
    Service.HEALTHSCRIBE: "HealthScribe",
    Service.TRANSCRIBE_MEDICAL: "Transcribe Medical",
    Service.HEALTHSCRIBE_STREAMING: "HealthScribe streaming",
}
_JOB_NAME_FIELDS = {
    Service.HEALTHSCRIBE: "MedicalScribeJobName",
    Service.TRANSCRIBE_MEDICAL: "MedicalTranscriptionJobName",
    Service.HEALTHSCRIBE_STREAMING: "SessionId",  # a session is named by its client, not by the night
}
_JOB_PREFIXES = {
    Service.HEALTHSCRIBE: "hs",
    Service.TRANSCRIBE_MEDICAL: "tm",
    Service.HEALTHSCRIBE_STREAMING: "hss",
}
