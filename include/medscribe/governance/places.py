"""Where a recording's copies live (``Places``, the nightly DAG's params), the places a governance run
counts (``PLACES``), and the S3 and job-API helpers that forgetting and retention share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
# a HealthScribe streaming session's recording id is its SessionId (medscribe.streaming_sessions)
_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
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
    :param streaming_prefix: folder of the HealthScribe streaming sessions' outputs in the output bucket.
    """

    recordings_bucket: str
    recordings_prefix: str
    staging_prefix: str
    quarantine_prefix: str
    ledger_prefix: str
    output_bucket: str
    lake_uri: str
    streaming_prefix: str = "healthscribe-streaming"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Places:
        """The places named by a DAG run's params (the nightly DAG's names)."""
        return cls(**{name: params[name] for name in cls.__dataclass_fields__ if name in params})

    @property
    def sessions_folder(self) -> str:
        """The prefix above the streaming sessions' outputs (``<streaming_prefix>/``)."""
        return self.streaming_prefix.strip("/") + "/"

    def session_folder(self, session_id: str) -> str:
        """The prefix of a streaming session's outputs (``<streaming_prefix>/<SessionId>/``)."""
        return f"{self.sessions_folder}{session_id}/"


def _keys(s3, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object (``Key``, ``Size``) under a prefix."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


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
