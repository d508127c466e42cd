"""Flatten AWS output JSON (HealthScribe transcript, Transcribe Medical transcript) into Arrow tables.

Pure functions: they take the parsed JSON document (``json.load``) and return tables with the schemas
of :mod:`medscribe.lake.schemas`; no I/O. They read files written by AWS itself as well as the offline
engine's, so unknown fields are ignored and missing optional fields become nulls. A document of the
wrong kind raises ``ValueError``; error messages never quote transcript text (it is patient data).

Normalisations, all documented per column in the schemas:

- Transcribe writes times and confidences as strings ("0.100", "1.0000"); HealthScribe as numbers
  (confidence may be the integer 0 or 1). Both become float64.
- Punctuation: Transcribe punctuation has no times (and often no confidence) -> nulls. HealthScribe
  punctuation carries confidence 0 (kept) and times that are either 0/0 (a placeholder -> nulls) or
  overlap the word before (kept as given).
- Labels that belong to a word (speaker, channel, HealthScribe segment and role) are copied onto the
  punctuation that follows it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from medscribe.lake.schemas import TRANSCRIPT_SEGMENTS, TRANSCRIPT_WORDS

_KIND_NAMES = {
    "healthscribe_transcript": "a HealthScribe transcript file ({'Conversation': ...})",
    "healthscribe_clinical_document": "a HealthScribe clinical document ({'ClinicalDocumentation': ...})",
    "transcribe": "an Amazon Transcribe (Medical) output ({'results': ...})",
}


def document_kind(doc: Any) -> str | None:
    """Return which AWS output a parsed JSON document is, from its top-level key only.

    :param doc: the parsed JSON document.
    :return: "healthscribe_transcript", "healthscribe_clinical_document", "transcribe" or None.
    """
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("Conversation"), dict):
        return "healthscribe_transcript"
    if isinstance(doc.get("ClinicalDocumentation"), dict):
        return "healthscribe_clinical_document"
    if isinstance(doc.get("results"), dict):
        return "transcribe"
    return None


def _expect(doc: Any, kind: str, recording_id: str, job_name: str) -> None:
    """Raise ValueError unless doc is of the given kind and the ids are usable; never quotes content."""
    for name, value in (("recording_id", recording_id), ("job_name", job_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    found = document_kind(doc)
    if found != kind:
        got = _KIND_NAMES.get(found, f"a {type(doc).__name__} without a known top-level key")
        raise ValueError(f"expected {_KIND_NAMES[kind]}, got {got}")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _num(value: Any, where: str) -> float | None:
    """Number or numeric string -> float; None or "" -> None; else ValueError (value not quoted)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{where} is not a number")


