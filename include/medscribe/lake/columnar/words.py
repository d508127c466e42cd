"""``transcript_words`` of both services from item columns (:func:`_words`), and one table of both
services' pieces in file order (:func:`_assemble`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from medscribe.lake.columnar.kernels import _at, _float_array, _positions, _table, _take

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
