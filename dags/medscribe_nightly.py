"""Nightly clinical-audio run: discover a night's recordings, transcribe them, flatten to Parquet, gate.

The run with logical date D processes night D (recordings under ``<prefix>/D/``) and runs after the
night is over (02:00 UTC on D+1). Only wiring lives here; the logic is in the ``medscribe`` package.
Services are reached through the ``aws_default`` connection: plain AWS, or the offline engine when its
extra sets ``service_config.transcribe.endpoint_url`` (see README.md).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from medscribe.aws.operators.transcribe import (
    StartMedicalScribeJobOperator,
    StartMedicalTranscriptionJobOperator,
)

AWS_CONN_ID = "aws_default"
JOB_WAIT = {"deferrable": True, "waiter_delay": 10, "waiter_max_attempts": 720}


@dag(
    dag_id="medscribe_nightly",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["medscribe", "nightly"],
    default_args={"retries": 3, "retry_delay": timedelta(seconds=30), "aws_conn_id": AWS_CONN_ID},
    params={
        "recordings_bucket": Param(os.environ.get("MEDSCRIBE_RECORDINGS_BUCKET", "medscribe-recordings"), type="string"),
        "recordings_prefix": Param("incoming", type="string", description="night folders live under this prefix"),
        "staging_prefix": Param("staging/media", type="string", description="content-addressed copies of the audio"),
        "output_bucket": Param(os.environ.get("MEDSCRIBE_OUTPUT_BUCKET", "medscribe-outputs"), type="string"),
        "lake_uri": Param(os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake"), type="string"),
        "data_access_role_arn": Param(
            os.environ.get("MEDSCRIBE_DATA_ACCESS_ROLE_ARN", "arn:aws:iam::000000000000:role/medscribe-healthscribe"),
            type="string",
        ),
        "min_mean_confidence": Param(0.85, type="number", minimum=0, maximum=1),
        "low_word_confidence": Param(0.5, type="number", minimum=0, maximum=1),
        "max_low_share": Param(0.10, type="number", minimum=0, maximum=1),
    },
    doc_md=__doc__,
)
def medscribe_nightly():
    @task
    def discover(params: dict | None = None, ds: str | None = None) -> dict:
        """Find, check and stage the night's recordings; returns ids, job names and reasons only."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.discovery import discover_night

        recordings, rejected = discover_night(
            S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            bucket=params["recordings_bucket"],
            prefix=params["recordings_prefix"],
            night=ds,
            staging_prefix=params["staging_prefix"],
        )
        return {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]}

    @task
    def healthscribe_requests(discovery: dict, params: dict | None = None) -> list[dict]:
        from medscribe.nightly import operator_requests

        return operator_requests(discovery["recordings"], "healthscribe", params["output_bucket"])

    @task
    def transcription_requests(discovery: dict, params: dict | None = None) -> list[dict]:
        from medscribe.nightly import operator_requests

        return operator_requests(discovery["recordings"], "transcribe_medical", params["output_bucket"])

    @task(trigger_rule="all_done")
    def flatten(discovery: dict, params: dict | None = None, ds: str | None = None) -> dict:
        """Write the night's jobs, transcript_words and transcript_segments partitions."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.aws.hooks.transcribe import TranscribeHook
        from medscribe.nightly import flatten_night

        hook = TranscribeHook(aws_conn_id=AWS_CONN_ID)

        def describe(service: str, job_name: str) -> dict:
            if service == "healthscribe":
                return hook.get_medical_scribe_job(job_name)
            return hook.get_medical_transcription_job(job_name)

        return flatten_night(
            recordings=discovery["recordings"],
            describe_job=describe,
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            lake_uri=params["lake_uri"],
            night=ds,
        )

    @task
    def word_confidence_gate(params: dict | None = None, ds: str | None = None) -> dict:
        """GX check of the night's words; fails the run only on structural errors."""
        from airflow.providers.common.compat.sdk import AirflowFailException

        from medscribe.lake.store import read_table
        from medscribe.quality.word_confidence import ConfidenceBar, check_word_confidence, failed_expectations, save_report

        words = read_table("transcript_words", params["lake_uri"], night=ds).to_pandas()
        bar = ConfidenceBar(params["min_mean_confidence"], params["low_word_confidence"], params["max_low_share"])
        report = check_word_confidence(words, bar)
        save_report(report, params["lake_uri"], ds)
        if not report["structural_ok"]:
            raise AirflowFailException(f"structural expectations failed: {failed_expectations(report)}")
        return {"structural_ok": True, "under_bar": report["under_bar"], "transcripts": len(report["transcripts"])}

    @task(trigger_rule="all_done")
    def summary(discovery: dict, counts: dict, quality: dict | None, params: dict | None = None, ds: str | None = None) -> dict:
        """Counts only: what the night produced."""
        from medscribe.lake.store import read_table
        from medscribe.nightly import summarize

        jobs = read_table("jobs", params["lake_uri"], night=ds).to_pylist()
        return summarize(
            night=ds,
            discovered=len(discovery["recordings"]) + len(discovery["rejected"]),
            rejected=len(discovery["rejected"]),
            counts=counts,
            jobs=jobs,
            quality=quality or {},
        )

    found = discover()
    scribe_jobs = StartMedicalScribeJobOperator.partial(
        task_id="healthscribe_job",
        output_bucket_name="{{ params.output_bucket }}",
        data_access_role_arn="{{ params.data_access_role_arn }}",
        **JOB_WAIT,
    ).expand_kwargs(healthscribe_requests(found))
    transcription_jobs = StartMedicalTranscriptionJobOperator.partial(
        task_id="transcription_job",
        output_bucket_name="{{ params.output_bucket }}",
        **JOB_WAIT,
    ).expand_kwargs(transcription_requests(found))
    counts = flatten(found)
    [scribe_jobs, transcription_jobs] >> counts
    quality = word_confidence_gate()
    counts >> quality
    summary(found, counts, quality)


medscribe_nightly()
