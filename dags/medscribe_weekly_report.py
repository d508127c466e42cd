"""Example analyst DAG: medications and conditions per ISO week, rebuilt whenever a night lands in the lake.

Data-aware: scheduled on the ``clinical_insights`` table's asset (``medscribe.assets``), which the nightly
run's flatten task updates with the night in the event's extra; the UI shows the dependency. The report
(counts only) replaces ``<lake>/_reports/clinical_terms_per_week.csv``; the logic is in
``medscribe.weekly_report``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Param, dag, task

from medscribe.assets import LAKE_ASSETS

if TYPE_CHECKING:
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor


@dag(
    dag_id="medscribe_weekly_report",
    schedule=[LAKE_ASSETS["clinical_insights"]],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["medscribe", "analytics"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "lake_uri": Param(os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake"), type="string")
    },
    doc_md=__doc__,
)
def medscribe_weekly_report():
    @task
    def clinical_terms_per_week(
        params: dict[str, Any], triggering_asset_events: TriggeringAssetEventsAccessor | None
    ) -> dict:
        """Rebuild the report over every night; logs and returns counts and the nights that triggered it."""
        from medscribe.weekly_report import write_weekly_report

        nights = sorted(
            {
                night
                for events in (triggering_asset_events or {}).values()
                for event in events
                if isinstance(night := event.extra.get("night"), str)
            }
        )
        return {**write_weekly_report(params["lake_uri"]), "triggered_by_nights": nights}

    clinical_terms_per_week()


medscribe_weekly_report()
