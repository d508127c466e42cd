"""Hook for Amazon Transcribe: Medical transcription jobs and AWS HealthScribe (medical scribe) jobs."""

from __future__ import annotations

from typing import Any, NamedTuple

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.common.compat.sdk import AirflowException

from medscribe.services import Service


class JobCalls(NamedTuple):
    """One service's job calls in boto3 and what they answer."""

    start: str  # the client method that starts a job
    get: str  # the client method that describes a job
    job_key: str  # the job description's key in both answers
    status_field: str  # the job's status in the description
    waiter_name: str  # botocore's waiter for the job's end
    echoed_fields: tuple[str, ...]  # request fields Get echoes back, compared when a job is adopted


JOB_CALLS = {
    Service.HEALTHSCRIBE: JobCalls(
        start="start_medical_scribe_job",
        get="get_medical_scribe_job",
        job_key="MedicalScribeJob",
        status_field="MedicalScribeJobStatus",
        waiter_name="medical_scribe_job_completed",
        echoed_fields=("Media", "Settings", "ChannelDefinitions", "DataAccessRoleArn"),
    ),
    Service.TRANSCRIBE_MEDICAL: JobCalls(
        start="start_medical_transcription_job",
        get="get_medical_transcription_job",
        job_key="MedicalTranscriptionJob",
        status_field="TranscriptionJobStatus",
        waiter_name="medical_transcription_job_completed",
        echoed_fields=("Media", "MediaFormat", "Settings", "Specialty", "Type", "LanguageCode"),
    ),
}


def _matches(requested: Any, existing: Any) -> bool:
    """True when every value in ``requested`` is present and equal in ``existing`` (dicts compare as subsets)."""
    if isinstance(requested, dict):
        return isinstance(existing, dict) and all(_matches(v, existing.get(k)) for k, v in requested.items())
    if isinstance(requested, list):
        return (
            isinstance(existing, list)
            and len(requested) == len(existing)
            and all(_matches(r, e) for r, e in zip(requested, existing, strict=True))
        )
    return requested == existing


class TranscribeHook(AwsBaseHook):
    """
    Interact with Amazon Transcribe Medical and AWS HealthScribe.

    Provide thin wrapper around :external+boto3:py:class:`boto3.client("transcribe") <TranscribeService.Client>`.
    It adds what boto3 lacks: starting a job idempotently by name (a job that already exists with the same
    input is adopted instead of failing), and reading a job's status and output locations.

    Additional arguments (such as ``aws_conn_id``) may be specified and
    are passed down to the underlying AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["client_type"] = "transcribe"
        super().__init__(*args, **kwargs)

    def start_job(self, service: str, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """
        Start a job of either service, or adopt the existing job of that name when its input matches.

        :param service: a :class:`medscribe.services.Service` value.
        :param request: the service's Start* request.
        :return: the job description and whether an existing job was adopted.
        """
        calls, name = JOB_CALLS[Service(service)], request[Service(service).job_name_field]
        try:
            return getattr(self.conn, calls.start)(**request)[calls.job_key], False
        except self.conn.exceptions.ConflictException:
            job = self.get_job(service, name)
            self._check_adoptable(name, request, job, calls.echoed_fields)
            return job, True

    def _check_adoptable(self, name: str, request: dict, job: dict, fields: tuple[str, ...]) -> None:
        differing = [f for f in fields if f in request and not _matches(request[f], job.get(f))]
        if differing:
            raise AirflowException(
                f"A job named {name} already exists with different input ({', '.join(differing)}); "
                "job names must be unique per account: change the name or delete the old job"
            )
        self.log.info("Job %s already exists with the same input: adopting it", name)

    def get_job(self, service: str, job_name: str) -> dict[str, Any]:
        """
        Describe a job of either service.

        :param service: a :class:`medscribe.services.Service` value.
        :param job_name: the job's name.
        """
        calls = JOB_CALLS[Service(service)]
        return getattr(self.conn, calls.get)(**{Service(service).job_name_field: job_name})[calls.job_key]

    def get_medical_scribe_job(self, job_name: str) -> dict[str, Any]:
        """
        Describe a HealthScribe job.

        :param job_name: the MedicalScribeJobName.
        """
        return self.get_job(Service.HEALTHSCRIBE, job_name)

    def get_medical_transcription_job(self, job_name: str) -> dict[str, Any]:
        """
        Describe a Transcribe Medical job.

        :param job_name: the MedicalTranscriptionJobName.
        """
        return self.get_job(Service.TRANSCRIBE_MEDICAL, job_name)

    @staticmethod
    def job_status(job: dict[str, Any]) -> str:
        """The status of a job description of either kind."""
        return job.get("MedicalScribeJobStatus") or job["TranscriptionJobStatus"]

    @staticmethod
    def job_outcome(job: dict[str, Any]) -> dict[str, Any] | None:
        """A finished (COMPLETED or FAILED) job's ``{"status", "failure_reason"}``; None while it runs."""
        status = TranscribeHook.job_status(job)
        if status in ("COMPLETED", "FAILED"):
            return {"status": status, "failure_reason": job.get("FailureReason")}
        return None

    @staticmethod
    def output_uris(job: dict[str, Any]) -> dict[str, str | None]:
        """The output locations of a job description of either kind (None until it completes)."""
        if "MedicalScribeJobName" in job:
            output = job.get("MedicalScribeOutput") or {}
            return {
                "transcript_uri": output.get("TranscriptFileUri"),
                "clinical_document_uri": output.get("ClinicalDocumentUri"),
            }
        return {
            "transcript_uri": (job.get("Transcript") or {}).get("TranscriptFileUri"),
            "clinical_document_uri": None,
        }
