"""Nightly clinical-audio run: discover a night's recordings, transcribe them, flatten to Parquet, gate.

The run with logical date D processes night D (recordings under ``<prefix>/D/``) and runs after the
night is over (02:00 UTC on D+1). Only wiring lives here; the logic is in the ``medscribe`` package.
Services are reached through the ``aws_default`` connection: plain AWS, or the offline engine when its
extra sets ``service_config.transcribe.endpoint_url`` (see README.md). Tasks pass manifest keys and
counts through XCom, never per-recording lists (``medscribe.manifests``); flatten and the gate update
the lake tables' assets (``medscribe.assets``) with the night in each event's extra. Discovery is mapped
over a fixed number of shards of the night's keys (``discover_shard``), merged by ``discover``.
HealthScribe streaming sessions whose post-stream analytics landed in the outputs bucket within the data
interval of the night's scheduled run are listed, checked and recorded by ``streaming_sessions``
(``medscribe.streaming_sessions``) and flattened with the night's jobs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from medscribe.assets import GATED, LAKE_ASSETS, event_extra
from medscribe.aws.operators.manifest import StartMedicalJobsFromManifestOperator
from medscribe.dag_params import places_params
from medscribe.lake.tables import FLATTENED_TABLES

if TYPE_CHECKING:
    from airflow.sdk.types import OutletEventAccessorsProtocol

AWS_CONN_ID = "aws_default"
# Jobs per mapped task, and the pool that bounds concurrent jobs: create it with
#   airflow pools set transcribe_jobs <service quota> "concurrent transcription jobs" --include-deferred
# Each batch task takes BATCH_SIZE slots, so the pool must have at least BATCH_SIZE slots.
BATCH_SIZE = int(os.environ.get("MEDSCRIBE_BATCH_SIZE", "10"))
JOBS_POOL = os.environ.get("MEDSCRIBE_JOBS_POOL", "transcribe_jobs")
# Discovery tasks per night, run in parallel (one XCom each, whatever the night's size): about the worker
# slots free at 02:00; each may spool one recording of up to 2 GB under TMPDIR at a time.
DISCOVERY_SHARDS = int(os.environ.get("MEDSCRIBE_DISCOVERY_SHARDS", "4"))
# Wait before a failed task's next try (a lost worker, S3 or the service briefly unreachable).
RETRY_DELAY = timedelta(seconds=int(os.environ.get("MEDSCRIBE_TASK_RETRY_DELAY_S", "30")))


# The schedule's hour (UTC): night D's scheduled run has the data interval [D 02:00, D+1 02:00).
NIGHT_STARTS_AT_HOUR = 2


def _ledger(params: dict):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from medscribe.ledger import Ledger

    return Ledger(S3Hook(aws_conn_id=AWS_CONN_ID).conn, params["recordings_bucket"], params["ledger_prefix"])


@dag(
    dag_id="medscribe_nightly",
    schedule=CronDataIntervalTimetable(f"0 {NIGHT_STARTS_AT_HOUR} * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["medscribe", "nightly"],
    default_args={"retries": 3, "retry_delay": RETRY_DELAY, "aws_conn_id": AWS_CONN_ID},
    params={
        **places_params(),
        "data_access_role_arn": Param(
            os.environ.get(
                "MEDSCRIBE_DATA_ACCESS_ROLE_ARN", "arn:aws:iam::000000000000:role/medscribe-healthscribe"
            ),
            type="string",
        ),
        "retry_failed": Param(
            False, type="boolean", description="give recordings that failed earlier a new job"
        ),
        "quality": Param(
            {},
            type="object",
            description="overrides of the quality gate's thresholds and policy for this run, e.g. "
            '{"min_mean_confidence": 0.8, "fail_on_review": true} (defaults: medscribe/quality/config.py)',
        ),
    },
    doc_md=__doc__,
)
def medscribe_nightly():
    @task
    def discover_shard(shard: int, shards: int, params: dict[str, Any], ds: str) -> dict:
        """Find, check, stage or quarantine one shard of the night's recordings; returns its part's key and counts."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.night.discover import discover_night
        from medscribe.night.discover_manifest import save_discovery_part

        recordings, rejected = discover_night(
            S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            bucket=params["recordings_bucket"],
            prefix=params["recordings_prefix"],
            night=ds,
            staging_prefix=params["staging_prefix"],
            output_bucket=params["output_bucket"],
            data_access_role_arn=params["data_access_role_arn"],
            quarantine_prefix=params["quarantine_prefix"],
            ledger=_ledger(params),
            retry_failed=params["retry_failed"],
            shard=shard,
            shards=shards,
        )
        return save_discovery_part(_ledger(params), ds, shard, recordings, rejected)

    @task
    def discover(parts: list, params: dict[str, Any], ds: str) -> dict:
        """The night's discover manifest from the shards' parts; returns its key and counts."""
        from medscribe.night.discover_manifest import merge_discovery

        return merge_discovery(_ledger(params), ds, list(parts))

    @task
    def plan(discovery: dict, params: dict[str, Any], ds: str) -> list[str]:
        """Bounded batches of job requests (recordings already done get none), one manifest key each."""
        from medscribe.night.discover_manifest import night_recordings
        from medscribe.night.plan import plan_batch_manifests

        ledger = _ledger(params)
        return plan_batch_manifests(
            night_recordings(ledger, discovery),
            ledger=ledger,
            night=ds,
            batch_size=BATCH_SIZE,
            output_bucket=params["output_bucket"],
            data_access_role_arn=params["data_access_role_arn"],
        )

    @task
    def streaming_sessions(params: dict[str, Any], ds: str) -> dict:
        """HealthScribe streams whose transcript landed in night ds's scheduled data interval: checked,
        recorded in the ledger and listed in a manifest (a manual rerun of ds takes the same window)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.streaming_sessions import night_window, save_night_sessions

        start, end = night_window(ds, NIGHT_STARTS_AT_HOUR)
        return save_night_sessions(
            S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            _ledger(params),
            bucket=params["output_bucket"],
            prefix=params["streaming_prefix"],
            night=ds,
            start=start,
            end=end,
        )

    @task(trigger_rule="all_done")
    def settle(discovery: dict, batches: list, params: dict[str, Any], ds: str) -> dict:
        """Every submitted recording ends succeeded or failed (with the reason) in the ledger."""
        from airflow.providers.common.compat.sdk import AirflowFailException

        from medscribe.aws.hooks.transcribe import TranscribeHook
        from medscribe.night.discover_manifest import night_recordings
        from medscribe.night.settle import batch_outcomes, settle_night

        if discovery is None:
            raise AirflowFailException(f"nothing to settle on {ds}: the discover task failed (see its log)")
        hook = TranscribeHook(aws_conn_id=AWS_CONN_ID)
        ledger = _ledger(params)
        return settle_night(
            recordings=night_recordings(ledger, discovery),
            outcomes=batch_outcomes(ledger, list(batches or [])),
            describe_job=hook.get_job,
            ledger=ledger,
            night=ds,
        )

    @task(outlets=[LAKE_ASSETS[table] for table in FLATTENED_TABLES])
    def flatten(
        discovery: dict,
        streaming: dict,
        params: dict[str, Any],
        ds: str,
        outlet_events: OutletEventAccessorsProtocol,
    ) -> dict:
        """Replace the night's partitions of the lake's tables; each table's asset event carries the night."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medscribe.aws.hooks.transcribe import TranscribeHook
        from medscribe.night.discover_manifest import night_recordings
        from medscribe.night.flatten import flatten_night
        from medscribe.streaming_sessions import night_sessions

        hook = TranscribeHook(aws_conn_id=AWS_CONN_ID)
        ledger = _ledger(params)
        counts = flatten_night(
            recordings=night_recordings(ledger, discovery),
            describe_job=hook.get_job,
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).conn,
            lake_uri=params["lake_uri"],
            night=ds,
            ledger=ledger,
            streaming=night_sessions(ledger, streaming),
        )
        for table in FLATTENED_TABLES:
            outlet_events[LAKE_ASSETS[table]].extra = event_extra(ds, counts.get(table))
        return counts

    @task(outlets=[LAKE_ASSETS[table] for table in GATED])
    def word_confidence_gate(
        params: dict[str, Any], ds: str, outlet_events: OutletEventAccessorsProtocol
    ) -> dict:
        """GX suites over the night's tables; transcripts under a bar go to review_queue; structural errors fail."""
        from airflow.providers.common.compat.sdk import AirflowFailException

        from medscribe.night.quality_status import apply_quality
        from medscribe.quality.config import DEFAULT_CONFIG
        from medscribe.quality.gate import failed_expectations, gate_night

        try:
            config = DEFAULT_CONFIG.with_overrides(params["quality"])
        except ValueError as error:  # a bad override: retrying would not help
            raise AirflowFailException(str(error)) from None
        report = gate_night(params["lake_uri"], ds, config)
        written = apply_quality(report, params["lake_uri"], ds)
        for table in GATED:  # review_queue written, quality_status of the others rewritten
            outlet_events[LAKE_ASSETS[table]].extra = event_extra(
                ds, written["review_queue"] if table == "review_queue" else None
            )
        result = {
            "structural_ok": report["structural_ok"],
            "under_bar": report["under_bar"],
            "review_queue": written["review_queue"],
            "transcripts": len(report["transcripts"]),
        }
        if not report["night_ok"]:
            raise AirflowFailException(
                f"quality gate failed on {ds}: {result}; structural: {failed_expectations(report)}; "
                f"see {params['lake_uri']}/_quality/night={ds}/data_docs/index.html"
            )
        return result

    @task(trigger_rule="all_done")
    def summary(states: dict, counts: dict, quality: dict | None, ds: str) -> dict:
        """Counts only; fails the run when a recording failed (the ledger and tables are already written)."""
        from airflow.providers.common.compat.sdk import AirflowFailException

        if states is None:
            raise AirflowFailException(f"the night {ds} was not settled: see the discover and settle tasks")
        result = {
            "night": ds,
            "recordings_by_state": states,
            "rows": counts,
            "transcripts_under_confidence_bar": (quality or {}).get("under_bar"),
        }
        if states.get("failed"):
            raise AirflowFailException(f"{states['failed']} recordings failed on {ds}: {result}")
        return result

    found = discover(
        discover_shard.partial(shards=DISCOVERY_SHARDS).expand(shard=list(range(DISCOVERY_SHARDS)))
    )
    batches = StartMedicalJobsFromManifestOperator.partial(
        task_id="jobs",
        pool=JOBS_POOL,
        pool_slots=BATCH_SIZE,
        deferrable=True,
        waiter_delay=10,
        waiter_max_attempts=720,
        manifest_bucket="{{ params.recordings_bucket }}",
    ).expand(manifest_key=plan(found))
    sessions = streaming_sessions()
    states = settle(found, batches.output)
    sessions >> states  # the night's states count the sessions' ledger entries
    counts = flatten(found, sessions)
    states >> counts
    quality = word_confidence_gate()
    counts >> quality
    summary(states, counts, quality)


medscribe_nightly()
