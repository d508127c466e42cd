"""Forget recordings on request: delete every copy and every row of each one, and record it in the audit table.

Manual trigger only, with the param ``recordings``: recording ids (32 hex digits, as in the lake and
the ledger) and/or original keys in the recordings bucket. Each recording is removed from the original
upload, the staged and quarantine copies, the service's or engine's job records and output files
(DeleteMedical*Job), the ledger, and every lake table's night partitions (rewritten without its rows;
the night's quality report is regenerated); one ``governance_audit`` row per recording says what was
removed, by whom, when. Running it again finds nothing and records zero counts. Logs and XCom carry
ids, nights and counts only. The logic is in ``medscribe.governance``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Param, dag, task

from medscribe.dag_params import places_params

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol

AWS_CONN_ID = "aws_default"


def _places(params: dict[str, Any]):
    from medscribe.governance import Places

    return Places.from_params(params)


@dag(
    dag_id="medscribe_forget",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["medscribe", "governance"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "recordings": Param(
            [],
            type="array",
            items={"type": "string"},
            minItems=1,
            description="recording ids, or original keys in the recordings bucket (ids keep keys out of the run's conf)",
        ),
        **places_params(),
    },
    doc_md=__doc__,
)
def medscribe_forget():
    @task
    def resolve(params: dict[str, Any]) -> dict:
        """Recording ids of the inputs (keys are hashed to ids); returns ids and a count of missing keys."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.providers.common.compat.sdk import AirflowFailException

        from medscribe.governance import resolve_inputs

        try:
            ids, missing = resolve_inputs(
                S3Hook(aws_conn_id=AWS_CONN_ID).conn, _places(params), params["recordings"]
            )
        except ValueError as error:  # bad input: retrying would not help
            raise AirflowFailException(str(error)) from None
        return {"recording_ids": ids, "missing_inputs": missing}

    @task
    def forget(resolved: dict, params: dict[str, Any]) -> list[dict]:
        """Delete each recording everywhere; returns ids, nights and counts per place."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.aws.hooks.transcribe import TranscribeHook
        from medscribe.governance import forget_recording

        s3 = S3Hook(aws_conn_id=AWS_CONN_ID).conn
        transcribe = TranscribeHook(aws_conn_id=AWS_CONN_ID).conn
        return [forget_recording(s3, transcribe, _places(params), rid) for rid in resolved["recording_ids"]]

    @task
    def audit(resolved: dict, results: list[dict], params: dict[str, Any], dag_run: DagRunProtocol) -> dict:
        """Append one governance_audit row per recording (and per missing key); returns the counts."""
        from medscribe.governance import append_audit, audit_rows

        rows = audit_rows(
            "forget",
            results,
            missing_inputs=resolved["missing_inputs"],
            run_id=dag_run.run_id,
            requested_by=getattr(dag_run, "triggering_user_name", None),
        )
        day = append_audit(rows, params["lake_uri"])
        outcomes: dict[str, int] = {}
        for outcome in rows["outcome"].to_pylist():
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return {"audit_night": day, "outcomes": outcomes}

    resolved = resolve()
    audit(resolved, forget(resolved))


medscribe_forget()
