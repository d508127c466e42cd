"""Triggers that wait for HealthScribe and Transcribe Medical jobs with botocore's own waiters."""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from medscribe.aws.hooks.transcribe import TranscribeHook


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
            failure_message=f"HealthScribe job {job_name} failed",
            status_message=f"Status of HealthScribe job {job_name} is",
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
            failure_message=f"Transcribe Medical job {job_name} failed",
            status_message=f"Status of Transcribe Medical job {job_name} is",
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
