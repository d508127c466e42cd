"""The night's quality gate: Great Expectations 1.x suites built in code, per table and per check.

Two families of suites run on every night:

* one suite per lake table (``table_<name>``): the columns and their order, each column's value type,
  non-null and unique keys, and the table's own ranges (confidence in [0, 1], start <= end, known states);
* one suite per cross-table check (``check_<name>``), each on a small frame derived from the tables, one
  row per transcript, evidence link or insight span, so that GX's own expectations apply and each failed
  row names its recording:

  - ``transcript_confidence``: per transcript, the mean word confidence and the share of low words
    (pronunciations, best alternative);
  - ``segment_coverage``: per HealthScribe transcript, the share of the audio's duration its segments
    cover, and the last segment's end against the duration;
  - ``evidence_links``: every note sentence's evidence link resolves to a segment of its recording and job;
  - ``insight_spans``: every insight / attribute span resolves to a segment, and its offsets lie within
    that segment's content (``0 <= begin < end_exclusive <= len(content)``);
  - ``note_presence``: no empty note for a non-empty conversation, where a note exists to be checked.

Every expectation carries ``meta.severity``:

* ``structural`` (the data is broken; fails the night when ``fail_on_structural``);
* ``review`` (a transcript under a bar: one ``review_queue`` row per failed metric and recording; fails
  the night only when ``fail_on_review``);
* ``warning`` (kept in the results and the data docs, no consequence): a span's text differs from the
  slice of its segment that its offsets name.

The rule "no empty note for a non-empty conversation" applies to the HealthScribe jobs whose
``clinical_document_uri`` is set, i.e. where a clinical document was produced and flattened: such a job
with at least one recognised word must have at least one non-empty note sentence. A job that produced no
document (today's offline engine, or a job without note generation) has nothing to check; an absent
document is a service outcome, visible in ``jobs``, not a quality failure of the night.

No expectation compares or lists transcript text: the check suites see ids, numbers and flags only, and
on text columns the table suites check only presence and type (a wrongly typed value, the only kind they
would list, is not text). So the GX results and data docs carry no patient words; the report names
recordings by id. They do live next to the lake, with the lake's access rules.

Cost, measured on this 2-core machine with others at work: about 7 s for a small night (13 validations,
most of it GX's fixed cost per validation), 13 s with 1,000,000 words (6 s of it the words table suite);
reading the tables and rendering the data docs come on top.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from medscribe.lake.schemas import PARTITION_COLUMN, QUALITY_STATUSES, RECORDING_STATES, SERVICES, TABLES
from medscribe.quality.config import DEFAULT_CONFIG, QualityConfig

log = logging.getLogger(__name__)

GATED_TABLES = (
    "recordings",
    "jobs",
    "transcript_words",
    "transcript_segments",
    "clinical_insights",
    "insight_attributes",
    "note_sentences",
    "note_evidence",
)

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

METRICS = ("mean_confidence", "low_word_share", "segment_coverage", "note_sentences")
DOCS_SITE = "night"


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
    if name == "jobs":
        expectations.append(
            E.ExpectColumnValuesToBeInSet(column="service", value_set=list(SERVICES), meta=structural)
        )
    if name == "transcript_words":
        spoken = "is_punctuation == False and alternative_rank == 0"
        expectations += [
            E.ExpectColumnValuesToBeInSet(column="service", value_set=list(SERVICES), meta=structural),
            E.ExpectColumnValuesToBeBetween(
                column="confidence", min_value=0.0, max_value=1.0, meta=structural
            ),
            E.ExpectColumnValuesToNotBeNull(
                column="confidence",
                row_condition=spoken,
                condition_parser="pandas",
                meta=structural,
                description="every spoken word has a confidence",
            ),
            E.ExpectColumnValuesToNotBeNull(
                column="start_time",
                row_condition=spoken,
                condition_parser="pandas",
                meta=structural,
                description="every spoken word has a start time",
            ),
            E.ExpectColumnValuesToNotBeNull(
                column="end_time",
                row_condition=spoken,
                condition_parser="pandas",
                meta=structural,
                description="every spoken word has an end time",
            ),
            E.ExpectColumnValuesToBeBetween(column="start_time", min_value=0.0, meta=structural),
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_time",
                column_B="start_time",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=structural,
            ),
        ]
    if name == "transcript_segments":
        expectations += [
            E.ExpectColumnValuesToBeBetween(column="begin_time", min_value=0.0, meta=structural),
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_time",
                column_B="begin_time",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=structural,
            ),
        ]
    if name in ("clinical_insights", "insight_attributes"):
        expectations.append(
            E.ExpectColumnValuesToBeBetween(
                column="confidence", min_value=0.0, max_value=1.0, meta=structural
            )
        )
    return expectations


# --- the derived frames of the cross-table checks ---------------------------------------------------


def _spoken(words: pd.DataFrame) -> pd.DataFrame:
    """Pronunciations of the best alternative."""
    return words[(words["is_punctuation"] == False) & (words["alternative_rank"] == 0)]  # noqa: E712


def transcript_confidence(words: pd.DataFrame, config: QualityConfig) -> pd.DataFrame:
    """One row per transcript with words: ``words``, ``mean_confidence``, ``low_word_share``."""
    spoken = _spoken(words)
    spoken = spoken[spoken["confidence"].notna()]
    if spoken.empty:
        return pd.DataFrame(
            {
                "recording_id": pd.Series(dtype=str),
                "job_name": pd.Series(dtype=str),
                "words": pd.Series(dtype=int),
                "mean_confidence": pd.Series(dtype=float),
                "low_word_share": pd.Series(dtype=float),
            }
        )
    confidence = spoken["confidence"].astype(float)
    frame = pd.DataFrame(
        {
            "recording_id": spoken["recording_id"].astype(str),
            "job_name": spoken["job_name"].astype(str),
            "confidence": confidence,
            "is_low": (confidence < config.low_word_confidence).astype(float),
        }
    )
    grouped = frame.groupby(["recording_id", "job_name"], sort=True)
    return pd.DataFrame(
        {
            "words": grouped.size(),
            "mean_confidence": grouped["confidence"].mean(),
            "low_word_share": grouped["is_low"].mean(),
        }
    ).reset_index()


def _covered_seconds(intervals: list[tuple[float, float]], duration: float | None) -> float:
    """Length of the union of intervals, clipped to [0, duration] when the duration is known."""
    total, reach = 0.0, None
    for begin, end in sorted(intervals):
        if duration is not None:
            begin, end = max(begin, 0.0), min(end, duration)
        if end <= begin:
            continue
        if reach is None or begin > reach:
            total += end - begin
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def segment_coverage(
    segments: pd.DataFrame, jobs: pd.DataFrame, recordings: pd.DataFrame, config: QualityConfig
) -> pd.DataFrame:
    """
    One row per HealthScribe transcript (completed HealthScribe jobs, and any recording with segments):
    ``duration_s`` (from ``recordings``), ``covered_s``, ``segment_coverage``, ``last_end_s`` and
    ``end_limit_s`` (duration + tolerance). Unknown durations leave the ratios null (not checked).
    """
    durations = {
        r: (None if pd.isna(d) else float(d))
        for r, d in zip(recordings["recording_id"], recordings["duration_s"])
    }
    keys = set()
    scribe = jobs[(jobs["service"] == "healthscribe") & (jobs["status"] == "COMPLETED")]
    keys |= set(zip(scribe["recording_id"].astype(str), scribe["job_name"].astype(str)))
    keys |= set(zip(segments["recording_id"].astype(str), segments["job_name"].astype(str)))
    timed = segments[segments["begin_time"].notna() & segments["end_time"].notna()]
    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rid, job, begin, end in zip(
        timed["recording_id"], timed["job_name"], timed["begin_time"], timed["end_time"]
    ):
        spans.setdefault((str(rid), str(job)), []).append((float(begin), float(end)))
    rows = []
    for rid, job in sorted(keys):
        duration = durations.get(rid)
        intervals = spans.get((rid, job), [])
        covered = _covered_seconds(intervals, duration)
        rows.append(
            {
                "recording_id": rid,
                "job_name": job,
                "segments": len(intervals),
                "duration_s": duration,
                "covered_s": round(covered, 3),
                "segment_coverage": round(covered / duration, 4) if duration else None,
                "last_end_s": max((end for _, end in intervals), default=None),
                "end_limit_s": duration + config.segment_end_tolerance_s if duration is not None else None,
            }
        )
    columns = [
        "recording_id",
        "job_name",
        "segments",
        "duration_s",
        "covered_s",
        "segment_coverage",
        "last_end_s",
        "end_limit_s",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns[3:]:
        frame[column] = frame[column].astype(float)
    return frame


def _segment_lookup(segments: pd.DataFrame) -> pd.DataFrame:
    found = segments[segments["segment_id"].notna()][
        ["recording_id", "job_name", "segment_id", "segment_index", "content"]
    ]
    found = found.drop_duplicates(["recording_id", "job_name", "segment_id"], keep="first")
    return found.rename(columns={"segment_index": "resolved_segment_index", "content": "segment_content"})


def evidence_links(evidence: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """One row per note evidence link, with the index of the segment it resolves to (null if none)."""
    columns = ["recording_id", "job_name", "section_index", "sentence_index", "evidence_index", "segment_id"]
    joined = evidence[columns].merge(
        _segment_lookup(segments), on=["recording_id", "job_name", "segment_id"], how="left"
    )
    frame = joined[columns[:5] + ["resolved_segment_index"]].copy()
    frame["resolved_segment_index"] = frame["resolved_segment_index"].astype(float)
    for column in columns[2:5]:
        frame[column] = pd.Series(
            [None if pd.isna(v) else int(v) for v in frame[column]], index=frame.index, dtype=object
        )
    return frame


def insight_spans(insights: pd.DataFrame, attributes: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """
    One row per insight or attribute span (placeholder rows without any span dropped): the segment it
    resolves to, its offsets, the segment's content length and whether the offsets' slice is its text.
    """
    columns = [
        "recording_id",
        "job_name",
        "insight_id",
        "span_index",
        "segment_id",
        "begin_character_offset",
        "end_exclusive",
        "content",
    ]
    parts = []
    for source, table in (("insight", insights), ("attribute", attributes)):
        rows = table[columns + (["attribute_index"] if source == "attribute" else [])].copy()
        placeholder = (
            rows["segment_id"].isna() & rows["content"].isna() & rows["begin_character_offset"].isna()
        )
        rows = rows[~placeholder]
        rows.insert(0, "source", source)
        if "attribute_index" not in rows:
            rows["attribute_index"] = None
        parts.append(rows)
    spans = pd.concat(parts, ignore_index=True)
    joined = spans.merge(_segment_lookup(segments), on=["recording_id", "job_name", "segment_id"], how="left")

    def as_number(series: pd.Series) -> pd.Series:
        return pd.to_numeric(series.astype(object), errors="coerce").astype(float)

    begin, end = as_number(joined["begin_character_offset"]), as_number(joined["end_exclusive"])
    length = [float(len(text)) if isinstance(text, str) else None for text in joined["segment_content"]]
    matches = []
    for text, b, e, content in zip(joined["segment_content"], begin, end, joined["content"]):
        if not isinstance(text, str) or not isinstance(content, str) or pd.isna(b) or pd.isna(e):
            matches.append(None)
        else:
            matches.append(text[int(b) : int(e)] == content)
    return pd.DataFrame(
        {
            "source": joined["source"].astype(str),
            "recording_id": joined["recording_id"].astype(str),
            "job_name": joined["job_name"].astype(str),
            "insight_id": joined["insight_id"].astype(str),
            "attribute_index": as_number(joined["attribute_index"]),
            "span_index": joined["span_index"].astype(int),
            "resolved_segment_index": as_number(joined["resolved_segment_index"]),
            "begin_character_offset": begin,
            "end_exclusive": end,
            "segment_length": pd.Series(length, dtype=float),
            "content_matches": pd.Series(matches, dtype=object),
        }
    )


def note_presence(jobs: pd.DataFrame, words: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """
    One row per completed HealthScribe job: ``has_document`` (a clinical document was produced), the
    transcript's ``words`` and the note's non-empty ``note_sentences``.
    """
    scribe = jobs[(jobs["service"] == "healthscribe") & (jobs["status"] == "COMPLETED")]
    spoken = _spoken(words).groupby(["recording_id", "job_name"]).size()
    non_empty = pd.Series(
        [isinstance(t, str) and bool(t.strip()) for t in sentences["text"]], index=sentences.index, dtype=bool
    )
    written = sentences.loc[non_empty].groupby(["recording_id", "job_name"]).size()
    rows = [
        {
            "recording_id": str(rid),
            "job_name": str(job),
            "has_document": isinstance(uri, str) and bool(uri),
            "words": int(spoken.get((rid, job), 0)),
            "note_sentences": int(written.get((rid, job), 0)),
        }
        for rid, job, uri in zip(scribe["recording_id"], scribe["job_name"], scribe["clinical_document_uri"])
    ]
    frame = pd.DataFrame(
        rows, columns=["recording_id", "job_name", "has_document", "words", "note_sentences"]
    )
    return frame.astype({"has_document": bool, "words": int, "note_sentences": int})


def check_expectations(gx, config: QualityConfig) -> dict[str, list]:
    """The expectations of each cross-table check (keys are the check names)."""
    E = gx.expectations
    structural = _meta("structural")

    def review(metric: str, threshold: float, bound: str) -> dict[str, Any]:
        return _meta("review", metric=metric, threshold=threshold, bound=bound)

    return {
        "transcript_confidence": [
            E.ExpectColumnValuesToBeBetween(
                column="mean_confidence",
                min_value=config.min_mean_confidence,
                meta=review("mean_confidence", config.min_mean_confidence, "min"),
                description=f"mean word confidence of a transcript >= {config.min_mean_confidence}",
            ),
            E.ExpectColumnValuesToBeBetween(
                column="low_word_share",
                max_value=config.max_low_share,
                meta=review("low_word_share", config.max_low_share, "max"),
                description=f"share of words under {config.low_word_confidence} <= {config.max_low_share}",
            ),
        ],
        "segment_coverage": [
            E.ExpectColumnValuesToBeBetween(
                column="segment_coverage",
                min_value=config.min_segment_coverage,
                meta=review("segment_coverage", config.min_segment_coverage, "min"),
                description=f"segments cover >= {config.min_segment_coverage} of the audio's duration",
            ),
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_limit_s",
                column_B="last_end_s",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=structural,
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
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_exclusive",
                column_B="begin_character_offset",
                or_equal=False,
                ignore_row_if="either_value_is_missing",
                meta=structural,
                description="a span ends after it begins",
            ),
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="segment_length",
                column_B="end_exclusive",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta=structural,
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


# --- running the suites -------------------------------------------------------------------------------


def _context(docs_dir: Path | None):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
    return gx, context


def _run(
    gx, context, name: str, frame: pd.DataFrame, expectations: list, result_format: dict
) -> dict[str, Any]:
    source = context.data_sources.add_pandas(f"{name}_source")
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_batch")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{name}_checkpoint", validation_definitions=[definition], result_format=result_format
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    (validation,) = result.run_results.values()
    return validation.to_json_dict()


def _pandas(table: pa.Table) -> pd.DataFrame:
    if PARTITION_COLUMN in table.column_names:
        table = table.drop_columns([PARTITION_COLUMN])
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def run_gate(
    tables: dict[str, pa.Table],
    config: QualityConfig = DEFAULT_CONFIG,
    *,
    night: str | None = None,
    docs_dir: Path | None = None,
) -> dict[str, Any]:
    """
    Validate one night's tables.

    :param tables: the night's tables by name (missing ones count as empty); any ``night`` column is ignored.
    :param config: thresholds and policy.
    :param night: the night, recorded in the report.
    :param docs_dir: a local folder where GX renders the data docs HTML site; None renders none.
    :return: the report: ``structural_ok``, ``review_ok``, ``night_ok`` (the policy's verdict),
        ``review_queue`` (rows), ``quality_status`` ({recording_id: passed|review}), ``transcripts``
        (figures per transcript), ``failures`` (failed expectations: suite, type, column, severity,
        description, unexpected count), ``config`` and ``results`` ({suite: GX validation result JSON}).
    """
    started = time.monotonic()
    gx, context = _context(docs_dir)
    frames = {name: _pandas(tables.get(name, TABLES[name].empty_table())) for name in GATED_TABLES}
    summary_format = {"result_format": "SUMMARY"}
    results = {}
    for name in GATED_TABLES:
        results[f"table_{name}"] = _run(
            gx, context, f"table_{name}", frames[name], table_expectations(gx, name), summary_format
        )
    words, segments, jobs = frames["transcript_words"], frames["transcript_segments"], frames["jobs"]
    checks = {
        "transcript_confidence": transcript_confidence(words, config),
        "segment_coverage": segment_coverage(segments, jobs, frames["recordings"], config),
        "evidence_links": evidence_links(frames["note_evidence"], segments),
        "insight_spans": insight_spans(frames["clinical_insights"], frames["insight_attributes"], segments),
        "note_presence": note_presence(jobs, words, frames["note_sentences"]),
    }
    for name, expectations in check_expectations(gx, config).items():
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": CHECK_INDEX_COLUMNS[name],
            "return_unexpected_index_query": False,
        }
        results[f"check_{name}"] = _run(
            gx, context, f"check_{name}", checks[name], expectations, result_format
        )
    if docs_dir is not None:
        context.build_data_docs(site_names=[DOCS_SITE])

    failures, review_rows = [], []
    for suite, result in results.items():
        for outcome in result["results"]:
            if outcome["success"]:
                continue
            expectation = outcome["expectation_config"]
            meta = expectation.get("meta") or {}
            kwargs = expectation["kwargs"]
            failures.append(
                {
                    "suite": suite,
                    "expectation": expectation["type"],
                    "column": kwargs.get("column")
                    or kwargs.get("column_A")
                    or (
                        ",".join(kwargs["column_list"])
                        if expectation["type"].startswith("expect_compound")
                        else None
                    ),
                    "severity": meta.get("severity"),
                    "description": expectation.get("description"),
                    "unexpected_count": (outcome.get("result") or {}).get("unexpected_count"),
                    "error": (outcome.get("exception_info") or {}).get("exception_message"),
                }
            )
            if meta.get("severity") == "review":
                for row in (outcome.get("result") or {}).get("unexpected_index_list") or []:
                    review_rows.append(
                        {
                            "recording_id": row["recording_id"],
                            "job_name": row.get("job_name"),
                            "metric": meta["metric"],
                            "value": _number(row.get(kwargs["column"])),
                            "threshold": float(meta["threshold"]),
                            "bound": meta["bound"],
                        }
                    )
    review_rows.sort(key=lambda r: (r["recording_id"], METRICS.index(r["metric"])))
    checked = set()
    for name in ("transcript_confidence", "segment_coverage"):
        checked |= set(checks[name]["recording_id"])
    notes = checks["note_presence"]
    checked |= set(notes[notes["has_document"]]["recording_id"])
    flagged = {r["recording_id"] for r in review_rows}
    statuses = {rid: ("review" if rid in flagged else "passed") for rid in sorted(checked | flagged)}
    structural_ok = not any(f["severity"] == "structural" for f in failures)
    review_ok = not review_rows
    night_ok = (structural_ok or not config.fail_on_structural) and (review_ok or not config.fail_on_review)
    confidence = checks["transcript_confidence"]
    transcripts = [
        {
            "recording_id": r.recording_id,
            "job_name": r.job_name,
            "words": int(r.words),
            "mean_confidence": round(float(r.mean_confidence), 4),
            "low_word_share": round(float(r.low_word_share), 4),
            "passed": statuses.get(r.recording_id) == "passed",
        }
        for r in confidence.itertuples()
    ]
    log.info(
        "Quality gate%s: structural %s, %d review rows for %d of %d recordings, %d expectations failed, %.1f s",
        f" {night}" if night else "",
        "ok" if structural_ok else "FAILED",
        len(review_rows),
        len(flagged),
        len(statuses),
        len(failures),
        time.monotonic() - started,
    )
    return {
        "night": night,
        "structural_ok": structural_ok,
        "review_ok": review_ok,
        "night_ok": night_ok,
        "under_bar": len(flagged),
        "review_queue": review_rows,
        "quality_status": statuses,
        "transcripts": transcripts,
        "failures": failures,
        "config": config.to_dict(),
        "bar": config.to_dict(),
        "results": results,
    }


def failed_expectations(report: dict[str, Any], severity: str | None = "structural") -> list[str]:
    """``suite:expectation type:column`` of the report's failed expectations (of one severity, or all)."""
    return sorted(
        f"{f['suite']}:{f['expectation']}:{f['column']}"
        for f in report["failures"]
        if severity is None or f["severity"] == severity
    )


def review_queue_table(report: dict[str, Any]) -> pa.Table:
    """The report's review rows as the ``review_queue`` table."""
    return pa.Table.from_pylist(report["review_queue"], schema=TABLES["review_queue"])


def quality_dir(lake_uri: str, night: str):
    """``(filesystem, path)`` of the night's quality folder, ``<lake>/_quality/night=<night>``."""
    from medscribe.lake.store import resolve

    filesystem, root = resolve(lake_uri)
    return filesystem, f"{root}/_quality/night={night}"


def save_report(report: dict[str, Any], lake_uri: str, night: str, docs_dir: Path | None = None) -> str:
    """
    Write the report (GX results included) as ``word_confidence.json`` and copy the rendered data docs
    to ``data_docs/`` under ``<lake>/_quality/night=<night>/``, replacing the night's previous ones.

    :return: the report's path.
    """
    import json

    from pyarrow import fs

    filesystem, directory = quality_dir(lake_uri, night)
    filesystem.create_dir(directory, recursive=True)
    path = f"{directory}/word_confidence.json"
    with filesystem.open_output_stream(path) as stream:
        stream.write(json.dumps(report, indent=1, default=str).encode())
    if docs_dir is not None:
        target = f"{directory}/data_docs"
        filesystem.create_dir(target, recursive=True)
        filesystem.delete_dir_contents(target, missing_dir_ok=True)
        fs.copy_files(
            str(docs_dir), target, source_filesystem=fs.LocalFileSystem(), destination_filesystem=filesystem
        )
    return path


def gate_night(lake_uri: str, night: str, config: QualityConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """
    Read the night's tables from the lake, validate them, keep the GX results as JSON and data docs HTML.

    :return: the report (see :func:`run_gate`).
    """
    from medscribe.lake.store import read_table

    tables = {name: read_table(name, lake_uri, night=night) for name in GATED_TABLES}
    with tempfile.TemporaryDirectory(prefix="medscribe-docs-") as docs:
        report = run_gate(tables, config, night=night, docs_dir=Path(docs))
        save_report(report, lake_uri, night, Path(docs))
    return report
