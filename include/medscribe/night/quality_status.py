"""The quality gate's verdict written into the lake: ``review_queue`` and every row's ``quality_status``."""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa

from medscribe.lake.schemas import TABLES
from medscribe.lake.store import write_partition

log = logging.getLogger(__name__)


def apply_quality(report: dict[str, Any], lake_uri: str, night: str) -> dict[str, int]:
    """
    Write the gate's verdict into the lake: the night's ``review_queue`` partition, and the
    ``quality_status`` of every row of ``jobs``, ``transcript_words`` and ``transcript_segments``
    (``passed`` | ``review`` per recording; null for recordings the gate had nothing to check in).

    :param report: a :func:`medscribe.quality.gate.run_gate` report.
    :param lake_uri: root of the Parquet lake.
    :param night: the night, YYYY-MM-DD.
    :return: review_queue rows, and rows per status.
    """
    import pyarrow.compute as pc

    from medscribe.lake.store import read_table
    from medscribe.quality.gate import review_queue_table

    statuses = report["quality_status"]
    ids = sorted(statuses)
    values = [statuses[i] for i in ids]
    counts = {"review_queue": len(report["review_queue"])}
    write_partition("review_queue", review_queue_table(report), lake_uri, night)
    for name in ("jobs", "transcript_words", "transcript_segments"):
        table = read_table(name, lake_uri, night=night).drop_columns(["night"])
        status = pc.take(
            pa.array(values, pa.string()),
            pc.index_in(table["recording_id"], value_set=pa.array(ids, pa.string())),
        )
        table = table.set_column(
            table.schema.get_field_index("quality_status"), TABLES[name].field("quality_status"), status
        )
        write_partition(name, table, lake_uri, night)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    log.info("Night %s quality written: %s", night, counts)
    return counts
