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
- HealthScribe character offsets (``ClinicalInsights[].Spans``) are end-inclusive ("pain" at 12..15):
  the raw values are kept in ``begin_character_offset``/``end_character_offset`` and a half-open
  ``end_exclusive`` (= end + 1) is added, so ``segment_content[begin:end_exclusive] == content``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from medscribe.lake.schemas import (
    CLINICAL_INSIGHTS,
    INSIGHT_ATTRIBUTES,
    NOTE_EVIDENCE,
    NOTE_SENTENCES,
    NOTE_SOURCES,
    TRANSCRIPT_SEGMENTS,
    TRANSCRIPT_WORDS,
)

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
        got = _KIND_NAMES[found] if found else f"a {type(doc).__name__} without a known top-level key"
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
    """Time in seconds -> integer milliseconds, so "0.1" and "0.100" join; None if unusable (or not finite)."""
    seconds = _seconds(value)
    return None if seconds is None or not math.isfinite(seconds) else round(seconds * 1000)


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


def _int(value: Any, where: str) -> int | None:
    """Integral number (or numeric string) -> int; None or "" -> None; else ValueError (value not quoted)."""
    number = _num(value, where)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"{where} is not an integer")
    return int(number)


def _spans(owner: dict, where: str) -> list[dict]:
    """The span columns of an insight's or attribute's ``Spans``; one all-null span if it has none.

    :param owner: an insight or an attribute.
    :param where: its JSON path, for error messages.
    :return: dicts with span_index, segment_id, begin/end_character_offset, end_exclusive, content.
    """
    spans = []
    for index, raw in enumerate(_list(owner.get("Spans"))):
        span = _obj(raw)
        begin = _int(span.get("BeginCharacterOffset"), f"{where}.Spans[{index}].BeginCharacterOffset")
        end = _int(span.get("EndCharacterOffset"), f"{where}.Spans[{index}].EndCharacterOffset")
        spans.append(
            {
                "span_index": index,
                "segment_id": span.get("SegmentId"),
                "begin_character_offset": begin,
                "end_character_offset": end,
                "end_exclusive": None if end is None else end + 1,
                "content": span.get("Content"),
            }
        )
    return spans or [
        {
            "span_index": 0,
            "segment_id": None,
            "begin_character_offset": None,
            "end_character_offset": None,
            "end_exclusive": None,
            "content": None,
        }
    ]


def _traits(insight: dict) -> tuple[str | None, bool | None]:
    """(comma-joined trait names, negated) from a Comprehend-Medical-style ``Traits`` list, if present."""
    if not isinstance(insight.get("Traits"), list):
        return None, None
    names = [str(_obj(t).get("Name")) for t in insight["Traits"] if _obj(t).get("Name") is not None]
    return ",".join(names), "NEGATION" in names


def _insight_tables(conversation: dict, recording_id: str, job_name: str) -> dict[str, pa.Table]:
    """``clinical_insights`` and ``insight_attributes`` rows of a HealthScribe ``Conversation``."""
    insights, attributes = [], []
    ids = {"recording_id": recording_id, "job_name": job_name}
    for insight_index, raw in enumerate(_list(conversation.get("ClinicalInsights"))):
        insight = _obj(raw)
        where = f"ClinicalInsights[{insight_index}]"
        insight_id = insight.get("InsightId")
        if not isinstance(insight_id, str) or not insight_id:
            insight_id = f"#{insight_index}"  # no usable InsightId: keep the row, keyed by position
        traits, negated = _traits(insight)
        confidence = _num(insight.get("Confidence"), f"{where}.Confidence")
        for span in _spans(insight, where):
            insights.append(
                {
                    **ids,
                    "insight_id": insight_id,
                    "insight_index": insight_index,
                    "insight_type": insight.get("InsightType"),
                    "category": insight.get("Category"),
                    "type": insight.get("Type"),
                    "confidence": confidence,
                    "traits": traits,
                    "negated": negated,
                    **span,
                }
            )
        for attribute_index, raw_attribute in enumerate(_list(insight.get("Attributes"))):
            attribute = _obj(raw_attribute)
            attribute_where = f"{where}.Attributes[{attribute_index}]"
            attribute_confidence = _num(attribute.get("Confidence"), f"{attribute_where}.Confidence")
            for span in _spans(attribute, attribute_where):
                attributes.append(
                    {
                        **ids,
                        "insight_id": insight_id,
                        "attribute_index": attribute_index,
                        "attribute_id": attribute.get("AttributeId"),
                        "type": attribute.get("Type"),
                        "confidence": attribute_confidence,
                        **span,
                    }
                )
    return {
        "clinical_insights": pa.Table.from_pylist(insights, schema=CLINICAL_INSIGHTS),
        "insight_attributes": pa.Table.from_pylist(attributes, schema=INSIGHT_ATTRIBUTES),
    }


