"""The column-wise rows of HealthScribe transcripts (``Conversation``): ``transcript_words``,
``transcript_segments``, ``clinical_insights`` and ``insight_attributes``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake.columnar.kernels import (
    _at,
    _child,
    _float_array,
    _floats,
    _int32_array,
    _interval_at,
    _ints,
    _last_before,
    _list,
    _matches,
    _positions,
    _strings,
    _table,
    _take,
)
from medscribe.lake.columnar.words import _words
from medscribe.lake.schemas import CLINICAL_INSIGHTS, INSIGHT_ATTRIBUTES, TRANSCRIPT_SEGMENTS
from medscribe.services import Service


def _healthscribe(conv: pa.Array, docs: np.ndarray, rec: pa.Array, job: pa.Array) -> dict[str, tuple]:
    """The four tables of HealthScribe ``Conversation`` structs (one per file), files in order, as
    {name: (file of each row, table)}. A word gets the segment (and its participant role) whose
    [BeginAudioTime, EndAudioTime] holds the word's midpoint, the latest begin winning; punctuation gets
    the word before's, and its 0/0 times (HealthScribe's "no time") become nulls."""
    n = len(conv)
    seg_values, seg_doc, seg_len = _list(_child(conv, "TranscriptSegments"), n)
    m = len(seg_doc)
    where = "Conversation.TranscriptSegments[]."
    seg_id = _strings(_child(seg_values, "SegmentId"), m, where + "SegmentId")
    role = _strings(
        _child(_child(seg_values, "ParticipantDetails"), "ParticipantRole"),
        m,
        where + "ParticipantDetails.ParticipantRole",
    )
    section = _strings(
        _child(_child(seg_values, "SectionDetails"), "SectionName"), m, where + "SectionDetails.SectionName"
    )
    seg_begin = _floats(_child(seg_values, "BeginAudioTime"), m, where + "BeginAudioTime")
    seg_end = _floats(_child(seg_values, "EndAudioTime"), m, where + "EndAudioTime")
    segments = _table(
        TRANSCRIPT_SEGMENTS,
        {
            "recording_id": _take(rec, docs[seg_doc]),
            "job_name": _take(job, docs[seg_doc]),
            "segment_id": seg_id,
            "segment_index": pa.array(_positions(seg_len).astype(np.int32)),
            "participant_role": role,
            "section_name": section,
            "begin_time": _float_array(seg_begin),
            "end_time": _float_array(seg_end),
            "content": _strings(_child(seg_values, "Content"), m, where + "Content"),
        },
        m,
    )

    items, item_doc, item_len = _list(_child(conv, "TranscriptItems"), n)
    k = len(item_doc)
    kind = _child(items, "Type")
    punct = (
        _matches(kind, lambda v: str(v).upper() == "PUNCTUATION") if kind is not None else np.zeros(k, bool)
    )
    where = "Conversation.TranscriptItems[]."
    start = _floats(_child(items, "BeginAudioTime"), k, where + "BeginAudioTime")
    end = _floats(_child(items, "EndAudioTime"), k, where + "EndAudioTime")
    untimed = punct & (np.isnan(start) | (start == 0)) & (np.isnan(end) | (end == 0))
    start[untimed] = end[untimed] = np.nan  # 0/0 is HealthScribe's "no time" for punctuation
    timed = ~np.isnan(seg_begin) & ~np.isnan(seg_end)
    intervals = np.flatnonzero(timed)
    mid = np.where(punct, np.nan, (start + end) / 2)
    found = _interval_at(item_doc, mid, seg_doc[intervals], seg_begin[intervals], seg_end[intervals])
    segment = _at(intervals, found)
    previous = _last_before(~punct, item_doc)  # punctuation: the segment of the word before
    segment = np.where(punct, _at(segment, previous), segment)
    alts, _, alt_len = _list(_child(items, "Alternatives"), k)
    count = len(alts) if alts is not None else 0
    words = _words(
        service=Service.HEALTHSCRIBE.value,
        item_doc=item_doc,
        item_len=item_len,
        punct=punct,
        start=start,
        end=end,
        alt_len=alt_len,
        alt_content=_strings(_child(alts, "Content"), count, where + "Alternatives[].Content"),
        alt_confidence=_floats(_child(alts, "Confidence"), count, where + "Alternatives[].Confidence"),
        docs=docs,
        rec=rec,
        job=job,
        role=(role, segment),
        segment=(seg_id, segment),
    )
    return {
        "transcript_words": words,
        "transcript_segments": (docs[seg_doc], segments),
        **_insights(conv, docs, rec, job),
    }


def _spans(owner: pa.Array, owner_len: int, where: str) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The ``Spans`` of many insights or attributes: (owner of each span row, span columns); one row
    with null span columns for an owner without spans. ``end_exclusive`` = AWS's end-inclusive end + 1.

    :param where: the owners' JSON path, for error messages.
    """
    values, parent, lengths = _list(_child(owner, "Spans"), owner_len)
    s = len(parent)
    where += ".Spans[]."
    begin = _ints(_child(values, "BeginCharacterOffset"), s, where + "BeginCharacterOffset")
    end = _ints(_child(values, "EndCharacterOffset"), s, where + "EndCharacterOffset")
    segment = _strings(_child(values, "SegmentId"), s, where + "SegmentId")
    content = _strings(_child(values, "Content"), s, where + "Content")
    rows = np.maximum(lengths, 1)
    row_owner = np.repeat(np.arange(owner_len), rows)
    first = np.cumsum(rows) - rows  # first row of each owner
    row_span = np.full(int(rows.sum()), -1, np.int64)
    row_span[np.repeat(first, lengths) + _positions(lengths)] = np.arange(s)
    columns = {
        "span_index": pa.array(_positions(rows).astype(np.int32)),
        "segment_id": _take(segment, row_span),
        "begin_character_offset": _int32_array(_at(begin, row_span, np.nan)),
        "end_character_offset": _int32_array(_at(end, row_span, np.nan)),
        "end_exclusive": _int32_array(_at(end + 1, row_span, np.nan)),
        "content": _take(content, row_span),
    }
    return row_owner, columns


