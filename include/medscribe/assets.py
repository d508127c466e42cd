"""The lake's tables as Airflow Assets: the nightly DAG's write tasks update them, analyst DAGs are scheduled on them.

One asset per table, named ``medscribe_lake.<table>``, whose URI is the table's folder under the lake the
deployment configures (``MEDSCRIBE_LAKE_URI``; a local path becomes a ``file://`` URI). Each event's
extra carries the night and the rows of the night's partition: counts only. Imports nothing heavy: DAG files import it at parse time.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from airflow.sdk import Asset

from medscribe.lake.tables import FLATTENED_TABLES

DEFAULT_LAKE_URI = os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake")

# The flatten task writes FLATTENED_TABLES; the quality gate writes these (review_queue; quality_status of jobs, words and segments).
GATED = ("review_queue", "jobs", "transcript_words", "transcript_segments")


def table_uri(lake_uri: str, table: str) -> str:
    """
    The URI of one table's folder: ``s3://`` kept (without pyarrow's query options), a path as ``file://``.

    :param lake_uri: the lake's root (local path, ``file://`` or ``s3://`` URI).
    :param table: the table's name.
    """
    parsed = urllib.parse.urlsplit(lake_uri)
    if parsed.scheme in ("s3", "file"):
        return f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/{table}"
    return f"{Path(lake_uri).resolve().as_uri()}/{table}"


def lake_asset(table: str, lake_uri: str = DEFAULT_LAKE_URI) -> Asset:
    """
    The asset of one lake table.

    :param table: the table's name.
    :param lake_uri: the lake's root.
    """
    return Asset(name=f"medscribe_lake.{table}", uri=table_uri(lake_uri, table), group="medscribe_lake")


LAKE_ASSETS = {table: lake_asset(table) for table in dict.fromkeys(FLATTENED_TABLES + GATED)}


def event_extra(night: str, rows: int | None) -> dict:
    """
    The extra of a table's asset event: the night and the rows of its partition (no URI: one may carry
    credentials in pyarrow's query options).

    :param night: the night, YYYY-MM-DD.
    :param rows: rows of the night's partition, if known.
    """
    return {"night": night, "rows": rows}
