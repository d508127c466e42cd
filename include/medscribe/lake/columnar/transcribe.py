"""The column-wise ``transcript_words`` of Amazon Transcribe (Medical) outputs (``results``): items from
the top level or the channels, speaker and channel labels found by id, by time or by span."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake.columnar.kernels import (
    _at,
    _child,
    _Decline,
    _floats,
    _interval_at,
    _labels,
    _last_before,
    _list,
    _lookup_last,
    _matches,
    _ms,
    _positions,
    _strings,
)
from medscribe.lake.columnar.words import _words
from medscribe.lake.schemas import TRANSCRIPT_WORDS


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
