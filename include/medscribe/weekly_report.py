"""Medications and conditions per ISO week, from the lake's DuckDB views: the example analyst report.

The ``medscribe_weekly_report`` DAG runs this whenever the nightly run has updated ``clinical_insights``.
The report holds counts only (never a term's text): one row per ISO week of the night and category,
written as CSV to ``<lake>/_reports/clinical_terms_per_week.csv`` (replaced on every run).
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

log = logging.getLogger(__name__)

CATEGORIES = ("MEDICATION", "MEDICAL_CONDITION")
REPORT_PATH = "_reports/clinical_terms_per_week.csv"
COLUMNS = ("iso_week", "category", "mentions", "recordings", "nights")


def clinical_terms_per_week(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int, int]]:
    """
    (ISO week ``YYYY-Www`` of the night, category, mentions, recordings, nights), by week and category.

    A mention is one insight (an insight with several spans counts once), as in
    ``medscribe.analytics.medications_per_week``.

    :param con: connection from ``medscribe.lake.store.duckdb_connect``.
    """
    return con.execute(
        f"""
        select strftime(cast(night as date), '%G-W%V') as iso_week, category,
               count(distinct (recording_id, job_name, insight_id)) as mentions,
               count(distinct recording_id) as recordings,
               count(distinct night) as nights
        from clinical_insights
        where category in ({", ".join("?" for _ in CATEGORIES)})
        group by iso_week, category
        order by iso_week, category
        """,
        list(CATEGORIES),
    ).fetchall()


def write_weekly_report(lake_uri: str) -> dict[str, Any]:
    """
    Compute the report over the whole lake and write it under the lake's ``_reports`` folder.

    :param lake_uri: local path, ``file://`` or ``s3://`` URI of the lake.
    :return: ``{"path": <report path in the lake's filesystem>, "rows": n, "weeks": n}`` (no terms).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from medscribe.lake.store import duckdb_connect, resolve

    con = duckdb_connect(lake_uri)
    try:
        rows = clinical_terms_per_week(con)
    finally:
        con.close()
    table = pa.Table.from_pylist(
        [dict(zip(COLUMNS, row, strict=True)) for row in rows],
        schema=pa.schema(
            [
                ("iso_week", pa.string()),
                ("category", pa.string()),
                ("mentions", pa.int64()),
                ("recordings", pa.int64()),
                ("nights", pa.int64()),
            ]
        ),
    )
    fs, root = resolve(lake_uri)
    path = f"{root}/{REPORT_PATH}"
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        pacsv.write_csv(table, out)
    weeks = len({row[0] for row in rows})
    log.info("Weekly report: %d rows over %d weeks", len(rows), weeks)
    return {"path": path, "rows": len(rows), "weeks": weeks}