def healthscribe_transcript_tables(
    doc: dict, *, recording_id: str, job_name: str, with_insights: bool = False
) -> dict[str, pa.Table]:
    """Flatten a HealthScribe transcript file into ``transcript_words`` and ``transcript_segments``
    (and, with ``with_insights``, ``clinical_insights`` and ``insight_attributes``).

    A word gets the segment (and its participant role) whose [BeginAudioTime, EndAudioTime] contains the
    word's midpoint; punctuation inherits from the word before it.

    ``clinical_insights`` has one row per insight span (key recording_id, job_name, insight_id,
    span_index), ``insight_attributes`` one row per attribute span (key + attribute_index, span_index).
    An insight or attribute without spans still gets one row (span_index 0, span columns null); an
    insight without an InsightId is keyed ``#<position>``. A file without ClinicalInsights gives empty
    tables.

    :param doc: parsed JSON of the file at ``MedicalScribeOutput.TranscriptFileUri``.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name (the file's own JobName is a placeholder in AWS examples, and
        streaming output has a SessionId instead).
    :param with_insights: also return the two insight tables. Off by default only so that callers
        that write exactly the tables they know (``nightly.flatten_night`` before it lists the insight
        tables) keep working.
    :return: {"transcript_words": table, "transcript_segments": table} (+ the insight tables).
    :raises ValueError: not a HealthScribe transcript, or a time/confidence/offset that is not a number.
    """
    _expect(doc, "healthscribe_transcript", recording_id, job_name)
    conversation = doc["Conversation"]

    segments: list[dict[str, Any]] = []
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
    tables = {
        "transcript_words": pa.Table.from_pylist(words, schema=TRANSCRIPT_WORDS),
        "transcript_segments": pa.Table.from_pylist(segments, schema=TRANSCRIPT_SEGMENTS),
    }
    if with_insights:
        tables.update(_insight_tables(conversation, recording_id, job_name))
    return tables


def healthscribe_clinical_document_tables(
    doc: dict, *, recording_id: str, job_name: str, note_template: str | None = None, source: str = "service"
) -> dict[str, pa.Table]:
    """Flatten a HealthScribe clinical document into ``note_sentences`` and ``note_evidence``.

    Reads ``{"ClinicalDocumentation": {"Sections": [{"SectionName", "Summary": [{"SummarizedSegment",
    "EvidenceLinks": [{"SegmentId"}]}]}]}}``; the streaming variant (with ``SessionId`` beside
    ``Sections``) is read the same way. ``note_sentences`` has one row per SummarizedSegment (key
    recording_id, job_name, section_index, sentence_index; sentence_index counts within the section);
    ``note_evidence`` one row per evidence link (same key + evidence_index). A sentence without evidence
    has no ``note_evidence`` row.

    :param doc: parsed JSON of the file at ``MedicalScribeOutput.ClinicalDocumentUri``.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name (for streaming sessions, the SessionId).
    :param note_template: ``Settings.ClinicalNoteGenerationSettings.NoteTemplate`` of the job, if known
        (the file does not say which template produced it).
    :param source: ``note_sentences.source``: "service" (the service's note) or "reviewed" (a reviewer's
        signed-off note in the same format, ``medscribe.review.notes``).
    :return: {"note_sentences": table, "note_evidence": table}.
    :raises ValueError: not a HealthScribe clinical document, or unusable ids.
    """
    _expect(doc, "healthscribe_clinical_document", recording_id, job_name)
    if source not in NOTE_SOURCES:
        raise ValueError(f"source must be one of {NOTE_SOURCES}")
    if note_template is not None and not isinstance(note_template, str):
        raise ValueError("note_template must be a string or None")
    ids = {"recording_id": recording_id, "job_name": job_name}
    sentences, evidence = [], []
    for section_index, raw_section in enumerate(_list(doc["ClinicalDocumentation"].get("Sections"))):
        section = _obj(raw_section)
        name = section.get("SectionName")
        for sentence_index, raw_sentence in enumerate(_list(section.get("Summary"))):
            sentence = _obj(raw_sentence)
            where = {"section_name": name, "section_index": section_index, "sentence_index": sentence_index}
            text = sentence.get("SummarizedSegment")
            sentences.append(
                {
                    **ids,
                    "note_template": note_template,
                    **where,
                    "text": text if isinstance(text, str) else None,
                    "source": source,
                }
            )
            for evidence_index, link in enumerate(_list(sentence.get("EvidenceLinks"))):
                evidence.append(
                    {
                        **ids,
                        **where,
                        "evidence_index": evidence_index,
                        "segment_id": _obj(link).get("SegmentId"),
                    }
                )
    return {
        "note_sentences": pa.Table.from_pylist(sentences, schema=NOTE_SENTENCES),
        "note_evidence": pa.Table.from_pylist(evidence, schema=NOTE_EVIDENCE),
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
    spans = []
    for seg in speaker_segments:
        begin, finish = _seconds(seg.get("start_time")), _seconds(seg.get("end_time"))
        if begin is not None and finish is not None:
            spans.append((begin, finish, seg.get("speaker_label")))
    speaker_at = _interval_lookup(spans)
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
            if speaker is None and (mid := _mid(start, end)) is not None:
                speaker = speaker_at(mid)
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
