"""Column-wise flattening of many transcript files at once: raw JSON bytes -> the lake's Arrow tables.

The fast path of :mod:`medscribe.lake.parse`, with the same rows (``tests/lake/test_lake_columnar.py``
compares both on AWS's examples, the engine's outputs and derived variants). Instead of ``json.loads``
and a Python loop per item, a batch of files (``BATCH_BYTES``) is parsed by pyarrow's C++ JSON reader
into one Arrow table, one row per file, reading only the fields parse.py uses (:data:`EXPECTED`).
Every column is then computed for the whole batch with Arrow kernels and numpy: lists flattened with
their parent indices, time and confidence strings cast to float64, speaker and channel labels joined by
id and by (start, end) in milliseconds with a stable sort and ``searchsorted`` on packed integer keys
(an Arrow hash join for string ids), HealthScribe segments and Transcribe speaker spans found by
``searchsorted``, punctuation labels forward-filled. Tables are built once per batch with the schemas of
:mod:`medscribe.lake.schemas`; columns appended to a schema later (filled by other steps) are null, as
``pa.Table.from_pylist`` makes them in parse.py.

Each file must hold one JSON document (pretty-printed or not; files are joined with newlines and read
with ``newlines_in_values``).

``parse.py`` remains the reference and the path for anything the column-wise code does not cover
exactly. A batch *falls back* - file by file, then to ``json.loads`` + ``parse.py`` for the files that
still need it - when pyarrow cannot read it as one table (a field that is a number in one file and a
string in another, JSON that ``json`` accepts and Arrow does not, such as ``NaN`` or ``1e400``) or when
a column has a shape the vectorised rules do not handle: a value of an unexpected type, a time or
confidence string Arrow's cast refuses (``"1_0"``), an empty-string label, a non-finite number.
Such files therefore get exactly ``parse.py``'s rows, or its ``ValueError``; the ``counts`` of
:func:`flatten_transcripts` say how many files took each path. HealthScribe clinical documents are not
handled here (small files: use ``parse.healthscribe_clinical_document_tables``).

Why two implementations: parse.py works on one parsed document and gives errors that name the JSON
path of a bad value; this module needs the raw bytes of many files to be fast, and hands the shapes it
cannot vectorise exactly to parse.py. ``nightly.flatten_night`` (the nightly DAG's flatten task) uses
this module in the task's own process, its S3 objects downloaded one batch at a time.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from medscribe.lake import parse
from medscribe.lake.schemas import (
    CLINICAL_INSIGHTS,
    INSIGHT_ATTRIBUTES,
    TRANSCRIPT_SEGMENTS,
    TRANSCRIPT_WORDS,
)

TRANSCRIPT_TABLES = {
    "transcript_words": TRANSCRIPT_WORDS,
    "transcript_segments": TRANSCRIPT_SEGMENTS,
    "clinical_insights": CLINICAL_INSIGHTS,
    "insight_attributes": INSIGHT_ATTRIBUTES,
}
BATCH_BYTES = 16 << 20
_INT32 = (-(2**31), 2**31 - 1)


def _items_of(*fields: tuple[str, pa.DataType]) -> pa.DataType:
    return pa.list_(pa.struct(list(fields)))


_SPANS = _items_of(
    ("SegmentId", pa.string()),
    ("BeginCharacterOffset", pa.int64()),
    ("EndCharacterOffset", pa.int64()),
    ("Content", pa.string()),
)
_TRANSCRIBE_ITEMS = _items_of(
    ("id", pa.int64()),
    ("type", pa.string()),
    ("start_time", pa.string()),
    ("end_time", pa.string()),
    ("speaker_label", pa.string()),
    ("channel_label", pa.string()),
    ("alternatives", _items_of(("content", pa.string()), ("confidence", pa.string()))),
)
EXPECTED = pa.schema(
    [
        (
            "Conversation",
            pa.struct(
                [
                    (
                        "TranscriptItems",
                        _items_of(
                            ("Type", pa.string()),
                            ("BeginAudioTime", pa.float64()),
                            ("EndAudioTime", pa.float64()),
                            (
                                "Alternatives",
                                _items_of(("Content", pa.string()), ("Confidence", pa.float64())),
                            ),
                        ),
                    ),
                    (
                        "TranscriptSegments",
                        _items_of(
                            ("SegmentId", pa.string()),
                            ("BeginAudioTime", pa.float64()),
                            ("EndAudioTime", pa.float64()),
                            ("Content", pa.string()),
                            ("ParticipantDetails", pa.struct([("ParticipantRole", pa.string())])),
                            ("SectionDetails", pa.struct([("SectionName", pa.string())])),
                        ),
                    ),
                    (
                        "ClinicalInsights",
                        _items_of(
                            ("InsightId", pa.string()),
                            ("InsightType", pa.string()),
                            ("Category", pa.string()),
                            ("Type", pa.string()),
                            ("Confidence", pa.float64()),
                            ("Traits", _items_of(("Name", pa.string()))),
                            ("Spans", _SPANS),
                            (
                                "Attributes",
                                _items_of(
                                    ("AttributeId", pa.string()),
                                    ("Type", pa.string()),
                                    ("Confidence", pa.float64()),
                                    ("Spans", _SPANS),
                                ),
                            ),
                        ),
                    ),
                ]
            ),
        ),
        ("ClinicalDocumentation", pa.struct([])),
        (
            "results",
            pa.struct(
                [
                    ("items", _TRANSCRIBE_ITEMS),
                    (
                        "speaker_labels",
                        pa.struct(
                            [
                                (
                                    "segments",
                                    _items_of(
                                        ("start_time", pa.string()),
                                        ("end_time", pa.string()),
                                        ("speaker_label", pa.string()),
                                        (
                                            "items",
                                            _items_of(
                                                ("id", pa.int64()),
                                                ("start_time", pa.string()),
                                                ("end_time", pa.string()),
                                                ("speaker_label", pa.string()),
                                            ),
                                        ),
                                    ),
                                )
                            ]
                        ),
                    ),
                    (
                        "channel_labels",
                        pa.struct(
                            [
                                (
                                    "channels",
                                    _items_of(
                                        ("channel_label", pa.string()),
                                        ("items", _TRANSCRIBE_ITEMS),
                                    ),
                                )
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)
"""The fields the flatteners read, with the JSON types AWS and the engine write them with."""
_EXPECTED_OPTIONS = pj.ParseOptions(
    explicit_schema=EXPECTED, unexpected_field_behavior="ignore", newlines_in_values=True
)
_INFERRED_OPTIONS = pj.ParseOptions(newlines_in_values=True)


class _Decline(Exception):
    """The batch has a shape the column-wise rules do not cover exactly: use the fallback."""


# --- Arrow helpers ---------------------------------------------------------------------------------


def _child(array: pa.Array | None, name: str) -> pa.Array | None:
    """Field ``name`` of a struct array, parent nulls applied; None if absent or all-null by type."""
    if array is None or pa.types.is_null(array.type):
        return None
    if not pa.types.is_struct(array.type):
        raise _Decline
    index = array.type.get_field_index(name)
    if index < 0:
        return None
    child = pc.struct_field(array, [index])
    return None if pa.types.is_null(child.type) else child


def _list(array: pa.Array | None, n: int) -> tuple[pa.Array | None, np.ndarray, np.ndarray]:
    """(flattened values, parent index of each value, length of each of the n lists; null = 0)."""
    if array is None:
        return None, np.zeros(0, np.int64), np.zeros(n, np.int64)
    if not pa.types.is_list(array.type):
        raise _Decline
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy().astype(np.int64)
    values = array.flatten()
    if pa.types.is_null(values.type):
        values = None
    return values, np.repeat(np.arange(n), lengths), lengths


def _positions(lengths: np.ndarray) -> np.ndarray:
    """Position of each flattened value within its list: 0..len-1 for each list, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts


