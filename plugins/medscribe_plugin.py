"""Registers the medscribe operator extra links with Airflow (the API server needs them to render links)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from medscribe.aws.links.transcribe import MedicalScribeJobLink, MedicalTranscriptionJobLink


class MedscribePlugin(AirflowPlugin):
    """medscribe-pipelines: links from job tasks to the job in the AWS console or the offline engine."""

    name = "medscribe"
    operator_extra_links = [MedicalScribeJobLink(), MedicalTranscriptionJobLink()]
