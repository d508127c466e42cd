"""The ``governance_audit`` table: one row per recording a forget or retention run acted on, never keys
or text (ids, nights and counts per place)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from medscribe.governance.places import PLACES
from medscribe.lake.schemas import PARTITION_COLUMN, TABLES
from medscribe.lake.store import read_table, write_partition

log = logging.getLogger(__name__)

AUDIT_TABLE = "governance_audit"


def audit_rows(
    action: str, results: list[dict[str, Any]], *, missing_inputs: int, run_id: str, requested_by: str | None
) -> pa.Table:
    """
    The ``governance_audit`` rows of one run: one per recording acted on, one per input key not found.

    :param action: ``forget`` or ``retention``.
    :param results: ``forget_recording`` results.
    :param missing_inputs: how many input keys no longer existed.
    :param run_id: the DAG run's id.
    :param requested_by: the user who triggered it (None if unknown).
    """
    now = datetime.now(UTC)
    zeros = {p: 0 for p in PLACES}
    rows = []
    for result in results:
        found = any(result[p] for p in PLACES)
        rows.append(
            {
                **zeros,
                **{p: result[p] for p in PLACES},
                "outcome": "removed" if found else "nothing_found",
                "recording_id": result["recording_id"],
                "recording_nights": ",".join(result["nights"]) or None,
                "lake_rows_by_table": json.dumps(result["lake_rows_by_table"], sort_keys=True),
            }
        )
    rows += [
        {
            **zeros,
            "outcome": "input_not_found",
            "recording_id": None,
            "recording_nights": None,
            "lake_rows_by_table": "{}",
        }
    ] * missing_inputs
    for row in rows:
        row.update(action=action, run_id=run_id, requested_by=requested_by, acted_at=now)
    return pa.Table.from_pylist(rows, schema=TABLES[AUDIT_TABLE])


def append_audit(rows: pa.Table, lake_uri: str) -> str:
    """
    Append rows to the ``governance_audit`` partition of today (UTC): the partition is read, extended and
    replaced whole (one writer at a time: the governance DAGs run one at a time per day's partition).

    :param rows: ``audit_rows`` output.
    :param lake_uri: root of the Parquet lake.
    :return: the partition's day.
    """
    day = datetime.now(UTC).date().isoformat()
    existing = read_table(AUDIT_TABLE, lake_uri, night=day).drop_columns([PARTITION_COLUMN])
    write_partition(AUDIT_TABLE, pa.concat_tables([existing, rows]), lake_uri, day)
    log.info("%d audit rows appended to %s night=%s", rows.num_rows, AUDIT_TABLE, day)
    return day
