"""Triggers that wait for HealthScribe and Transcribe Medical jobs with botocore's own waiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import BaseTrigger, TriggerEvent

from medscribe.aws.hooks.transcribe import TranscribeHook
from medscribe.services import Service

_SCRIBE, _MEDICAL = Service.HEALTHSCRIBE.label, Service.TRANSCRIBE_MEDICAL.label


class MedicalScribeJobCompletedTrigger(AwsBaseWaiterTrigger):
    """
    Trigger when an AWS HealthScribe job is complete; a FAILED job ends with its FailureReason.

    :param job_name: The MedicalScribeJobName.
    :param waiter_delay: The amount of time in seconds to wait between attempts. (default: 30)
    :param waiter_max_attempts: The maximum number of attempts to be made. (default: 120)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: The AWS region where the job runs.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = TranscribeHook

    def __init__(
        self,
        *,
        job_name: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            serialized_fields={"job_name": job_name},
            waiter_name="medical_scribe_job_completed",
            waiter_args={"MedicalScribeJobName": job_name},
            failure_message=f"{_SCRIBE} job {job_name} failed",
            status_message=f"Status of {_SCRIBE} job {job_name} is",
            status_queries=["MedicalScribeJob.MedicalScribeJobStatus", "MedicalScribeJob.FailureReason"],
            return_key="job_name",
            return_value=job_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )


class MedicalTranscriptionJobCompletedTrigger(AwsBaseWaiterTrigger):
    """
    Trigger when an Amazon Transcribe Medical job is complete; a FAILED job ends with its FailureReason.

    :param job_name: The MedicalTranscriptionJobName.
    :param waiter_delay: The amount of time in seconds to wait between attempts. (default: 30)
    :param waiter_max_attempts: The maximum number of attempts to be made. (default: 120)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: The AWS region where the job runs.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    aws_hook_class = TranscribeHook

    def __init__(
        self,
        *,
        job_name: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            serialized_fields={"job_name": job_name},
            waiter_name="medical_transcription_job_completed",
            waiter_args={"MedicalTranscriptionJobName": job_name},
            failure_message=f"{_MEDICAL} job {job_name} failed",
            status_message=f"Status of {_MEDICAL} job {job_name} is",
            status_queries=[
                "MedicalTranscriptionJob.TranscriptionJobStatus",
                "MedicalTranscriptionJob.FailureReason",
            ],
            return_key="job_name",
            return_value=job_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )


class MedicalJobsCompletedTrigger(BaseTrigger):
    """
    Trigger when every job of a batch (HealthScribe and/or Transcribe Medical) is COMPLETED or FAILED.

    One trigger per batch instead of one per job, so a night of hundreds of recordings holds a few
    deferred tasks. The event carries each job's status and FailureReason, and the outcomes the operator
    already knew (jobs refused or finished at start), so that none is lost on the way back to the task.

    :param jobs: ``{job name: "healthscribe" | "transcribe_medical"}``, the jobs to wait for.
    :param outcomes: ``{job name: {"status", "failure_reason"}}`` known before deferring; passed through
        into the event.
    :param waiter_delay: Seconds between two rounds of status checks. (default: 30)
    :param waiter_max_attempts: Maximum number of rounds. (default: 720)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: The AWS region where the jobs run.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    def __init__(
        self,
        *,
        jobs: dict[str, str],
        outcomes: dict[str, dict[str, Any]] | None = None,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 720,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__()
        self.jobs = jobs
        self.outcomes = outcomes or {}
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "jobs": self.jobs,
                "outcomes": self.outcomes,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def hook(self) -> TranscribeHook:
        return TranscribeHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        pending, outcomes = dict(self.jobs), dict(self.outcomes)
        async with await self.hook().get_async_conn() as client:
            for _ in range(self.waiter_max_attempts):
                for name, service in list(pending.items()):
                    if service == Service.HEALTHSCRIBE:
                        job = (await client.get_medical_scribe_job(MedicalScribeJobName=name))[
                            "MedicalScribeJob"
                        ]
                    else:
                        job = (await client.get_medical_transcription_job(MedicalTranscriptionJobName=name))[
                            "MedicalTranscriptionJob"
                        ]
                    status = TranscribeHook.job_status(job)
                    if status in ("COMPLETED", "FAILED"):
                        outcomes[name] = {"status": status, "failure_reason": job.get("FailureReason")}
                        del pending[name]
                if not pending:
                    yield TriggerEvent({"status": "success", "jobs": outcomes})
                    return
                self.log.info("%d of %d jobs of the batch still running", len(pending), len(self.jobs))
                await asyncio.sleep(self.waiter_delay)
        yield TriggerEvent(
            {
                "status": "error",
                "message": f"{len(pending)} jobs still running after {self.waiter_max_attempts} checks",
                "jobs": outcomes,
            }
        )
