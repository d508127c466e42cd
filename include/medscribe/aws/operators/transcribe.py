"""Operators that start one AWS HealthScribe or Amazon Transcribe Medical job and wait for it.

The night's batches of jobs go through :mod:`medscribe.aws.operators.transcribe_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, conf

from medscribe.aws.hooks.transcribe import JOB_CALLS, TranscribeHook
from medscribe.aws.links.transcribe import MedicalScribeJobLink, MedicalTranscriptionJobLink
from medscribe.aws.triggers.transcribe import (
    MedicalScribeJobCompletedTrigger,
    MedicalTranscriptionJobCompletedTrigger,
)
from medscribe.services import Service

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.links.base_aws import BaseAwsLink
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class MedicalJobsBaseOperator(AwsBaseOperator[TranscribeHook]):
    """
    What the job operators share: how they wait, and deferring to a trigger on the task's AWS connection.

    Not supposed to be used directly in Dags.

    :param wait_for_completion: Whether to wait for the job(s) to complete. (default: True)
    :param waiter_delay: Seconds between status checks. (default: 30)
    :param waiter_max_attempts: Maximum number of status checks. (default: 120)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    """

    aws_hook_class = TranscribeHook

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 120,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.deferrable = deferrable

    def defer_to(self, trigger_class: type[BaseTrigger], **fields: Any) -> NoReturn:
        """Defer to ``trigger_class(**fields)``, waiting as this task waits, on its AWS connection."""
        self.defer(
            trigger=trigger_class(
                **fields,
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
        )


class _StartMedicalJobOperator(MedicalJobsBaseOperator):
    """
    Shared behaviour: start or adopt the job, then return at once, wait, or defer.

    Subclasses set the job's service and build the request (not supposed to be used directly in Dags).
    """

    service: ClassVar[Service]
    trigger_class: ClassVar[type[BaseTrigger]]
    link_class: ClassVar[type[BaseAwsLink]]

    @property
    def job_name(self) -> str:
        raise NotImplementedError

    def build_request(self) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        job, adopted = self.hook.start_job(self.service, self.build_request())
        self.link_class.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            job_name=self.job_name,
            endpoint_url=self.hook.conn_config.get_service_endpoint_url("transcribe"),
        )
        status = self.hook.job_status(job)
        self.log.info(
            "%s job %s is %s%s", self.service.label, self.job_name, status, " (adopted)" if adopted else ""
        )
        if status in ("COMPLETED", "FAILED"):
            return self._result(job)
        if self.deferrable:
            self.defer_to(self.trigger_class, job_name=self.job_name)
        if self.wait_for_completion:
            calls = JOB_CALLS[self.service]
            wait(
                waiter=self.hook.get_waiter(calls.waiter_name),
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                args={self.service.job_name_field: self.job_name},
                failure_message=f"{self.service.label} job {self.job_name} failed",
                status_message=f"Status of {self.service.label} job {self.job_name} is",
                status_args=[f"{calls.job_key}.{calls.status_field}"],
            )
        return self._result(self.hook.get_job(self.service, self.job_name))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success":
            raise AirflowException(
                f"Error while waiting for {self.service.label} job: {validated_event['message']}"
            )
        return self._result(self.hook.get_job(self.service, self.job_name))

    def _result(self, job: dict[str, Any]) -> dict[str, Any]:
        """The task's return value: the job name, its status and its output locations; nothing that carries PHI."""
        status = self.hook.job_status(job)
        if status == "FAILED":
            raise AirflowException(
                f"{self.service.label} job {self.job_name} FAILED: {job.get('FailureReason', 'no reason given')}"
            )
        return {"job_name": self.job_name, "status": status, **self.hook.output_uris(job)}