def _strings(array: pa.Array | None, n: int) -> pa.Array:
    """A string column; nulls if absent. Other types (numbers as ids or text) are declined."""
    if array is None:
        return pa.nulls(n, pa.string())
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    raise _Decline


def _labels(array: pa.Array | None, n: int) -> pa.Array:
    """A label column (speaker, channel): a string column without empty strings (``or`` treats them
    as missing in parse.py; left to it)."""
    labels = _strings(array, n)
    if n and pc.any(pc.equal(labels, "")).as_py():
        raise _Decline
    return labels


def _floats(array: pa.Array | None, n: int) -> np.ndarray:
    """parse._num for a whole column: JSON numbers or numeric strings -> float64, "" and null -> NaN.

    Strings are converted by Arrow's ``cast`` (correctly rounded, as ``float()``); a string it refuses,
    a non-finite value or a non-numeric type declines the batch, so parse.py gives its value or error.
    """
    if array is None:
        return np.full(n, np.nan)
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array = pc.if_else(pc.equal(array, ""), pa.scalar(None, kind), array)
        try:
            array = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Decline from None
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        array = pc.cast(array, pa.float64(), safe=False)
    else:
        raise _Decline
    values = np.array(array.to_numpy(zero_copy_only=False), dtype=np.float64)  # a writable copy
    if not np.isfinite(values[~np.isnan(values)]).all() or np.isnan(values).sum() != array.null_count:
        raise _Decline  # inf, or a NaN that is a value (parse.py keeps or refuses those itself)
    return values


def _ints(array: pa.Array | None, n: int) -> np.ndarray:
    """parse._int for a column: integral numbers (or numeric strings) -> float64 holding int32 values."""
    values = _floats(array, n)
    finite = values[~np.isnan(values)]
    if not (np.floor(finite) == finite).all() or (finite < _INT32[0]).any() or (finite >= _INT32[1]).any():
        raise _Decline  # fractional (parse.py raises) or outside int32 even after +1 (Arrow refuses)
    return values