def _seconds(value: Any) -> float | None:
    """Time in seconds (number or string) -> float, None if unusable; for joins, never raises."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ms(value: Any) -> int | None:
    """Time in seconds -> integer milliseconds, so "0.1" and "0.100" join; None if unusable."""
    seconds = _seconds(value)
    return None if seconds is None else round(seconds * 1000)


def _interval_lookup(intervals: list[tuple[float, float, Any]]) -> Callable[[float], Any]:
    """Return f(t) -> the value of the interval [begin, end] containing t (latest begin wins), else None.

    :param intervals: (begin, end, value) triples; may overlap or leave gaps.
    """
    ordered = sorted(intervals, key=lambda iv: iv[0])
    begins = [iv[0] for iv in ordered]
    reach, running = [], float("-inf")  # reach[j]: max end over ordered[:j+1], bounds the backward scan
    for iv in ordered:
        running = max(running, iv[1])
        reach.append(running)

    def lookup(t: float) -> Any:
        j = bisect_right(begins, t) - 1
        while j >= 0 and reach[j] >= t:
            if ordered[j][1] >= t:
                return ordered[j][2]
            j -= 1
        return None

    return lookup


def _mid(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else (start + end) / 2


def healthscribe_transcript_tables(doc: dict, *, recording_id: str, job_name: str) -> dict[str, pa.Table]:
    """Flatten a HealthScribe transcript file into ``transcript_words`` and ``transcript_segments``.

    A word gets the segment (and its participant role) whose [BeginAudioTime, EndAudioTime] contains the
    word's midpoint; punctuation inherits from the word before it.

    :param doc: parsed JSON of the file at ``MedicalScribeOutput.TranscriptFileUri``.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name (the file's own JobName is a placeholder in AWS examples, and
        streaming output has a SessionId instead).
    :return: {"transcript_words": table, "transcript_segments": table}.
    :raises ValueError: not a HealthScribe transcript, or a time/confidence that is not a number.
    """
    _expect(doc, "healthscribe_transcript", recording_id, job_name)
    conversation = doc["Conversation"]

    segments = []
    for index, raw in enumerate(_list(conversation.get("TranscriptSegments"))):
        seg = _obj(raw)
        where = f"TranscriptSegments[{index}]"
        segments.append(
            {
                "recording_id": recording_id,
                "job_name": job_name,
                "segment_id": seg.get("SegmentId"),
                "segment_index": index,
                "participant_role": _obj(seg.get("ParticipantDetails")).get("ParticipantRole"),
                "section_name": _obj(seg.get("SectionDetails")).get("SectionName"),
                "begin_time": _num(seg.get("BeginAudioTime"), f"{where}.BeginAudioTime"),
                "end_time": _num(seg.get("EndAudioTime"), f"{where}.EndAudioTime"),
                "content": seg.get("Content"),
            }
        )
    segment_at = _interval_lookup(
        [
            (s["begin_time"], s["end_time"], (s["segment_id"], s["participant_role"]))
            for s in segments
            if s["begin_time"] is not None and s["end_time"] is not None
        ]
    )

    words = []
    previous = (None, None)  # (segment_id, participant_role) of the last word
    for index, raw in enumerate(_list(conversation.get("TranscriptItems"))):
        item = _obj(raw)
        where = f"TranscriptItems[{index}]"
        is_punctuation = str(item.get("Type", "")).upper() == "PUNCTUATION"
        start = _num(item.get("BeginAudioTime"), f"{where}.BeginAudioTime")
        end = _num(item.get("EndAudioTime"), f"{where}.EndAudioTime")
        if is_punctuation:
            if not start and not end:  # 0/0 is HealthScribe's "no time" for punctuation
                start = end = None
            segment_id, role = previous
        else:
            mid = _mid(start, end)
            segment_id, role = previous = (None if mid is None else segment_at(mid)) or (None, None)
        for rank, alt in enumerate(_list(item.get("Alternatives")) or [{}]):
            alt = _obj(alt)
            words.append(
                {
                    "recording_id": recording_id,
                    "job_name": job_name,
                    "service": "healthscribe",
                    "item_index": index,
                    "content": alt.get("Content"),
                    "is_punctuation": is_punctuation,
                    "start_time": start,
                    "end_time": end,
                    "confidence": _num(alt.get("Confidence"), f"{where}.Confidence"),
                    "alternative_rank": rank,
                    "speaker_label": None,
                    "channel_label": None,
                    "participant_role": role,
                    "segment_id": segment_id,
                }
            )
    return {
        "transcript_words": pa.Table.from_pylist(words, schema=TRANSCRIPT_WORDS),
        "transcript_segments": pa.Table.from_pylist(segments, schema=TRANSCRIPT_SEGMENTS),
    }


def _item_id(item: dict) -> int | str | None:
    """An item's ``id`` (present in newer Transcribe output) if it is usable as a join key."""
    value = item.get("id")
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _label_index(containers: list[dict], label_key: str) -> dict[tuple, str]:
    """Map ("id", id) and ("t", start_ms, end_ms) of every item inside containers to its label.

    :param containers: speaker segments or channels, each with ``items`` and a label.
    :param label_key: "speaker_label" or "channel_label" (an item's own label wins over its container's).
    """
    index: dict[tuple, str] = {}
    for container in containers:
        for raw in _list(container.get("items")):
            item = _obj(raw)
            label = item.get(label_key) or container.get(label_key)
            if label is None:
                continue
            if _item_id(item) is not None:
                index[("id", _item_id(item))] = label
            start, end = _ms(item.get("start_time")), _ms(item.get("end_time"))
            if start is not None and end is not None:
                index[("t", start, end)] = label
    return index


