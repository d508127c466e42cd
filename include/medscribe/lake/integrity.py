"""Join-integrity checks of the lake: rows that point at a transcript segment that is not there.

``note_evidence.segment_id`` and the spans of ``clinical_insights`` / ``insight_attributes`` name a
``transcript_segments.segment_id`` of the same recording and job. A reference is *dangling* when its
segment_id is null or names no segment of that recording and job in the same night. Placeholder rows
of insights or attributes that have no span at all (segment_id, offsets and content all null) are not
references and are never reported.

The functions return the offending rows (ids and positions only, never text), so a check can say
exactly what is broken; an empty table means the night is consistent.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from medscribe.lake.store import read_table

_JOIN_KEYS = ["recording_id", "job_name", "segment_id"]

DANGLING_EVIDENCE = pa.schema(
    [
        ("recording_id", pa.string()),
        ("job_name", pa.string()),
        ("section_name", pa.string()),
        ("section_index", pa.int32()),
        ("sentence_index", pa.int32()),
        ("evidence_index", pa.int32()),
        ("segment_id", pa.string()),
    ]
)

DANGLING_SPANS = pa.schema(
    [
        ("source", pa.string()),  # "insight" | "attribute"
        ("recording_id", pa.string()),
        ("job_name", pa.string()),
        ("insight_id", pa.string()),
        ("attribute_index", pa.int32()),  # null for insight spans
        ("span_index", pa.int32()),
        ("segment_id", pa.string()),
    ]
)


def _segments(lake_uri: str, night: str, filesystem: pafs.FileSystem | None) -> pa.Table:
    """Distinct (recording_id, job_name, segment_id) of the night's transcript segments."""
    segments = read_table("transcript_segments", lake_uri, night, filesystem=filesystem)
    segments = segments.filter(pc.is_valid(segments["segment_id"])).select(_JOIN_KEYS)
    return segments.group_by(_JOIN_KEYS).aggregate([])


def _missing(rows: pa.Table, segments: pa.Table) -> pa.Table:
    """Rows of ``rows`` with a null segment_id or none matching ``segments`` on the join keys."""
    marked = segments.append_column("_found", pa.array([True] * segments.num_rows, pa.bool_()))
    joined = rows.join(marked, keys=_JOIN_KEYS, join_type="left outer", use_threads=False)
    return joined.filter(pc.is_null(joined["_found"])).drop_columns(["_found"])


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in keys])


def dangling_evidence(lake_uri: str, night: str, *, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """``note_evidence`` rows of a night whose segment is missing from ``transcript_segments``.

    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: ``YYYY-MM-DD``.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: table with the ``DANGLING_EVIDENCE`` schema, sorted by its key; empty if all links resolve.
    """
    evidence = read_table("note_evidence", lake_uri, night, filesystem=filesystem)
    rows = evidence.select(DANGLING_EVIDENCE.names).cast(DANGLING_EVIDENCE)
    missing = _missing(rows, _segments(lake_uri, night, filesystem))
    return _sorted(missing.select(DANGLING_EVIDENCE.names), DANGLING_EVIDENCE.names[:6])


def _span_rows(table: pa.Table, source: str) -> pa.Table:
    """A table's span references in the ``DANGLING_SPANS`` layout, placeholder (no span) rows dropped."""
    placeholder = pc.and_(
        pc.and_(pc.is_null(table["segment_id"]), pc.is_null(table["content"])),
        pc.and_(pc.is_null(table["begin_character_offset"]), pc.is_null(table["end_character_offset"])),
    )
    table = table.filter(pc.invert(placeholder))
    attribute_index = (
        table["attribute_index"]
        if "attribute_index" in table.column_names
        else pa.nulls(table.num_rows, pa.int32())
    )
    return pa.table(
        {
            "source": pa.array([source] * table.num_rows, pa.string()),
            "recording_id": table["recording_id"],
            "job_name": table["job_name"],
            "insight_id": table["insight_id"],
            "attribute_index": attribute_index,
            "span_index": table["span_index"],
            "segment_id": table["segment_id"],
        },
        schema=DANGLING_SPANS,
    )


def dangling_insight_spans(
    lake_uri: str, night: str, *, filesystem: pafs.FileSystem | None = None
) -> pa.Table:
    """Spans of ``clinical_insights`` and ``insight_attributes`` whose segment is missing.

    :param lake_uri: lake root (local path, ``file://`` or ``s3://``).
    :param night: ``YYYY-MM-DD``.
    :param filesystem: filesystem to use instead of the one ``lake_uri`` names.
    :return: table with the ``DANGLING_SPANS`` schema (``source`` says which table), sorted; empty if
        every span resolves.
    """
    rows = pa.concat_tables(
        [
            _span_rows(read_table("clinical_insights", lake_uri, night, filesystem=filesystem), "insight"),
            _span_rows(read_table("insight_attributes", lake_uri, night, filesystem=filesystem), "attribute"),
        ]
    )
    missing = _missing(rows, _segments(lake_uri, night, filesystem))
    keys = ["source", "recording_id", "job_name", "insight_id", "attribute_index", "span_index"]
    return _sorted(missing.select(DANGLING_SPANS.names), keys)