class StartMedicalScribeJobOperator(_StartMedicalJobOperator):
    """
    Start an AWS HealthScribe job (StartMedicalScribeJob) and wait for it, synchronously or deferred.

    A job of the same name that already exists with the same input is adopted, so a retried task never
    starts a second job. Returns ``{"job_name", "status", "transcript_uri", "clinical_document_uri"}``.

    :param medical_scribe_job_name: Unique name of the job. (templated)
    :param media_file_uri: ``s3://`` location of the audio. (templated)
    :param output_bucket_name: Bucket the output files are written to. (templated)
    :param data_access_role_arn: Role HealthScribe assumes to read the media and write the output. (templated)
    :param settings: ``Settings`` (ShowSpeakerLabels/MaxSpeakerLabels or ChannelIdentification, vocabulary,
        vocabulary filter, ClinicalNoteGenerationSettings). (templated)
    :param channel_definitions: ``ChannelDefinitions``, two entries, with ChannelIdentification. (templated)
    :param output_encryption_kms_key_id: KMS key for the output. (templated)
    :param kms_encryption_context: KMS encryption context. (templated)
    :param medical_scribe_context: ``MedicalScribeContext`` (patient pronouns). (templated)
    :param tags: Tags for the job. (templated)
    :param wait_for_completion: Whether to wait for the job to complete. (default: True)
    :param waiter_delay: Seconds between status checks. (default: 30)
    :param waiter_max_attempts: Maximum number of status checks. (default: 120)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    :param aws_conn_id: The Airflow connection used for AWS credentials; its extra may carry
        ``service_config.transcribe.endpoint_url`` to point at the offline engine.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    service = Service.HEALTHSCRIBE
    trigger_class = MedicalScribeJobCompletedTrigger
    link_class = MedicalScribeJobLink
    operator_extra_links = (MedicalScribeJobLink(),)

    template_fields: Sequence[str] = aws_template_fields(
        "medical_scribe_job_name",
        "media_file_uri",
        "output_bucket_name",
        "data_access_role_arn",
        "settings",
        "channel_definitions",
        "output_encryption_kms_key_id",
        "kms_encryption_context",
        "medical_scribe_context",
        "tags",
    )
    template_fields_renderers: ClassVar[dict] = {
        "settings": "json",
        "channel_definitions": "json",
        "medical_scribe_context": "json",
    }

    def __init__(
        self,
        *,
        medical_scribe_job_name: str,
        media_file_uri: str,
        output_bucket_name: str,
        data_access_role_arn: str,
        settings: dict[str, Any],
        channel_definitions: list[dict[str, Any]] | None = None,
        output_encryption_kms_key_id: str | None = None,
        kms_encryption_context: dict[str, str] | None = None,
        medical_scribe_context: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.medical_scribe_job_name = medical_scribe_job_name
        self.media_file_uri = media_file_uri
        self.output_bucket_name = output_bucket_name
        self.data_access_role_arn = data_access_role_arn
        self.settings = settings
        self.channel_definitions = channel_definitions
        self.output_encryption_kms_key_id = output_encryption_kms_key_id
        self.kms_encryption_context = kms_encryption_context
        self.medical_scribe_context = medical_scribe_context
        self.tags = tags

    @property
    def job_name(self) -> str:
        return self.medical_scribe_job_name

    def build_request(self) -> dict[str, Any]:
        return _drop_none(
            MedicalScribeJobName=self.medical_scribe_job_name,
            Media={"MediaFileUri": self.media_file_uri},
            OutputBucketName=self.output_bucket_name,
            OutputEncryptionKMSKeyId=self.output_encryption_kms_key_id,
            KMSEncryptionContext=self.kms_encryption_context,
            DataAccessRoleArn=self.data_access_role_arn,
            Settings=self.settings,
            ChannelDefinitions=self.channel_definitions,
            Tags=self.tags,
            MedicalScribeContext=self.medical_scribe_context,
        )


class StartMedicalTranscriptionJobOperator(_StartMedicalJobOperator):
    """
    Start an Amazon Transcribe Medical batch job (StartMedicalTranscriptionJob) and wait for it.

    A job of the same name that already exists with the same input is adopted, so a retried task never
    starts a second job. Returns ``{"job_name", "status", "transcript_uri", "clinical_document_uri": None}``.

    :param medical_transcription_job_name: Unique name of the job. (templated)
    :param media_file_uri: ``s3://`` location of the audio. (templated)
    :param output_bucket_name: Bucket the transcript is written to. (templated)
    :param specialty: ``Specialty`` (PRIMARYCARE for batch). (templated)
    :param type: ``Type``: CONVERSATION or DICTATION. (templated)
    :param language_code: ``LanguageCode`` (en-US). (templated)
    :param media_format: ``MediaFormat`` (wav, flac, mp3, mp4, ogg, amr, webm). (templated)
    :param media_sample_rate_hertz: ``MediaSampleRateHertz``. (templated)
    :param output_key: ``OutputKey`` inside the output bucket. (templated)
    :param output_encryption_kms_key_id: KMS key for the output. (templated)
    :param kms_encryption_context: KMS encryption context. (templated)
    :param settings: ``Settings`` (speaker labels, channel identification, alternatives, vocabulary). (templated)
    :param content_identification_type: ``ContentIdentificationType`` (PHI). (templated)
    :param tags: Tags for the job. (templated)
    :param wait_for_completion: Whether to wait for the job to complete. (default: True)
    :param waiter_delay: Seconds between status checks. (default: 30)
    :param waiter_max_attempts: Maximum number of status checks. (default: 120)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    :param aws_conn_id: The Airflow connection used for AWS credentials; its extra may carry
        ``service_config.transcribe.endpoint_url`` to point at the offline engine.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    service = Service.TRANSCRIBE_MEDICAL
    trigger_class = MedicalTranscriptionJobCompletedTrigger
    link_class = MedicalTranscriptionJobLink
    operator_extra_links = (MedicalTranscriptionJobLink(),)

    template_fields: Sequence[str] = aws_template_fields(
        "medical_transcription_job_name",
        "media_file_uri",
        "output_bucket_name",
        "specialty",
        "type",
        "language_code",
        "media_format",
        "media_sample_rate_hertz",
        "output_key",
        "output_encryption_kms_key_id",
        "kms_encryption_context",
        "settings",
        "content_identification_type",
        "tags",
    )
    template_fields_renderers: ClassVar[dict] = {"settings": "json"}

    def __init__(
        self,
        *,
        medical_transcription_job_name: str,
        media_file_uri: str,
        output_bucket_name: str,
        specialty: str = "PRIMARYCARE",
        type: str = "DICTATION",
        language_code: str = "en-US",
        media_format: str | None = None,
        media_sample_rate_hertz: int | None = None,
        output_key: str | None = None,
        output_encryption_kms_key_id: str | None = None,
        kms_encryption_context: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        content_identification_type: str | None = None,
        tags: list[dict[str, str]] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.medical_transcription_job_name = medical_transcription_job_name
        self.media_file_uri = media_file_uri
        self.output_bucket_name = output_bucket_name
        self.specialty = specialty
        self.type = type
        self.language_code = language_code
        self.media_format = media_format
        self.media_sample_rate_hertz = media_sample_rate_hertz
        self.output_key = output_key
        self.output_encryption_kms_key_id = output_encryption_kms_key_id
        self.kms_encryption_context = kms_encryption_context
        self.settings = settings
        self.content_identification_type = content_identification_type
        self.tags = tags

    @property
    def job_name(self) -> str:
        return self.medical_transcription_job_name

    def build_request(self) -> dict[str, Any]:
        return _drop_none(
            MedicalTranscriptionJobName=self.medical_transcription_job_name,
            LanguageCode=self.language_code,
            MediaSampleRateHertz=int(self.media_sample_rate_hertz) if self.media_sample_rate_hertz else None,
            MediaFormat=self.media_format,
            Media={"MediaFileUri": self.media_file_uri},
            OutputBucketName=self.output_bucket_name,
            OutputKey=self.output_key,
            OutputEncryptionKMSKeyId=self.output_encryption_kms_key_id,
            KMSEncryptionContext=self.kms_encryption_context,
            Settings=self.settings,
            ContentIdentificationType=self.content_identification_type,
            Specialty=self.specialty,
            Type=self.type,
            Tags=self.tags,
        )
