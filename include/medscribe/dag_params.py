"""The DAG params that say where the night's copies live, declared once for the nightly, forget and
retention DAGs; :meth:`medscribe.governance.Places.from_params` reads them back. Light on purpose:
DAG files import it at parse time.
"""

from __future__ import annotations

import os

from airflow.sdk import Param


def places_params() -> dict[str, Param]:
    """``recordings_bucket``, ``recordings_prefix``, ``staging_prefix``, ``quarantine_prefix``,
    ``ledger_prefix``, ``output_bucket``, ``lake_uri`` and ``streaming_prefix``, with their defaults (buckets,
    lake and streaming folder from ``MEDSCRIBE_RECORDINGS_BUCKET``, ``MEDSCRIBE_OUTPUT_BUCKET``,
    ``MEDSCRIBE_LAKE_URI``, ``MEDSCRIBE_STREAMING_PREFIX`` if set)."""
    return {
        "recordings_bucket": Param(
            os.environ.get("MEDSCRIBE_RECORDINGS_BUCKET", "medscribe-recordings"), type="string"
        ),
        "recordings_prefix": Param(
            "incoming", type="string", description="night folders live under this prefix"
        ),
        "staging_prefix": Param(
            "staging/media", type="string", description="content-addressed copies of the audio"
        ),
        "quarantine_prefix": Param("quarantine", type="string", description="copies of invalid recordings"),
        "ledger_prefix": Param("ledger", type="string", description="one JSON entry per recording and night"),
        "output_bucket": Param(os.environ.get("MEDSCRIBE_OUTPUT_BUCKET", "medscribe-outputs"), type="string"),
        "lake_uri": Param(os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake"), type="string"),
        "streaming_prefix": Param(
            os.environ.get("MEDSCRIBE_STREAMING_PREFIX", "healthscribe-streaming"),
            type="string",
            description="HealthScribe streaming sessions' folder in the outputs bucket (AWS writes "
            "<prefix>/<SessionId>/post-stream-analytics/clinical-notes/)",
        ),
    }
