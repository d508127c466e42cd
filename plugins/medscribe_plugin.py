"""Registers medscribe with Airflow: the operator extra links (the API server needs them to render links)
and the reviewer page (a FastAPI app mounted in the api-server, with an entry in the UI's navigation)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from medscribe.aws.links.transcribe import MedicalScribeJobLink, MedicalTranscriptionJobLink
from medscribe.quality.review_app import create_app

REVIEW_PREFIX = "/medscribe-review"


class MedscribePlugin(AirflowPlugin):
    """medscribe-pipelines: links from job tasks to the job, and the review queue of transcripts under the bar."""

    # the lists below override AirflowPlugin's list attributes, which Airflow reads from the class
    name = "medscribe"
    operator_extra_links = [MedicalScribeJobLink(), MedicalTranscriptionJobLink()]  # noqa: RUF012 (see above)
    fastapi_apps = [{"app": create_app(), "url_prefix": REVIEW_PREFIX, "name": "medscribe review queue"}]  # noqa: RUF012 (see above)
    external_views = [  # noqa: RUF012 (AirflowPlugin's attribute: a list)
        {
            "name": "Review queue",
            "href": REVIEW_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "category": "browse",
            "url_route": "medscribe-review",
        }
    ]
