"""Triggers that wait for HealthScribe and Transcribe Medical jobs with botocore's own waiters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import BaseTrigger, TriggerEvent

from medscribe.aws.hooks.transcribe import JOB_CALLS, TranscribeHook
from medscribe.services import Service


class _MedicalJobCompletedTrigger(AwsBaseWaiterTrigger):
    """
    Trigger when a job of ``service`` is complete, with botocore's waiter for it.

    Subclasses set the service, one per waiter (not supposed to be used directly in Dags).
    """

    aws_hook_class = TranscribeHook
    service: ClassVar[Service]

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
        calls, kind = JOB_CALLS[self.service], self.service.label
        super().__init__(
            serialized_fields={"job_name": job_name},
            waiter_name=calls.waiter_name,
            waiter_args={self.service.job_name_field: job_name},
            failure_message=f"{kind} job {job_name} failed",
            status_message=f"Status of {kind} job {job_name} is",
            status_queries=[f"{calls.job_key}.{calls.status_field}", f"{calls.job_key}.FailureReason"],
            return_key="job_name",
            return_value=job_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )


class MedicalScribeJobCompletedTrigger(_MedicalJobCompletedTrigger):
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

    service = Service.HEALTHSCRIBE


class MedicalTranscriptionJobCompletedTrigger(_MedicalJobCompletedTrigger):
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

    service = Service.TRANSCRIBE_MEDICAL


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
                    calls = JOB_CALLS[Service(service)]
                    answer = await getattr(client, calls.get)(**{Service(service).job_name_field: name})
                    outcome = TranscribeHook.job_outcome(answer[calls.job_key])
                    if outcome:
                        outcomes[name] = outcome
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