def _float_array(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null


def _int32_array(values: np.ndarray) -> pa.Array:
    mask = np.isnan(values)
    return pa.array(np.where(mask, 0, values).astype(np.int32), mask=mask)


def _table(schema: pa.Schema, columns: dict[str, pa.Array], rows: int) -> pa.Table:
    """A table of the schema from the columns given; columns not given (nullable ones appended to the
    schema later, filled by other stages) are null, as pa.Table.from_pylist makes them."""
    return pa.Table.from_arrays(
        [columns[f.name] if f.name in columns else pa.nulls(rows, f.type) for f in schema], schema=schema
    )


def _at(values: np.ndarray, index: np.ndarray, missing=-1) -> np.ndarray:
    """values[index], ``missing`` where index < 0."""
    if not len(values):
        return np.full(len(index), missing, dtype=values.dtype if len(index) == 0 else type(missing))
    return np.where(index >= 0, values[np.maximum(index, 0)], missing)


def _take(array: pa.Array, index: np.ndarray) -> pa.Array:
    """array[index], null where index < 0."""
    if len(index) == 0:
        return array.slice(0, 0)
    mask = index < 0
    return array.take(pa.array(np.where(mask, 0, index), mask=mask if mask.any() else None))


def _matches(values: pa.Array | None, rule) -> np.ndarray:
    """Boolean mask: rule(value) for each value, evaluated in Python once per distinct value."""
    if values is None:
        return np.zeros(0, bool)
    distinct = pc.unique(values).to_pylist()
    hits = [v for v in distinct if v is not None and rule(v)]
    return pc.is_in(values, value_set=pa.array(hits, values.type)).to_numpy(zero_copy_only=False)


def _last_before(source: np.ndarray, group: np.ndarray) -> np.ndarray:
    """For each row: the latest row at or before it in the same group where ``source`` holds, else -1.

    Rows of a group are contiguous and in order."""
    n = len(source)
    last = np.maximum.accumulate(np.where(source, np.arange(n), -1)) if n else np.zeros(0, np.int64)
    group_start = np.searchsorted(group, group, side="left")
    return np.where(last >= group_start, last, -1)


def _interval_at(
    q_group: np.ndarray, q_t: np.ndarray, i_group: np.ndarray, i_begin: np.ndarray, i_end: np.ndarray
) -> np.ndarray:
    """parse._interval_lookup for many groups: index of the interval [begin, end] of the query's group
    containing t, the latest begin winning (ties: the later interval), else -1.

    :param q_group: group of each query (sorted); q_t its time (NaN = no query).
    :param i_group: group of each interval (sorted), with i_begin, i_end (no NaN).
    """
    result = np.full(len(q_t), -1, np.int64)
    if not len(i_group) or not len(q_t):
        return result
    q_bounds = np.searchsorted(q_group, np.unique(q_group))
    for start, stop in zip(q_bounds, [*q_bounds[1:], len(q_group)], strict=True):
        group = q_group[start]
        lo, hi = np.searchsorted(i_group, [group, group + 1])
        if lo == hi:
            continue
        order = np.argsort(i_begin[lo:hi], kind="stable")
        begins, ends = i_begin[lo:hi][order], i_end[lo:hi][order]
        t = q_t[start:stop]
        j = np.searchsorted(begins, t, side="right") - 1
        ok = ~np.isnan(t) & (j >= 0)
        jj = np.where(ok, j, 0)
        hit = ok & (ends[jj] >= t)
        found = np.where(hit, lo + order[jj], -1)
        reach = np.maximum.accumulate(ends)
        for k in np.flatnonzero(ok & ~hit & (reach[jj] >= t)):  # overlapping intervals: scan back
            back = j[k] - 1
            while back >= 0 and reach[back] >= t[k]:
                if ends[back] >= t[k]:
                    found[k] = lo + order[back]
                    break
                back -= 1
        result[start:stop] = found
    return result


def _packed(columns: list[np.ndarray], bits: list[int]) -> np.ndarray | None:
    """Non-negative integer columns packed into one int64 key, or None if a value does not fit."""
    key = np.zeros(len(columns[0]), np.int64)
    for column, width in zip(columns, bits, strict=True):
        if len(column) and (column.min() < 0 or column.max() >= 1 << width):
            return None
        key = (key << width) | column
    return key


def _lookup_last(query: pa.Table, entries: pa.Table, keys: list[str], bits: list[int]) -> np.ndarray:
    """For each query row, the index of the LAST entry row with equal keys (a dict filled in order,
    as parse._label_index), else -1. Rows with a null key match nothing.

    Integer keys that fit ``bits`` are packed into one int64 and matched with a stable sort and
    ``searchsorted``; other keys (string ids, huge values) with an Arrow hash join."""
    result = np.full(query.num_rows, -1, np.int64)
    if not query.num_rows or not entries.num_rows:
        return result
    if all(pa.types.is_integer(query[k].type) and query[k].null_count == 0 for k in keys) and all(
        pa.types.is_integer(entries[k].type) and entries[k].null_count == 0 for k in keys
    ):
        wanted = _packed([query[k].to_numpy() for k in keys], bits)
        known = _packed([entries[k].to_numpy() for k in keys], bits)
        if wanted is not None and known is not None:
            order = np.argsort(known, kind="stable")
            ordered = known[order]
            last = np.append(ordered[1:] != ordered[:-1], True)  # the last of each run of equal keys
            unique, entry = ordered[last], order[last]
            at = np.minimum(np.searchsorted(unique, wanted), len(unique) - 1)
            return np.where(unique[at] == wanted, entry[at], -1)
    entries = entries.append_column("_entry", pa.array(np.arange(entries.num_rows)))
    last = entries.group_by(keys).aggregate([("_entry", "max")])
    query = query.append_column("_query", pa.array(np.arange(query.num_rows)))
    joined = query.join(last, keys=keys, join_type="inner")
    result[joined["_query"].to_numpy()] = joined["_entry_max"].to_numpy()
    return result


def _ms(seconds: np.ndarray) -> np.ndarray:
    """parse._ms: round(seconds * 1000), half to even, as int64 (NaN -> a value never used). Times
    beyond int64 milliseconds' exact range are left to parse.py (Python's int has no overflow)."""
    known = np.where(np.isnan(seconds), 0, seconds)
    if len(known) and np.abs(known).max() >= 2**53 / 1000:
        raise _Decline
    return np.rint(known * 1000).astype(np.int64)


# --- HealthScribe transcript ---------------------------------------------------------------------


def _healthscribe(conv: pa.Array, docs: np.ndarray, rec: pa.Array, job: pa.Array) -> dict[str, tuple]:
    """The four tables of HealthScribe ``Conversation`` structs (one per file), files in order, as
    {name: (file of each row, table)}."""
    n = len(conv)
    seg_values, seg_doc, seg_len = _list(_child(conv, "TranscriptSegments"), n)
    m = len(seg_doc)
    seg_id = _strings(_child(seg_values, "SegmentId"), m)
    role = _strings(_child(_child(seg_values, "ParticipantDetails"), "ParticipantRole"), m)
    section = _strings(_child(_child(seg_values, "SectionDetails"), "SectionName"), m)
    seg_begin = _floats(_child(seg_values, "BeginAudioTime"), m)
    seg_end = _floats(_child(seg_values, "EndAudioTime"), m)
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
            "content": _strings(_child(seg_values, "Content"), m),
        },
        m,
    )

    items, item_doc, item_len = _list(_child(conv, "TranscriptItems"), n)
    k = len(item_doc)
    kind = _child(items, "Type")
    punct = (
        _matches(kind, lambda v: str(v).upper() == "PUNCTUATION") if kind is not None else np.zeros(k, bool)
    )
    start = _floats(_child(items, "BeginAudioTime"), k)
    end = _floats(_child(items, "EndAudioTime"), k)
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
        service="healthscribe",
        item_doc=item_doc,
        item_len=item_len,
        punct=punct,
        start=start,
        end=end,
        alt_len=alt_len,
        alt_content=_strings(_child(alts, "Content"), count),
        alt_confidence=_floats(_child(alts, "Confidence"), count),
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


