"""The Arrow and numpy helpers the flattener computes every column with, for a whole batch: struct fields
and lists flattened with their parents, strings, labels and numbers checked and converted, interval and
key lookups; ``_Decline`` naming the column when a value is not what the lake's rules read."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT32 = (-(2**31), 2**31 - 1)


class _Decline(Exception):
    """A batch the flattener cannot read as one: retried file by file, and a single file's reason (a
    column's JSON path and what is wrong with it, never a value) becomes its ``ValueError``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _child(array: pa.Array | None, name: str) -> pa.Array | None:
    """Field ``name`` of a struct array, parent nulls applied; None if absent or all-null by type."""
    if array is None or pa.types.is_null(array.type):
        return None
    if not pa.types.is_struct(array.type):  # the reader's shape check makes this unreachable
        raise _Decline(f"the field holding {name} is not an object")
    index = array.type.get_field_index(name)
    if index < 0:
        return None
    child = pc.struct_field(array, [index])
    return None if pa.types.is_null(child.type) else child


def _list(array: pa.Array | None, n: int) -> tuple[pa.Array | None, np.ndarray, np.ndarray]:
    """(flattened values, parent index of each value, length of each of the n lists; null = 0)."""
    if array is None:
        return None, np.zeros(0, np.int64), np.zeros(n, np.int64)
    if not pa.types.is_list(array.type):  # the reader's shape check makes this unreachable
        raise _Decline("a field read as a list is not a list")
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


def _strings(array: pa.Array | None, n: int, where: str) -> pa.Array:
    """A string column; nulls if absent. Other JSON types (numbers as ids or text) are refused.

    :param where: the column's JSON path, for the error message.
    """
    if array is None:
        return pa.nulls(n, pa.string())
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    raise _Decline(f"{where} is not a string")


def _labels(array: pa.Array | None, n: int, where: str) -> pa.Array:
    """A label column (speaker, channel): strings, none of them empty (AWS and the engine never write an
    empty label, and it would be ambiguous between "no label" and a label)."""
    labels = _strings(array, n, where)
    if n and pc.any(pc.equal(labels, "")).as_py():
        raise _Decline(f"{where} is an empty string")
    return labels


def _floats(array: pa.Array | None, n: int, where: str) -> np.ndarray:
    """A number column: JSON numbers or numeric strings (Transcribe's "0.100") -> float64; "" and null
    -> NaN. Strings are converted by Arrow's ``cast`` (correctly rounded, as ``float()``); a string it
    refuses, another JSON type, or a value that is not finite ("nan", "inf") is refused, naming ``where``.
    """
    if array is None:
        return np.full(n, np.nan)
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        array = pc.if_else(pc.equal(array, ""), pa.scalar(None, kind), array)
        try:
            array = pc.cast(array, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _Decline(f"{where} is not a number") from None
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        array = pc.cast(array, pa.float64(), safe=False)
    else:
        raise _Decline(f"{where} is not a number")
    values = np.array(array.to_numpy(zero_copy_only=False), dtype=np.float64)  # a writable copy
    if not np.isfinite(values[~np.isnan(values)]).all() or np.isnan(values).sum() != array.null_count:
        raise _Decline(f"{where} is not a finite number")  # inf, or a NaN that is a value
    return values


def _ints(array: pa.Array | None, n: int, where: str) -> np.ndarray:
    """An integer column (character offsets): integral numbers or numeric strings -> float64 holding
    int32 values (NaN = null); a fraction, or a value outside int32 even after + 1, is refused."""
    values = _floats(array, n, where)
    finite = values[~np.isnan(values)]
    if not (np.floor(finite) == finite).all():
        raise _Decline(f"{where} is not an integer")
    if (finite < _INT32[0]).any() or (finite >= _INT32[1]).any():
        raise _Decline(f"{where} is out of range")
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
    """For each query, the index of the interval [begin, end] of its group containing t, the latest
    begin winning (ties: the later interval), else -1. Intervals may overlap or leave gaps.

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
    """For each query row, the index of the LAST entry row with equal keys (as a dict filled in order),
    else -1. Rows with a null key match nothing.

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


def _ms(seconds: np.ndarray, where: str) -> np.ndarray:
    """Times as join keys: round(seconds * 1000), half to even, as int64, so "0.1" and "0.100" match
    (NaN -> a value never used). A time beyond 2**53 ms (285 years) is refused: no exact key."""
    known = np.where(np.isnan(seconds), 0, seconds)
    if len(known) and np.abs(known).max() >= 2**53 / 1000:
        raise _Decline(f"{where} is out of range")
    return np.rint(known * 1000).astype(np.int64)