def _insights(conv: pa.Array, docs: np.ndarray, rec: pa.Array, job: pa.Array) -> dict[str, tuple]:
    """``clinical_insights`` (one row per insight span) and ``insight_attributes`` (one per attribute
    span) of the files' ``ClinicalInsights``; an insight without a usable InsightId is keyed
    ``#<position>``."""
    values, ins_doc, ins_len = _list(_child(conv, "ClinicalInsights"), len(conv))
    where = "Conversation.ClinicalInsights[]"
    m = len(ins_doc)
    position = _positions(ins_len)
    raw_id = _child(values, "InsightId")
    fallback = pa.array([f"#{i}" for i in position.tolist()], pa.string())
    if raw_id is not None and pa.types.is_string(raw_id.type):
        usable = pc.and_(pc.is_valid(raw_id), pc.not_equal(pc.fill_null(raw_id, ""), ""))
        insight_id = pc.if_else(usable, raw_id, fallback)
    else:
        insight_id = fallback  # no InsightId that is a string: keyed by position
    traits, negated = _traits(_child(values, "Traits"), m)
    confidence = _floats(_child(values, "Confidence"), m, where + ".Confidence")
    owner, span = _spans(values, m, where)
    ids = docs[ins_doc]
    insights = _table(
        CLINICAL_INSIGHTS,
        {
            "recording_id": _take(rec, ids[owner]),
            "job_name": _take(job, ids[owner]),
            "insight_id": insight_id.take(owner),
            "span_index": span["span_index"],
            "insight_index": pa.array(position[owner].astype(np.int32)),
            "insight_type": _strings(_child(values, "InsightType"), m, where + ".InsightType").take(owner),
            "category": _strings(_child(values, "Category"), m, where + ".Category").take(owner),
            "type": _strings(_child(values, "Type"), m, where + ".Type").take(owner),
            "segment_id": span["segment_id"],
            "begin_character_offset": span["begin_character_offset"],
            "end_character_offset": span["end_character_offset"],
            "end_exclusive": span["end_exclusive"],
            "content": span["content"],
            "confidence": _float_array(confidence[owner]),
            "traits": traits.take(owner),
            "negated": negated.take(owner),
        },
        len(owner),
    )
    attr_values, attr_insight, attr_len = _list(_child(values, "Attributes"), m)
    a = len(attr_insight)
    where += ".Attributes[]"
    attr_confidence = _floats(_child(attr_values, "Confidence"), a, where + ".Confidence")
    attr_owner, attr_span = _spans(attr_values, a, where)
    of = attr_insight[attr_owner]
    attributes = _table(
        INSIGHT_ATTRIBUTES,
        {
            "recording_id": _take(rec, ids[of]),
            "job_name": _take(job, ids[of]),
            "insight_id": insight_id.take(of),
            "attribute_index": pa.array(_positions(attr_len)[attr_owner].astype(np.int32)),
            "span_index": attr_span["span_index"],
            "attribute_id": _strings(_child(attr_values, "AttributeId"), a, where + ".AttributeId").take(
                attr_owner
            ),
            "type": _strings(_child(attr_values, "Type"), a, where + ".Type").take(attr_owner),
            "segment_id": attr_span["segment_id"],
            "begin_character_offset": attr_span["begin_character_offset"],
            "end_character_offset": attr_span["end_character_offset"],
            "end_exclusive": attr_span["end_exclusive"],
            "content": attr_span["content"],
            "confidence": _float_array(attr_confidence[attr_owner]),
        },
        len(attr_owner),
    )
    return {"clinical_insights": (ids[owner], insights), "insight_attributes": (ids[of], attributes)}


def _traits(traits: pa.Array | None, m: int) -> tuple[pa.Array, pa.Array]:
    """Per insight: (comma-joined Traits[].Name, NEGATION present), as Comprehend Medical writes traits;
    nulls for an insight without a Traits list."""
    if traits is None:
        return pa.nulls(m, pa.string()), pa.nulls(m, pa.bool_())
    values, parent, _ = _list(traits, m)
    names = _strings(
        _child(values, "Name"), len(parent), "Conversation.ClinicalInsights[].Traits[].Name"
    ).to_pylist()
    joined: list[list[str]] = [[] for _ in range(m)]
    for owner, name in zip(parent.tolist(), names, strict=True):
        if name is not None:
            joined[owner].append(name)
    has = pc.is_valid(traits).to_numpy(zero_copy_only=False)
    return (
        pa.array([",".join(j) if h else None for j, h in zip(joined, has, strict=True)], pa.string()),
        pa.array([("NEGATION" in j) if h else None for j, h in zip(joined, has, strict=True)], pa.bool_()),
    )
