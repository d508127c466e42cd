"""The gate's frames: the night's tables as pandas, and the small frames the cross-table checks validate.

Each check frame has one row per transcript, evidence link or insight span, carrying ids, numbers and
flags only (never transcript text), so that GX's results and data docs name recordings, not words.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from medscribe.lake.schemas import PARTITION_COLUMN
from medscribe.quality.config import QualityConfig
from medscribe.services import Service


def table_frame(table: pa.Table) -> pd.DataFrame:
    """A lake table as the pandas frame the table suites validate (Arrow-backed, without ``night``)."""
    if PARTITION_COLUMN in table.column_names:
        table = table.drop_columns([PARTITION_COLUMN])
    return table.to_pandas(types_mapper=pd.ArrowDtype)


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
        for r, d in zip(recordings["recording_id"], recordings["duration_s"], strict=True)
    }
    keys = set()
    scribe = jobs[(jobs["service"] == Service.HEALTHSCRIBE.value) & (jobs["status"] == "COMPLETED")]
    keys |= set(zip(scribe["recording_id"].astype(str), scribe["job_name"].astype(str), strict=True))
    keys |= set(zip(segments["recording_id"].astype(str), segments["job_name"].astype(str), strict=True))
    timed = segments[segments["begin_time"].notna() & segments["end_time"].notna()]
    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rid, job, begin, end in zip(
        timed["recording_id"], timed["job_name"], timed["begin_time"], timed["end_time"], strict=True
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
    frame = joined[[*columns[:5], "resolved_segment_index"]].copy()
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
    matches: list[bool | None] = []
    for text, b, e, content in zip(joined["segment_content"], begin, end, joined["content"], strict=True):
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
    scribe = jobs[(jobs["service"] == Service.HEALTHSCRIBE.value) & (jobs["status"] == "COMPLETED")]
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
        for rid, job, uri in zip(
            scribe["recording_id"], scribe["job_name"], scribe["clinical_document_uri"], strict=True
        )
    ]
    frame = pd.DataFrame(
        rows, columns=["recording_id", "job_name", "has_document", "words", "note_sentences"]
    )
    return frame.astype({"has_document": bool, "words": int, "note_sentences": int})


def check_frames(frames: dict[str, pd.DataFrame], config: QualityConfig) -> dict[str, pd.DataFrame]:
    """The frame of every cross-table check (keys are the check names), from the tables' frames."""
    words, segments, jobs = frames["transcript_words"], frames["transcript_segments"], frames["jobs"]
    return {
        "transcript_confidence": transcript_confidence(words, config),
        "segment_coverage": segment_coverage(segments, jobs, frames["recordings"], config),
        "evidence_links": evidence_links(frames["note_evidence"], segments),
        "insight_spans": insight_spans(frames["clinical_insights"], frames["insight_attributes"], segments),
        "note_presence": note_presence(jobs, words, frames["note_sentences"]),
    }