def _spans(owner: pa.Array, owner_len: int) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """parse._spans for many owners: (owner of each span row, span columns); one null row per owner
    without spans."""
    values, parent, lengths = _list(_child(owner, "Spans"), owner_len)
    s = len(parent)
    begin = _ints(_child(values, "BeginCharacterOffset"), s)
    end = _ints(_child(values, "EndCharacterOffset"), s)
    segment = _strings(_child(values, "SegmentId"), s)
    content = _strings(_child(values, "Content"), s)
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
    """``clinical_insights`` and ``insight_attributes`` of the files' ``ClinicalInsights``."""
    values, ins_doc, ins_len = _list(_child(conv, "ClinicalInsights"), len(conv))
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
    confidence = _floats(_child(values, "Confidence"), m)
    owner, span = _spans(values, m)
    ids = docs[ins_doc]
    insights = _table(
        CLINICAL_INSIGHTS,
        {
            "recording_id": _take(rec, ids[owner]),
            "job_name": _take(job, ids[owner]),
            "insight_id": insight_id.take(owner),
            "span_index": span["span_index"],
            "insight_index": pa.array(position[owner].astype(np.int32)),
            "insight_type": _strings(_child(values, "InsightType"), m).take(owner),
            "category": _strings(_child(values, "Category"), m).take(owner),
            "type": _strings(_child(values, "Type"), m).take(owner),
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
    attr_confidence = _floats(_child(attr_values, "Confidence"), a)
    attr_owner, attr_span = _spans(attr_values, a)
    of = attr_insight[attr_owner]
    attributes = _table(
        INSIGHT_ATTRIBUTES,
        {
            "recording_id": _take(rec, ids[of]),
            "job_name": _take(job, ids[of]),
            "insight_id": insight_id.take(of),
            "attribute_index": pa.array(_positions(attr_len)[attr_owner].astype(np.int32)),
            "span_index": attr_span["span_index"],
            "attribute_id": _strings(_child(attr_values, "AttributeId"), a).take(attr_owner),
            "type": _strings(_child(attr_values, "Type"), a).take(attr_owner),
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
    """parse._traits per insight: (comma-joined Traits[].Name, NEGATION present); nulls without Traits."""
    if traits is None:
        return pa.nulls(m, pa.string()), pa.nulls(m, pa.bool_())
    values, parent, _ = _list(traits, m)
    names = _strings(_child(values, "Name"), len(parent)).to_pylist()
    joined: list[list[str]] = [[] for _ in range(m)]
    for owner, name in zip(parent.tolist(), names, strict=True):
        if name is not None:
            joined[owner].append(name)
    has = pc.is_valid(traits).to_numpy(zero_copy_only=False)
    return (
        pa.array([",".join(j) if h else None for j, h in zip(joined, has, strict=True)], pa.string()),
        pa.array([("NEGATION" in j) if h else None for j, h in zip(joined, has, strict=True)], pa.bool_()),
    )


# --- Amazon Transcribe (Medical) -----------------------------------------------------------------


def _ids(array: pa.Array | None, n: int) -> pa.Array:
    """parse._item_id for a column: integer or string ids; other types (float, bool) declined."""
    if array is None:
        return pa.nulls(n, pa.int64())
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    return _strings(array, n)


def _label_entries(containers: pa.Array | None, container_doc: np.ndarray, key: str) -> dict[str, Any]:
    """parse._label_index as columns: every item of every container with its label (item's own, else the
    container's), in insertion order, dropping items without either."""
    c = len(container_doc)
    values, parent, _ = _list(_child(containers, "items"), c)
    e = len(parent)
    own = _labels(_child(values, key), e)
    label = pc.coalesce(own, _labels(_child(containers, key), c).take(parent)) if e else own
    keep = pc.is_valid(label).to_numpy(zero_copy_only=False)
    start = _floats(_child(values, "start_time"), e)
    end = _floats(_child(values, "end_time"), e)
    return {
        "doc": container_doc[parent][keep],
        "id": _ids(_child(values, "id"), e).filter(pa.array(keep)),
        "start": start[keep],
        "end": end[keep],
        "label": label.filter(pa.array(keep)),
    }


def _find(entries: dict, doc: np.ndarray, ids: pa.Array, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """parse._find_label for many items: entry index by (file, id), else by (file, start ms, end ms)."""
    found = np.full(len(doc), -1, np.int64)
    if not len(entries["doc"]):
        return found
    if ids.null_count < len(ids) and ids.type == entries["id"].type:
        asked = np.flatnonzero(pc.is_valid(ids).to_numpy(zero_copy_only=False))
        listed = np.flatnonzero(pc.is_valid(entries["id"]).to_numpy(zero_copy_only=False))
        by_id = _lookup_last(
            pa.table({"doc": doc[asked], "id": ids.take(pa.array(asked))}),
            pa.table({"doc": entries["doc"][listed], "id": entries["id"].take(pa.array(listed))}),
            ["doc", "id"],
            [15, 48],
        )
        found[asked] = _at(listed, by_id)
    timed = np.flatnonzero(~np.isnan(entries["start"]) & ~np.isnan(entries["end"]))
    todo = np.flatnonzero((found < 0) & ~np.isnan(start) & ~np.isnan(end))
    by_time = _lookup_last(
        pa.table({"doc": doc[todo], "s": _ms(start[todo]), "e": _ms(end[todo])}),
        pa.table(
            {"doc": entries["doc"][timed], "s": _ms(entries["start"][timed]), "e": _ms(entries["end"][timed])}
        ),
        ["doc", "s", "e"],
        [15, 24, 24],
    )
    found[todo] = _at(timed, by_time)
    return found


def _transcribe(results: pa.Array, docs: np.ndarray, rec: pa.Array, job: pa.Array) -> dict[str, tuple]:
    """``transcript_words`` of Transcribe ``results`` structs (one per file), files in order, as
    {name: (file of each row, table)}."""
    n = len(results)
    top, top_doc, top_len = _list(_child(results, "items"), n)
    use_top = top_len > 0  # parse.py: results.items if any, else the channels' items
    channels, channel_doc, _ = _list(_child(_child(results, "channel_labels"), "channels"), n)
    ch_items, ch_parent, _ = _list(_child(channels, "items"), len(channel_doc))
    ch_item_doc = channel_doc[ch_parent]
    from_channels = ~use_top[ch_item_doc]
    # the item stream: top-level items of files that have them, channel items (channel by channel) of others
    parts = []
    if top is not None:
        parts.append((top, top_doc, pa.nulls(len(top_doc), pa.string())))
    if ch_items is not None and from_channels.any():
        mask = pa.array(from_channels)
        container = _labels(_child(channels, "channel_label"), len(channel_doc)).take(ch_parent)
        parts.append((ch_items.filter(mask), ch_item_doc[from_channels], container.filter(mask)))
    columns: dict[str, list[Any]] = {
        "doc": [],
        "type": [],
        "start": [],
        "end": [],
        "id": [],
        "speaker": [],
        "channel": [],
        "container": [],
        "alt_content": [],
        "alt_confidence": [],
        "alt_len": [],
    }
    for values, doc, container in parts:
        k = len(doc)
        kind = _child(values, "type")
        columns["doc"].append(doc)
        columns["type"].append(
            _matches(kind, lambda v: str(v).lower() == "punctuation")
            if kind is not None
            else np.zeros(k, bool)
        )
        columns["start"].append(_floats(_child(values, "start_time"), k))
        columns["end"].append(_floats(_child(values, "end_time"), k))
        columns["id"].append(_ids(_child(values, "id"), k))
        columns["speaker"].append(_labels(_child(values, "speaker_label"), k))
        columns["channel"].append(_labels(_child(values, "channel_label"), k))
        columns["container"].append(container)
        alts, _, alt_len = _list(_child(values, "alternatives"), k)
        count = len(alts) if alts is not None else 0
        columns["alt_content"].append(_strings(_child(alts, "content"), count))
        columns["alt_confidence"].append(_floats(_child(alts, "confidence"), count))
        columns["alt_len"].append(alt_len)
    if not parts:
        return {"transcript_words": (np.zeros(0, np.int64), TRANSCRIPT_WORDS.empty_table())}
    typed = [ids for ids in columns["id"] if ids.null_count < len(ids)]
    if len({ids.type for ids in typed}) > 1:
        raise _Decline  # integer ids in one stream, string ids in the other
    id_type = typed[0].type if typed else pa.int64()
    columns["id"] = [ids if ids.type == id_type else pa.nulls(len(ids), id_type) for ids in columns["id"]]
    order = np.argsort(
        np.concatenate(columns["doc"]), kind="stable"
    )  # file order, each file's stream in order
    take = pa.array(order)

    def arrow(name: str) -> pa.Array:
        return pa.concat_arrays(columns[name]).take(take)

    def numpy(name: str) -> np.ndarray:
        return np.concatenate(columns[name])[order]

    item_doc, punct, start, end = numpy("doc"), numpy("type").astype(bool), numpy("start"), numpy("end")
    k = len(item_doc)
    ids, own_speaker, own_channel, container = (
        arrow("id"),
        arrow("speaker"),
        arrow("channel"),
        arrow("container"),
    )
    # the flattened alternatives, re-ordered with their items
    alt_len = np.concatenate(columns["alt_len"])
    alt_first = np.cumsum(alt_len) - alt_len
    alt_len = alt_len[order]
    alt_index = np.repeat(alt_first[order], alt_len) + _positions(alt_len)
    alt_content = pa.concat_arrays(columns["alt_content"]).take(pa.array(alt_index))
    alt_confidence = np.concatenate(columns["alt_confidence"])[alt_index]

    # speaker: own label, else speaker_labels.segments[].items by id / time, else the span at the midpoint
    segs, seg_doc, _ = _list(_child(_child(results, "speaker_labels"), "segments"), n)
    entries = _label_entries(segs, seg_doc, "speaker_label")
    missing = ~pc.is_valid(own_speaker).to_numpy(zero_copy_only=False)
    by_entry = np.full(k, -1, np.int64)
    if missing.any():
        idx = np.flatnonzero(missing)
        by_entry[idx] = _find(entries, item_doc[idx], ids.take(pa.array(idx)), start[idx], end[idx])
    seg_begin = _floats(_child(segs, "start_time"), len(seg_doc))
    seg_end = _floats(_child(segs, "end_time"), len(seg_doc))
    seg_label = _labels(_child(segs, "speaker_label"), len(seg_doc))
    timed = np.flatnonzero(~np.isnan(seg_begin) & ~np.isnan(seg_end))
    ask = missing & (by_entry < 0) & ~punct
    mid = np.where(ask, (start + end) / 2, np.nan)
    found = _interval_at(item_doc, mid, seg_doc[timed], seg_begin[timed], seg_end[timed])
    by_span = _at(timed, found)
    # one index into [own labels | entry labels | segment labels]; -1 = null
    k_e = len(entries["label"])
    speaker = np.where(
        ~missing,
        np.arange(k),
        np.where(by_entry >= 0, k + by_entry, np.where(by_span >= 0, k + k_e + by_span, -1)),
    )
    speaker_labels = pa.concat_arrays([own_speaker, entries["label"], seg_label])

    # channel: own label, else the channel it was listed under, else channel_labels items by id / time
    ch_entries = _label_entries(channels, channel_doc, "channel_label")
    ch_entries = {
        key: (
            v[use_top[ch_entries["doc"]]]
            if isinstance(v, np.ndarray)
            else v.filter(pa.array(use_top[ch_entries["doc"]]))
        )
        for key, v in ch_entries.items()
    }
    has_own = pc.is_valid(own_channel).to_numpy(zero_copy_only=False)
    has_container = pc.is_valid(container).to_numpy(zero_copy_only=False)
    by_ch = np.full(k, -1, np.int64)
    ask = ~has_own & ~has_container & use_top[item_doc]
    if ask.any():
        idx = np.flatnonzero(ask)
        by_ch[idx] = _find(ch_entries, item_doc[idx], ids.take(pa.array(idx)), start[idx], end[idx])
    channel = np.where(
        has_own,
        np.arange(k),
        np.where(has_container, k + np.arange(k), np.where(by_ch >= 0, 2 * k + by_ch, -1)),
    )
    channel_labels = pa.concat_arrays([own_channel, container, ch_entries["label"]])

    previous = _last_before(~punct, item_doc)  # punctuation without a label: the word before's
    speaker = np.where(punct & (speaker < 0), _at(speaker, previous), speaker)
    channel = np.where(punct & (channel < 0), _at(channel, previous), channel)
    item_len = np.bincount(item_doc, minlength=n)
    return {
        "transcript_words": _words(
            service="transcribe_medical",
            item_doc=item_doc,
            item_len=item_len,
            punct=punct,
            start=start,
            end=end,
            alt_len=alt_len,
            alt_content=alt_content,
            alt_confidence=alt_confidence,
            docs=docs,
            rec=rec,
            job=job,
            speaker=(speaker_labels, speaker),
            channel=(channel_labels, channel),
        )
    }


# a column of :func:`_words`: numpy values per row, or (values, index of each row's value; -1 = null), or
# None (all null)
_Column = np.ndarray | tuple[pa.Array, np.ndarray] | None


def _words(
    *,
    service,
    item_doc,
    item_len,
    punct,
    start,
    end,
    alt_len,
    alt_content,
    alt_confidence,
    docs,
    rec,
    job,
    speaker=None,
    channel=None,
    role=None,
    segment=None,
) -> tuple[np.ndarray, dict[str, _Column]]:
    """``transcript_words`` (both services) from item columns: one row per item alternative, one row with
    null content and confidence for an item without any. Items are in file order, their alternatives
    flattened in item order; ``speaker`` .. ``segment`` are per item, as (labels, index of each item's
    label, -1 = null), or None (all null).

    Returns (file of each row, columns for :func:`_assemble`): numpy arrays, or (values, index of each
    row's value) pairs taken only when the table is assembled, so that the rows of both services are
    put in file order with a single ``take`` per string column."""
    k = len(item_doc)
    rows = np.maximum(alt_len, 1)
    row_item = np.repeat(np.arange(k), rows)
    first = np.cumsum(rows) - rows
    row_alt = np.full(int(rows.sum()), -1, np.int64)
    row_alt[np.repeat(first, alt_len) + _positions(alt_len)] = np.arange(int(alt_len.sum()))
    ids = docs[item_doc[row_item]]

    def per_row(labels):
        return None if labels is None else (labels[0], labels[1][row_item])

    return ids, {
        "recording_id": (rec, ids),
        "job_name": (job, ids),
        "service": (pa.array([service], pa.string()), np.zeros(len(row_item), np.int64)),
        "item_index": _positions(item_len)[row_item].astype(np.int32),
        "content": (alt_content, row_alt),
        "is_punctuation": punct[row_item],
        "start_time": start[row_item],
        "end_time": end[row_item],
        "confidence": _at(alt_confidence, row_alt, np.nan),
        "alternative_rank": _positions(rows).astype(np.int16),
        "speaker_label": per_row(speaker),
        "channel_label": per_row(channel),
        "participant_role": per_row(role),
        "segment_id": per_row(segment),
    }


def _assemble(schema: pa.Schema, pieces: list[tuple[np.ndarray, dict[str, _Column]]]) -> pa.Table:
    """One table from the columns of :func:`_words` pieces (one per service), rows in file order (stable:
    a file's rows keep their order). Float columns: NaN -> null; (values, index) pairs: index -1 -> null."""
    files = np.concatenate([files for files, _ in pieces])
    order = np.argsort(files, kind="stable") if len(pieces) > 1 else None
    columns = {}
    for field in schema:
        parts = [(len(files), part.get(field.name)) for files, part in pieces]
        if all(part is None for _, part in parts):
            continue  # null column (_table)
        if isinstance(parts[0][1], np.ndarray):
            values = np.concatenate([part for _, part in parts])
            values = values[order] if order is not None else values
            columns[field.name] = _float_array(values) if values.dtype == np.float64 else pa.array(values)
            continue
        sources, indices, offset = [], [], 0
        for n, part in parts:
            if part is None:
                indices.append(np.full(n, -1, np.int64))
                continue
            values, index = part
            sources.append(values)
            indices.append(np.where(index >= 0, index + offset, -1))
            offset += len(values)
        index = np.concatenate(indices)
        index = index[order] if order is not None else index
        source = sources[0] if len(sources) == 1 else pa.concat_arrays(sources)
        columns[field.name] = _take(source, index)
    return _table(schema, columns, len(files))


# --- driver --------------------------------------------------------------------------------------


def _read(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> pa.Table:
    """One Arrow row per file of the batch, or _Decline.

    First with :data:`EXPECTED` (the fields parse.py reads, with the types AWS writes; other fields are
    skipped, and a value of another type fails the read), then, if that fails, with Arrow's type
    inference (times given as numbers in a Transcribe file, ids as strings, ...), whose columns the
    flatteners check."""
    source = b"\n".join(data for _, _, data in batch)
    # one block per thread (fewer chunks to combine afterwards), each holding at least one whole file
    threads = pa.cpu_count() if use_threads else 1
    block = max(max(len(data) for _, _, data in batch) + 1, -(-len(source) // threads) + 1)
    read = pj.ReadOptions(use_threads=use_threads, block_size=block)
    for parse_options in (_EXPECTED_OPTIONS, _INFERRED_OPTIONS):
        try:
            table = pj.read_json(io.BytesIO(source), read_options=read, parse_options=parse_options)
            table.validate()  # Arrow's type inference can build an invalid list from [null, {...}]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
        if table.num_rows != len(batch):
            raise _Decline  # an empty file, or one with several JSON values
        return table
    raise _Decline


def _struct_column(table: pa.Table, name: str) -> tuple[pa.Array | None, np.ndarray]:
    """(the column as one array, which rows hold an object there)."""
    if name not in table.column_names:
        return None, np.zeros(table.num_rows, bool)
    chunks = table.column(name)
    column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    if not pa.types.is_struct(column.type):
        return None, np.zeros(table.num_rows, bool)
    return column, pc.is_valid(column).to_numpy(zero_copy_only=False)


def _columnar(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> dict[str, pa.Table]:
    """The four tables of a batch, column-wise, or _Decline."""
    for recording_id, job_name, _ in batch:
        if (
            not isinstance(recording_id, str)
            or not recording_id
            or not isinstance(job_name, str)
            or not job_name
        ):
            raise _Decline  # parse.py raises its message
    table = _read(batch, use_threads)
    conv, is_hs = _struct_column(table, "Conversation")
    _, is_note = _struct_column(table, "ClinicalDocumentation")
    results, is_tm = _struct_column(table, "results")
    is_tm &= ~is_hs & ~is_note  # parse.document_kind's order
    if not (is_hs | is_tm).all():
        raise _Decline  # not a transcript file: parse.py's error
    rec = pa.array([r for r, _, _ in batch], pa.string())
    job = pa.array([j for _, j, _ in batch], pa.string())
    parts: dict[str, list[tuple[np.ndarray, pa.Table]]] = {name: [] for name in TRANSCRIPT_TABLES}
    hs_docs, tm_docs = np.flatnonzero(is_hs), np.flatnonzero(is_tm)
    # each service's code reads every file's struct (null for the other files: no rows) unless some
    # file holds a struct it must not read (results beside a Conversation): then only its own files
    if len(hs_docs):
        for name, part in _healthscribe(conv, np.arange(len(batch)), rec, job).items():
            parts[name].append(part)
    if len(tm_docs):
        has_results = pc.is_valid(results).to_numpy(zero_copy_only=False)
        if (has_results == is_tm).all():
            own, docs = results, np.arange(len(batch))
        else:
            assert results is not None  # is_tm is all False without a results struct
            own, docs = results.filter(pa.array(is_tm)), tm_docs
        for name, part in _transcribe(own, docs, rec, job).items():
            parts[name].append(part)
    out = {}
    for name, pieces in parts.items():
        if not pieces:
            out[name] = TRANSCRIPT_TABLES[name].empty_table()
        elif name == "transcript_words":
            out[name] = _assemble(TRANSCRIPT_WORDS, pieces)
        elif len(pieces) == 1:
            out[name] = pieces[0][1]
        else:  # both services in the batch: each file's rows (contiguous in its piece) back in file order
            files = np.concatenate([files for files, _ in pieces])
            table = pa.concat_tables([table for _, table in pieces])
            out[name] = table.take(pa.array(np.argsort(files, kind="stable"))).combine_chunks()
    return out


def _reference(recording_id: str, job_name: str, data: bytes, position: int) -> dict[str, pa.Table]:
    """One file through ``json.loads`` and parse.py; ValueError naming the file's position if it is bad."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"file {position}: not valid JSON ({type(error).__name__})") from None
    ids = {"recording_id": recording_id, "job_name": job_name}
    kind = parse.document_kind(doc)
    try:
        if kind == "transcribe":
            tables = {"transcript_words": parse.transcribe_medical_words_table(doc, **ids)}
        else:  # a HealthScribe transcript, or parse.py's error for anything else
            tables = parse.healthscribe_transcript_tables(doc, **ids, with_insights=True)
    except ValueError as error:
        if kind not in ("transcribe", "healthscribe_transcript"):
            got = "a HealthScribe clinical document" if kind else "no transcript"
            raise ValueError(
                f"file {position}: expected a HealthScribe transcript or a Transcribe output, got {got}"
            ) from None
        raise ValueError(f"file {position}: {error}") from None
    return {name: tables.get(name, schema.empty_table()) for name, schema in TRANSCRIPT_TABLES.items()}


def _flatten_batch(
    batch: Sequence[tuple[str, str, bytes]], first: int, use_threads: bool, counts: dict[str, int]
) -> list[dict[str, pa.Table]]:
    """Tables of one batch: column-wise if possible, else file by file, else through parse.py.

    An Arrow error inside the column-wise code (a kernel refusing a value, such as a cast out of
    range) is treated as a decline: parse.py then gives the rows or its own error."""
    try:
        tables = _columnar(batch, use_threads)
    except (_Decline, pa.ArrowException):
        if len(batch) > 1:
            return [
                part
                for i, item in enumerate(batch)
                for part in _flatten_batch([item], first + i, use_threads, counts)
            ]
        counts["reference"] += 1
        return [_reference(*batch[0], first)]
    counts["columnar"] += len(batch)
    return [tables]


def flatten_transcripts(
    files: Iterable[tuple[str, str, bytes]],
    *,
    batch_bytes: int = BATCH_BYTES,
    use_threads: bool = True,
    counts: dict[str, int] | None = None,
) -> dict[str, pa.Table]:
    """Flatten transcript files (HealthScribe transcripts and Transcribe outputs, mixed) into
    ``transcript_words``, ``transcript_segments``, ``clinical_insights`` and ``insight_attributes``.

    The rows are those of ``parse.healthscribe_transcript_tables(doc, ..., with_insights=True)`` and
    ``parse.transcribe_medical_words_table(doc, ...)`` for each file, concatenated in the files' order.

    :param files: (recording_id, job_name, raw bytes of the file) per file.
    :param batch_bytes: files are parsed together until a batch holds this many bytes (the JSON reader
        parallelises within a batch; memory grows with it).
    :param use_threads: let Arrow use all cores (``pyarrow.cpu_count()``) for parsing and kernels.
    :param counts: if given, ``counts["columnar"]`` and ``counts["reference"]`` are increased by the
        number of files flattened column-wise and through parse.py.
    :return: the four tables, with the schemas of :mod:`medscribe.lake.schemas` (empty if no rows).
    :raises ValueError: a file that is not JSON or not a transcript file, or that parse.py refuses
        (the message names the file's position in ``files`` and never quotes its content).
    """
    counts = counts if counts is not None else {}
    counts.setdefault("columnar", 0)
    counts.setdefault("reference", 0)
    pieces: list[dict[str, pa.Table]] = []
    batch: list[tuple[str, str, bytes]] = []
    size = first = 0
    for position, item in enumerate(files):
        batch.append(item)
        size += len(item[2])
        if size >= batch_bytes:
            pieces += _flatten_batch(batch, first, use_threads, counts)
            batch, size, first = [], 0, position + 1
    if batch:
        pieces += _flatten_batch(batch, first, use_threads, counts)
    return {
        name: pa.concat_tables([p[name] for p in pieces]) if pieces else schema.empty_table()
        for name, schema in TRANSCRIPT_TABLES.items()
    }
