"""Sensors for HealthScribe and Transcribe Medical jobs started elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, conf

from medscribe.aws.hooks.transcribe import TranscribeHook
from medscribe.aws.triggers.transcribe import (
    MedicalScribeJobCompletedTrigger,
    MedicalTranscriptionJobCompletedTrigger,
)
from medscribe.services import Service

if TYPE_CHECKING:
    from airflow.sdk import Context


class _MedicalJobCompletedSensor(AwsBaseSensor[TranscribeHook]):
    """Poll a job until COMPLETED; FAILED fails the task with the job's FailureReason."""

    aws_hook_class = TranscribeHook
    template_fields: Sequence[str] = aws_template_fields("job_name")
    service: ClassVar[Service]
    trigger_class: ClassVar[type]

    def __init__(
        self,
        *,
        job_name: str,
        max_retries: int = 120,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.job_name = job_name
        self.max_retries = max_retries
        self.deferrable = deferrable

    def poke(self, context: Context) -> bool:
        job = self.hook.get_job(self.service, self.job_name)
        status = self.hook.job_status(job)
        if status == "FAILED":
            raise AirflowException(
                f"{self.service.label} job {self.job_name} FAILED: {job.get('FailureReason', 'no reason given')}"
            )
        return status == "COMPLETED"

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context=context)
        self.defer(
            trigger=self.trigger_class(
                job_name=self.job_name,
                waiter_delay=int(self.poke_interval),
                waiter_max_attempts=self.max_retries,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success":
            raise AirflowException(
                f"Error while waiting for {self.service.label} job: {validated_event['message']}"
            )
        self.log.info("%s job %s is COMPLETED", self.service.label, self.job_name)


class MedicalScribeJobCompletedSensor(_MedicalJobCompletedSensor):
    """
    Wait for an AWS HealthScribe job to reach COMPLETED.

    :param job_name: The MedicalScribeJobName. (templated)
    :param max_retries: Number of status checks in deferrable mode. (default: 120)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    :param poke_interval: Seconds between status checks. (default: 60)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    service = Service.HEALTHSCRIBE
    trigger_class = MedicalScribeJobCompletedTrigger


class MedicalTranscriptionJobCompletedSensor(_MedicalJobCompletedSensor):
    """
    Wait for an Amazon Transcribe Medical job to reach COMPLETED.

    :param job_name: The MedicalTranscriptionJobName. (templated)
    :param max_retries: Number of status checks in deferrable mode. (default: 120)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    :param poke_interval: Seconds between status checks. (default: 60)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    service = Service.TRANSCRIBE_MEDICAL
    trigger_class = MedicalTranscriptionJobCompletedTrigger
