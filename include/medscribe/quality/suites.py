"""The gate's Great Expectations suites, built in code: one per lake table, one per cross-table check.

* ``table_<name>``: the columns and their order, each column's value type, non-null and unique keys,
  and the table's own ranges (confidence in [0, 1], start <= end, known states);
* ``check_<name>``: expectations on the derived frames of :mod:`medscribe.quality.frames`, one row per
  transcript, evidence link or insight span, so that GX's own expectations apply and each failed row
  names its recording (:data:`CHECK_INDEX_COLUMNS`).

Every expectation carries ``meta.severity`` (``structural``, ``review`` with ``metric``, ``threshold``
and ``bound``, or ``warning``): :mod:`medscribe.quality.report` reads the verdict from it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from medscribe.lake.schemas import QUALITY_STATUSES, RECORDING_STATES, SERVICES, TABLES
from medscribe.quality.config import QualityConfig

#: the columns that identify one row of each table (checked non-null and unique)
TABLE_KEYS: dict[str, list[str]] = {
    "recordings": ["recording_id"],
    "jobs": ["recording_id", "job_name"],
    "transcript_words": ["recording_id", "job_name", "item_index", "alternative_rank"],
    "transcript_segments": ["recording_id", "job_name", "segment_index"],
    "clinical_insights": ["recording_id", "job_name", "insight_id", "span_index"],
    "insight_attributes": ["recording_id", "job_name", "insight_id", "attribute_index", "span_index"],
    "note_sentences": ["recording_id", "job_name", "section_index", "sentence_index"],
    "note_evidence": ["recording_id", "job_name", "section_index", "sentence_index", "evidence_index"],
}

#: the review metrics, in the order a recording's review rows are listed
METRICS = ("mean_confidence", "low_word_share", "segment_coverage", "note_sentences")


def _python_type(type_: pa.DataType) -> str:
    """The Python type name GX observes for the values of an Arrow-backed pandas column."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "str"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_integer(type_):
        return "int"
    if pa.types.is_floating(type_):
        return "float"
    if pa.types.is_timestamp(type_):
        return "datetime"
    raise ValueError(f"no value type known for Arrow type {type_}")


def _meta(severity: str, **extra: Any) -> dict[str, Any]:
    return {"severity": severity, **extra}


def _ordered(
    E,
    later: str,
    earlier: str,
    meta: dict[str, Any],
    *,
    strictly: bool = False,
    description: str | None = None,
):
    """``later`` >= ``earlier`` (``>`` when ``strictly``) on every row that has both values."""
    described = {"description": description} if description else {}
    return E.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=later,
        column_B=earlier,
        or_equal=not strictly,
        ignore_row_if="either_value_is_missing",
        meta=meta,
        **described,
    )


def _timed(E, start: str, meta: dict[str, Any]) -> list:
    """``start`` is never negative and ``end_time`` never before it."""
    return [
        E.ExpectColumnValuesToBeBetween(column=start, min_value=0.0, meta=meta),
        _ordered(E, "end_time", start, meta),
    ]


# --- the per-table suites --------------------------------------------------------------------------


def table_expectations(gx, name: str) -> list:
    """Schema and types, non-null and unique keys, and the ranges of one lake table."""
    schema = TABLES[name]
    E = gx.expectations
    structural = _meta("structural")
    expectations = [
        E.ExpectTableColumnsToMatchOrderedList(
            column_list=schema.names,
            meta=structural,
            description=f"{name} has its declared columns, in order",
        )
    ]
    expectations += [
        E.ExpectColumnValuesToBeOfType(column=field.name, type_=_python_type(field.type), meta=structural)
        for field in schema
    ]
    expectations += [
        E.ExpectColumnValuesToNotBeNull(
            column=field.name, meta=structural, description=f"{field.name} is never null"
        )
        for field in schema
        if not field.nullable
    ]
    keys = TABLE_KEYS[name]
    if len(keys) == 1:
        expectations.append(E.ExpectColumnValuesToBeUnique(column=keys[0], meta=structural))
    else:
        expectations.append(
            E.ExpectCompoundColumnsToBeUnique(
                column_list=keys, meta=structural, description=f"one row per {', '.join(keys)}"
            )
        )
    if "quality_status" in schema.names:
        expectations.append(
            E.ExpectColumnValuesToBeInSet(
                column="quality_status", value_set=list(QUALITY_STATUSES), meta=structural
            )
        )
    if name == "recordings":
        expectations.append(
            E.ExpectColumnValuesToBeInSet(column="state", value_set=list(RECORDING_STATES), meta=structural)
        )
        expectations.append(
            E.ExpectColumnValuesToBeBetween(column="duration_s", min_value=0, meta=structural)
        )
    if name in ("jobs", "transcript_words"):
        expectations.append(
            E.ExpectColumnValuesToBeInSet(column="service", value_set=list(SERVICES), meta=structural)
        )
    if name in ("transcript_words", "clinical_insights", "insight_attributes"):
        expectations.append(
            E.ExpectColumnValuesToBeBetween(
                column="confidence", min_value=0.0, max_value=1.0, meta=structural
            )
        )
    if name == "transcript_words":
        expectations += [
            E.ExpectColumnValuesToNotBeNull(
                column=column,
                row_condition="is_punctuation == False and alternative_rank == 0",
                condition_parser="pandas",
                meta=structural,
                description=f"every spoken word has {what}",
            )
            for column, what in (
                ("confidence", "a confidence"),
                ("start_time", "a start time"),
                ("end_time", "an end time"),
            )
        ]
        expectations += _timed(E, "start_time", structural)
    if name == "transcript_segments":
        expectations += _timed(E, "begin_time", structural)
    return expectations