def _find_label(item: dict, index: dict[tuple, str]) -> str | None:
    """Look an item up in a _label_index, by id first, then by start/end time."""
    if ("id", _item_id(item)) in index:
        return index[("id", _item_id(item))]
    start, end = _ms(item.get("start_time")), _ms(item.get("end_time"))
    return index.get(("t", start, end)) if start is not None and end is not None else None


def transcribe_medical_words_table(doc: dict, *, recording_id: str, job_name: str) -> pa.Table:
    """Flatten an Amazon Transcribe Medical output (``TranscriptFileUri``) into ``transcript_words``.

    Items are ``results.items``; when the file has none but has ``results.channel_labels`` (as in the
    Transcribe Medical channel-identification example), the channels' items are used, channel by
    channel. ``speaker_label`` comes from the item, else from ``speaker_labels.segments[].items`` joined
    by id or by start/end time, else from the speaker segment containing the item's midpoint.
    ``channel_label`` comes from the item, else from ``channel_labels.channels[].items`` (same join).
    Punctuation without a label takes the label of the word before it. Alternatives after the first
    become rows with alternative_rank 1..n (whole-transcript alternatives under ``results.segments``,
    written when ShowAlternatives is set, are not flattened here).

    :param doc: parsed JSON of the transcript file.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name.
    :return: the ``transcript_words`` table.
    :raises ValueError: not a Transcribe output, or a time/confidence that is not a number.
    """
    _expect(doc, "transcribe", recording_id, job_name)
    results = doc["results"]
    speaker_segments = [_obj(s) for s in _list(_obj(results.get("speaker_labels")).get("segments"))]
    channels = [_obj(c) for c in _list(_obj(results.get("channel_labels")).get("channels"))]
    speakers = _label_index(speaker_segments, "speaker_label")
    spans = [
        (_seconds(seg.get("start_time")), _seconds(seg.get("end_time")), seg.get("speaker_label"))
        for seg in speaker_segments
    ]
    speaker_at = _interval_lookup([span for span in spans if span[0] is not None and span[1] is not None])
    items = [(_obj(raw), None) for raw in _list(results.get("items"))]
    if items:
        channel_index = _label_index(channels, "channel_label")
    else:
        channel_index = {}
        items = [(_obj(raw), ch.get("channel_label")) for ch in channels for raw in _list(ch.get("items"))]

    words = []
    previous_speaker = previous_channel = None
    for index, (item, container_channel) in enumerate(items):
        where = f"items[{index}]"
        is_punctuation = str(item.get("type", "")).lower() == "punctuation"
        start = _num(item.get("start_time"), f"{where}.start_time")
        end = _num(item.get("end_time"), f"{where}.end_time")
        speaker = item.get("speaker_label") or _find_label(item, speakers)
        channel = item.get("channel_label") or container_channel or _find_label(item, channel_index)
        if is_punctuation:
            speaker = speaker or previous_speaker
            channel = channel or previous_channel
        else:
            if speaker is None and _mid(start, end) is not None:
                speaker = speaker_at(_mid(start, end))
            previous_speaker, previous_channel = speaker, channel
        for rank, alt in enumerate(_list(item.get("alternatives")) or [{}]):
            alt = _obj(alt)
            words.append(
                {
                    "recording_id": recording_id,
                    "job_name": job_name,
                    "service": "transcribe_medical",
                    "item_index": index,
                    "content": alt.get("content"),
                    "is_punctuation": is_punctuation,
                    "start_time": start,
                    "end_time": end,
                    "confidence": _num(alt.get("confidence"), f"{where}.confidence"),
                    "alternative_rank": rank,
                    "speaker_label": speaker,
                    "channel_label": channel,
                    "participant_role": None,
                    "segment_id": None,
                }
            )
    return pa.Table.from_pylist(words, schema=TRANSCRIPT_WORDS)
