"""What the item page shows, built from the recording's lake rows (no HTML here: the templates render it).

* ``transcript``: segments (HealthScribe) or runs of one speaker (Transcribe Medical), each word with its
  times, its confidence when under the night's bar, the clinical insights it lies in, and the reviewer's
  correction if any;
* ``note``: the service's note by section, each sentence with its evidence segments and its decision.
"""

from __future__ import annotations

from typing import Any

from medscribe.review.notes import sentence_key

#: Comprehend Medical's categories as the page names and colours them (others: "other")
CATEGORIES = {
    "MEDICATION": "medication",
    "MEDICAL_CONDITION": "condition",
    "TEST_TREATMENT_PROCEDURE": "test",
    "ANATOMY": "anatomy",
}


def _spans(segment: dict[str, Any] | None, insights: list[dict[str, Any]]) -> list[tuple[int, int, dict]]:
    """The insight spans of a segment as (begin, end exclusive, insight row)."""
    if segment is None:
        return []
    return [
        (i["begin_character_offset"], i["end_exclusive"], i)
        for i in insights
        if i["segment_id"] == segment["segment_id"]
        and i["begin_character_offset"] is not None
        and i["end_exclusive"] is not None
    ]


def _run(
    words: list[dict[str, Any]],
    low: float,
    segment: dict[str, Any] | None = None,
    insights: list[dict[str, Any]] | None = None,
    corrections: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The words as the page shows them.

    Each: text, space (none before punctuation nor at the start), item_index, begin/end times, confidence
    (set only under ``low``), category and negated (of the insight the word lies in, by the word's
    characters in the segment's content), corrected (the reviewer's text, or None).

    :param words: transcript_words rows, in order.
    :param low: the night's ``low_word_confidence``.
    :param segment: the segment the words belong to (for insight offsets), if any.
    :param insights: the recording's clinical_insights rows.
    :param corrections: the latest word decisions by item key.
    """
    spans = _spans(segment, insights or [])
    content = (segment or {}).get("content") or ""
    out, started, cursor = [], False, 0
    for word in words:
        confidence = word["confidence"]
        marked = not word["is_punctuation"] and confidence is not None and confidence < low
        text = word["content"] or ""
        space = started and not word["is_punctuation"]
        category, negated, kind = None, False, None
        at = content.find(text, cursor) if text and spans else -1
        if at >= 0:
            cursor = at + len(text)
            for begin, end, insight in spans:
                if begin < cursor and at < end:
                    category = CATEGORIES.get(insight["category"] or "", "other")
                    negated = bool(insight["negated"])
                    kind = insight["type"] or insight["category"]
                    break
        corrected = (corrections or {}).get(str(word["item_index"]))
        out.append(
            {
                "text": text,
                "space": space,
                "item_index": word["item_index"],
                "begin": word["start_time"],
                "end": word["end_time"],
                "confidence": confidence if marked else None,
                "category": category,
                "negated": negated,
                "kind": kind,
                "corrected": corrected["after"] if corrected else None,
            }
        )
        started = started or space or bool(text) or marked
    return out


def transcript(
    words: list[dict[str, Any]],
    segments: list[dict[str, Any]],
    low: float,
    insights: list[dict[str, Any]] | None = None,
    corrections: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Segments with roles and times (HealthScribe), else runs of one speaker or channel (Transcribe
    Medical); none when there are no words.

    :param words: the recording's first-choice transcript_words rows, in order.
    :param segments: its transcript_segments rows, in order.
    :param low: the night's ``low_word_confidence``.
    :param insights: its clinical_insights rows.
    :param corrections: the latest word decisions by item key.
    """
    if not words:
        return []
    by_segment: dict[str | None, list[dict[str, Any]]] = {}
    for word in words:
        by_segment.setdefault(word["segment_id"], []).append(word)
    blocks = []
    if segments:
        for segment in segments:
            own = by_segment.get(segment["segment_id"], [])
            blocks.append(
                {
                    "segment_id": segment["segment_id"],
                    "role": segment["participant_role"],
                    "begin": segment["begin_time"],
                    "end": segment["end_time"],
                    "words": _run(own, low, segment, insights, corrections),
                    "content": segment["content"],
                }
            )
        if by_segment.get(None):
            blocks.append(_block(None, by_segment[None], low, corrections))
    else:
        run: list[dict[str, Any]] = []
        for word in words:
            if run and _speaker(word) != _speaker(run[0]):
                blocks.append(_block(_speaker(run[0]), run, low, corrections))
                run = []
            run.append(word)
        blocks.append(_block(_speaker(run[0]), run, low, corrections))
    return blocks


def _block(role: str | None, words: list[dict[str, Any]], low: float, corrections) -> dict[str, Any]:
    """A block of words outside any segment, timed by its first and last timed word."""
    times = [w for w in words if w["start_time"] is not None and w["end_time"] is not None]
    return {
        "segment_id": None,
        "role": role,
        "begin": times[0]["start_time"] if times else None,
        "end": times[-1]["end_time"] if times else None,
        "words": _run(words, low, corrections=corrections),
        "content": None,
    }


def _speaker(word: dict[str, Any]) -> str | None:
    """A Transcribe Medical word's speaker label, else its channel label."""
    return word["speaker_label"] or word["channel_label"]


def note(
    sentences: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    segments: list[dict[str, Any]],
    decisions: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The service's note by section (consecutive sentences of one section name), each sentence with its
    key, its evidence segments (role, content and times, or ``missing`` when the segment is not in the
    transcript) and the reviewer's latest decision on it.

    :param sentences: the recording's note_sentences rows (reviewed rows are left out).
    :param evidence: its note_evidence rows.
    :param segments: its transcript_segments rows.
    :param decisions: the latest sentence decisions by item key.
    """
    content = {s["segment_id"]: s for s in segments}
    links: dict[tuple[int, int], list[str]] = {}
    for link in sorted(evidence, key=lambda e: e["evidence_index"]):
        links.setdefault((link["section_index"], link["sentence_index"]), []).append(link["segment_id"])
    service = [s for s in sentences if s.get("source") in (None, "service")]
    sections: list[dict[str, Any]] = []
    for sentence in sorted(service, key=lambda s: (s["section_index"], s["sentence_index"])):
        if not sections or sentence["section_name"] != sections[-1]["name"]:
            sections.append({"name": sentence["section_name"], "sentences": []})
        shown = []
        for segment_id in links.get((sentence["section_index"], sentence["sentence_index"]), []):
            segment = content.get(segment_id)
            if segment is None:
                shown.append({"segment_id": segment_id, "missing": True})
            else:
                shown.append(
                    {
                        "segment_id": segment_id,
                        "missing": False,
                        "role": segment["participant_role"],
                        "content": segment["content"],
                    }
                )
        key = sentence_key(sentence["section_index"], sentence["sentence_index"])
        sections[-1]["sentences"].append(
            {"key": key, "text": sentence["text"], "evidence": shown, "decision": (decisions or {}).get(key)}
        )
    return sections