def check_expectations(gx, config: QualityConfig) -> dict[str, list]:
    """The expectations of each cross-table check (keys are the check names)."""
    E = gx.expectations
    structural = _meta("structural")

    def review(metric: str, threshold: float, bound: str) -> dict[str, Any]:
        return _meta("review", metric=metric, threshold=threshold, bound=bound)

    def within(metric: str, threshold: float, bound: str, description: str):
        """A review metric on the passing side of its threshold (``bound``: ``min`` or ``max``)."""
        limit = {f"{bound}_value": threshold}
        return E.ExpectColumnValuesToBeBetween(
            column=metric, **limit, meta=review(metric, threshold, bound), description=description
        )

    return {
        "transcript_confidence": [
            within(
                "mean_confidence",
                config.min_mean_confidence,
                "min",
                f"mean word confidence of a transcript >= {config.min_mean_confidence}",
            ),
            within(
                "low_word_share",
                config.max_low_share,
                "max",
                f"share of words under {config.low_word_confidence} <= {config.max_low_share}",
            ),
        ],
        "segment_coverage": [
            within(
                "segment_coverage",
                config.min_segment_coverage,
                "min",
                f"segments cover >= {config.min_segment_coverage} of the audio's duration",
            ),
            _ordered(
                E,
                "end_limit_s",
                "last_end_s",
                structural,
                description=f"no segment ends more than {config.segment_end_tolerance_s} s after the audio",
            ),
        ],
        "evidence_links": [
            E.ExpectColumnValuesToNotBeNull(
                column="resolved_segment_index",
                meta=structural,
                description="every evidence link resolves to a transcript segment of its recording and job",
            ),
        ],
        "insight_spans": [
            E.ExpectColumnValuesToNotBeNull(
                column="resolved_segment_index",
                meta=structural,
                description="every insight and attribute span resolves to a transcript segment",
            ),
            E.ExpectColumnValuesToBeBetween(
                column="begin_character_offset",
                min_value=0,
                meta=structural,
                description="a span begins at or after its segment's first character",
            ),
            _ordered(
                E,
                "end_exclusive",
                "begin_character_offset",
                structural,
                strictly=True,
                description="a span ends after it begins",
            ),
            _ordered(
                E,
                "segment_length",
                "end_exclusive",
                structural,
                description="a span ends within its segment's content",
            ),
            E.ExpectColumnValuesToBeInSet(
                column="content_matches",
                value_set=[True],
                meta=_meta("warning"),
                description="a span's text is the slice of its segment that its offsets name",
            ),
        ],
        "note_presence": [
            E.ExpectColumnValuesToBeBetween(
                column="note_sentences",
                min_value=1,
                row_condition="has_document == True and words > 0",
                condition_parser="pandas",
                meta=review("note_sentences", 1.0, "min"),
                description="a produced note of a non-empty conversation has at least one sentence",
            ),
        ],
    }


CHECK_INDEX_COLUMNS = {
    "transcript_confidence": ["recording_id", "job_name"],
    "segment_coverage": ["recording_id", "job_name"],
    "evidence_links": ["recording_id", "job_name", "section_index", "sentence_index", "evidence_index"],
    "insight_spans": ["source", "recording_id", "job_name", "insight_id", "attribute_index", "span_index"],
    "note_presence": ["recording_id", "job_name"],
}
