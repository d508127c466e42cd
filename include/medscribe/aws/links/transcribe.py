"""Operator extra links: the job in the AWS console, or in the offline engine's job view."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class _TranscribeJobLink(BaseAwsLink):
    """
    A job's page. With AWS: the Transcribe console. With the offline engine (the connection's
    ``service_config.transcribe.endpoint_url`` or ``endpoint_url`` is set): ``<endpoint>/jobs/<kind>/<name>``.
    """

    engine_path: str

    def format_link(self, **kwargs) -> str:
        endpoint = kwargs.get("endpoint_url")
        if endpoint:
            return f"{endpoint.rstrip('/')}/jobs/{self.engine_path}/{kwargs['job_name']}"
        return super().format_link(**kwargs)


class MedicalScribeJobLink(_TranscribeJobLink):
    """Link to an AWS HealthScribe job."""

    name = "HealthScribe Job"
    key = "medscribe_medical_scribe_job"
    engine_path = "medical-scribe"
    format_str = (
        BASE_AWS_CONSOLE_LINK + "/transcribe/home?region={region_name}#/medical-scribe-jobs/{job_name}"
    )


class MedicalTranscriptionJobLink(_TranscribeJobLink):
    """Link to an Amazon Transcribe Medical job."""

    name = "Transcribe Medical Job"
    key = "medscribe_medical_transcription_job"
    engine_path = "medical-transcription"
    format_str = (
        BASE_AWS_CONSOLE_LINK + "/transcribe/home?region={region_name}#/medical-transcription-jobs/{job_name}"
    )
