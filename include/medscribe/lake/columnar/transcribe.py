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
from medscribe.services import Service


def _ids(array: pa.Array | None, n: int, where: str) -> pa.Array:
    """An item id column (newer Transcribe output): integers or strings; other JSON types are refused."""
    if array is None:
        return pa.nulls(n, pa.int64())
    if pa.types.is_integer(array.type):
        return array.cast(pa.int64())
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return _strings(array, n, where)
    raise _Decline(f"{where} is not an integer or a string")


def _label_entries(
    containers: pa.Array | None, container_doc: np.ndarray, key: str, where: str
) -> dict[str, Any]:
    """The items listed under speaker segments or channels, with their labels: every item of every
    container with its label (the item's own, else the container's), in order, dropping items without
    either. ``where`` is the containers' JSON path."""
    c = len(container_doc)
    values, parent, _ = _list(_child(containers, "items"), c)
    e = len(parent)
    label = _labels(_child(values, key), e, f"{where}.items[].{key}")
    if e:  # the item's own label, else its container's
        label = pc.coalesce(label, _labels(_child(containers, key), c, f"{where}.{key}").take(parent))
    keep = pc.is_valid(label).to_numpy(zero_copy_only=False)
    start = _floats(_child(values, "start_time"), e, f"{where}.items[].start_time")
    end = _floats(_child(values, "end_time"), e, f"{where}.items[].end_time")
    return {
        "doc": container_doc[parent][keep],
        "id": _ids(_child(values, "id"), e, f"{where}.items[].id").filter(pa.array(keep)),
        "start": start[keep],
        "end": end[keep],
        "label": label.filter(pa.array(keep)),
    }


def _find(
    entries: dict, where: str, doc: np.ndarray, ids: pa.Array, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """For each item, the index of its entry (the last listed) by (file, id), else by (file, start ms,
    end ms), else -1. ``where`` is the entries' containers' JSON path."""
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
    path = where + ".items[]."
    by_time = _lookup_last(
        pa.table(
            {
                "doc": doc[todo],
                "s": _ms(start[todo], "an item's start_time"),
                "e": _ms(end[todo], "an item's end_time"),
            }
        ),
        pa.table(
            {
                "doc": entries["doc"][timed],
                "s": _ms(entries["start"][timed], path + "start_time"),
                "e": _ms(entries["end"][timed], path + "end_time"),
            }
        ),
        ["doc", "s", "e"],
        [15, 24, 24],
    )
    found[todo] = _at(timed, by_time)
    return found


def _transcribe(results: pa.Array, docs: np.ndarray, rec: pa.Array, job: pa.Array) -> dict[str, tuple]:
    """``transcript_words`` of Transcribe ``results`` structs (one per file), files in order, as
    {name: (file of each row, table)}. The items are ``results.items``, or, in a file without any, the
    channels' items channel by channel (Transcribe Medical's channel-identification example).
    ``speaker_label``: the item's own, else its entry under ``speaker_labels.segments[].items`` (by id,
    else by start and end time), else the speaker segment holding its midpoint. ``channel_label``: the
    item's own, else its channel's, else its entry under ``channel_labels.channels[].items``.
    Punctuation without a label takes the word before's."""
    n = len(results)
    top, top_doc, top_len = _list(_child(results, "items"), n)
    use_top = top_len > 0  # results.items if any, else the channels' items
    channels, channel_doc, _ = _list(_child(_child(results, "channel_labels"), "channels"), n)
    ch_items, ch_parent, _ = _list(_child(channels, "items"), len(channel_doc))
    ch_item_doc = channel_doc[ch_parent]
    from_channels = ~use_top[ch_item_doc]
    # the item stream: top-level items of files that have them, channel items (channel by channel) of others
    parts = []
    if top is not None:
        parts.append(("results.items[]", top, top_doc, pa.nulls(len(top_doc), pa.string())))
    if ch_items is not None and from_channels.any():
        mask = pa.array(from_channels)
        where = "results.channel_labels.channels[]"
        labels = _labels(_child(channels, "channel_label"), len(channel_doc), where + ".channel_label")
        container = labels.take(ch_parent)
        parts.append(
            (where + ".items[]", ch_items.filter(mask), ch_item_doc[from_channels], container.filter(mask))
        )
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
    for where, values, doc, container in parts:
        k = len(doc)
        kind = _child(values, "type")
        columns["doc"].append(doc)
        columns["type"].append(
            _matches(kind, lambda v: str(v).lower() == "punctuation")
            if kind is not None
            else np.zeros(k, bool)
        )
        columns["start"].append(_floats(_child(values, "start_time"), k, f"{where}.start_time"))
        columns["end"].append(_floats(_child(values, "end_time"), k, f"{where}.end_time"))
        columns["id"].append(_ids(_child(values, "id"), k, f"{where}.id"))
        columns["speaker"].append(_labels(_child(values, "speaker_label"), k, f"{where}.speaker_label"))
        columns["channel"].append(_labels(_child(values, "channel_label"), k, f"{where}.channel_label"))
        columns["container"].append(container)
        alts, _, alt_len = _list(_child(values, "alternatives"), k)
        count = len(alts) if alts is not None else 0
        columns["alt_content"].append(
            _strings(_child(alts, "content"), count, f"{where}.alternatives[].content")
        )
        columns["alt_confidence"].append(
            _floats(_child(alts, "confidence"), count, f"{where}.alternatives[].confidence")
        )
        columns["alt_len"].append(alt_len)
    if not parts:
        return {"transcript_words": (np.zeros(0, np.int64), TRANSCRIPT_WORDS.empty_table())}
    typed = [ids for ids in columns["id"] if ids.null_count < len(ids)]
    if len({ids.type for ids in typed}) > 1:  # files with integer ids and files with string ids
        raise _Decline("results.items[].id is an integer in one file and a string in another")
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
    where = "results.speaker_labels.segments[]"
    entries = _label_entries(segs, seg_doc, "speaker_label", where)
    missing = ~pc.is_valid(own_speaker).to_numpy(zero_copy_only=False)
    by_entry = np.full(k, -1, np.int64)
    if missing.any():
        idx = np.flatnonzero(missing)
        by_entry[idx] = _find(entries, where, item_doc[idx], ids.take(pa.array(idx)), start[idx], end[idx])
    seg_begin = _floats(_child(segs, "start_time"), len(seg_doc), where + ".start_time")
    seg_end = _floats(_child(segs, "end_time"), len(seg_doc), where + ".end_time")
    seg_label = _labels(_child(segs, "speaker_label"), len(seg_doc), where + ".speaker_label")
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
    where = "results.channel_labels.channels[]"
    ch_entries = _label_entries(channels, channel_doc, "channel_label", where)
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
        by_ch[idx] = _find(ch_entries, where, item_doc[idx], ids.take(pa.array(idx)), start[idx], end[idx])
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
            service=Service.TRANSCRIBE_MEDICAL.value,
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
