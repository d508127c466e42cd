"""Retention: every day, delete the copies older than the site's policy, and record it in the audit table.

Policy (params, days; null keeps forever): staged and quarantined audio 30, service outputs and job
records 90 (AWS keeps job records 90 days), lake text (transcript, note and insight rows) never. The
ages are measured against the run's logical date. ``dry_run`` finds and counts only: nothing is
deleted and no audit row is written. Each run appends one ``governance_audit`` row per recording acted
on (or one ``nothing_found`` row). Logs and XCom carry ids and counts only. Plain age-based expiry of a
prefix (originals, for one) is cheaper as an S3 lifecycle rule: see the README. The logic is in
``medscribe.governance``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from medscribe.dag_params import places_params

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol
    from pendulum import DateTime

AWS_CONN_ID = "aws_default"
_DAYS: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1}


@dag(
    dag_id="medscribe_retention",
    # daily, after the nightly run (02:00) has usually finished; the logical date is the run's time
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["medscribe", "governance"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    params={
        "staged_days": Param(30, **_DAYS, description="days staged audio copies are kept (null: forever)"),
        "quarantined_days": Param(30, **_DAYS, description="days quarantine copies are kept (null: forever)"),
        "service_outputs_days": Param(90, **_DAYS, description="days job outputs and job records are kept"),
        "lake_text_days": Param(
            None, **_DAYS, description="days the lake's text rows are kept (null: forever)"
        ),
        "dry_run": Param(False, type="boolean", description="count what would be deleted; delete nothing"),
        **places_params(),
    },
    doc_md=__doc__,
)
def medscribe_retention():
    @task
    def retain(params: dict[str, Any], logical_date: DateTime | None) -> dict:
        """Delete (or, in a dry run, count) what is older than the policy; returns ids and counts."""
        from datetime import UTC, datetime

        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.common.compat.sdk import AirflowFailException

        from medscribe.aws.hooks.transcribe import TranscribeHook
        from medscribe.governance import Places, RetentionPolicy, apply_retention

        try:
            policy = RetentionPolicy.from_params(params)
        except ValueError as error:  # a bad policy: retrying would not help
            raise AirflowFailException(str(error)) from None
        return apply_retention(
            S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            TranscribeHook(aws_conn_id=AWS_CONN_ID).conn,
            Places.from_params(params),
            policy,
            logical_date or datetime.now(UTC),  # a manual run may have no logical date
            dry_run=params["dry_run"],
        )

    @task
    def audit(retention: dict, params: dict[str, Any], dag_run: DagRunProtocol) -> dict:
        """Append the run's governance_audit rows (none for a dry run); returns the totals."""
        from medscribe.governance import append_audit, retention_audit_rows

        if retention["dry_run"]:
            return {"dry_run": True, "totals": retention["totals"]}
        rows = retention_audit_rows(
            retention, run_id=dag_run.run_id, requested_by=getattr(dag_run, "triggering_user_name", None)
        )
        day = append_audit(rows, params["lake_uri"])
        return {
            "dry_run": False,
            "audit_night": day,
            "audit_rows": rows.num_rows,
            "totals": retention["totals"],
        }

    audit(retain())


medscribe_retention()
