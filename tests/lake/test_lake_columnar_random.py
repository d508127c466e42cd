"""The transcript flattener on randomised documents whose rows are known by construction: each label is
put in the file by one of the ways AWS's files carry it (an item's own label, an entry listed by id or by
differently formatted times, the container it is listed under, a speaker segment's span, a HealthScribe
segment's times), so the expected rows are computed here without the flattener's rules."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from medscribe.lake import columnar

WORD_COLUMNS = ("item_index", "alternative_rank", "content", "is_punctuation", "start_time", "end_time")
WORD_COLUMNS += ("confidence", "speaker_label", "channel_label", "segment_id", "participant_role")
SPEAKERS, CHANNELS = ("spk_0", "spk_1", "spk_2"), ("ch_0", "ch_1")


def alternatives(rng: random.Random, i: int, upper: bool) -> tuple[list | None, list[tuple]]:
    """An item's alternatives (or None: no key) and its (rank, content, confidence) rows."""
    if rng.random() < 0.1:
        return None, [(0, None, None)]
    content, confidence = ("Content", "Confidence") if upper else ("content", "confidence")
    values, rows = [], []
    for rank in range(rng.choice([0, 1, 1, 1, 2, 3])):
        if rng.random() < 0.05:  # a null inside the list: a row with null content
            values.append(None)
            rows.append((rank, None, None))
            continue
        value = rng.choice([0, 1, 0.5, 0.9924]) if upper else rng.choice(["0.5", "1.0", "0.0917", "", None])
        alternative = {content: f"w{i}.{rank}"}
        if value is not None:
            alternative[confidence] = value
        values.append(alternative)
        rows.append((rank, f"w{i}.{rank}", None if value in (None, "") else float(value)))
    return values, rows or [(0, None, None)]


def time_text(rng: random.Random, seconds: float) -> str:
    """The same time as Transcribe may write it, in one of several spellings (all equal in milliseconds)."""
    return rng.choice([f"{seconds:.3f}", f"{seconds:.4f}", str(round(seconds, 3)), repr(seconds)])


def random_transcribe(rng: random.Random) -> tuple[dict, list[tuple]]:
    """A Transcribe output and its rows (WORD_COLUMNS)."""
    ids = rng.choice([None, int, str])
    listing = {"items": []}  # entries with their own label, listed first
    containers = {label: {"speaker_label": label, "items": []} for label in SPEAKERS}
    spans: list[dict] = []
    items, meta, t = [], [], 0.0
    for i in range(rng.randint(0, 25)):
        item: dict = {}
        punct = rng.random() < 0.25
        if rng.random() < 0.9:
            item["type"] = rng.choice(["punctuation", "PUNCTUATION"]) if punct else "pronunciation"
        elif punct:
            item["type"] = "punctuation"
        start = end = None
        if rng.random() < (0.2 if punct else 0.9):  # punctuation: mostly without times
            start, t = t, t + rng.choice([0.1, 0.25, 0.333, 0.5])
            end = t
            item["start_time"], item["end_time"] = f"{start:.3f}", f"{end:.3f}"
        if ids is not None:
            item["id"] = i if ids is int else f"i{i}"
        values, alt_rows = alternatives(rng, i, upper=False)
        if values is not None:
            item["alternatives"] = values
        speaker = rng.choice([None, *SPEAKERS])
        ways = ["own"] + (["id"] if ids else []) + (["time", "span"] if start is not None else [])
        way = rng.choice(ways) if speaker and not punct else "own" if speaker and rng.random() < 0.2 else None
        if way is None:
            speaker = None
        elif way == "own":
            item["speaker_label"] = speaker
        elif way == "span":
            spans.append(
                {
                    "start_time": f"{start - 0.01:.3f}",
                    "end_time": f"{end + 0.01:.3f}",
                    "speaker_label": speaker,
                }
            )
        else:
            key = (
                {"id": item["id"]}
                if way == "id"
                else {"start_time": time_text(rng, start), "end_time": time_text(rng, end)}
            )
            if rng.random() < 0.3:  # listed twice: the later entry wins
                listing["items"].append({**key, "speaker_label": rng.choice(SPEAKERS)})
            if rng.random() < 0.5:
                listing["items"].append({**key, "speaker_label": speaker})
            else:
                containers[speaker]["items"].append(key)
        items.append(item)
        meta.append([punct, speaker, None, start, end, alt_rows])
    results: dict = {"speaker_labels": {"segments": [listing, *containers.values(), *spans]}}
    channels = [{"channel_label": label, "items": []} for label in CHANNELS]
    if rng.random() < 0.3:  # no top-level items: the channels' items, channel by channel
        homes = [rng.randrange(len(CHANNELS)) for _ in items]
        for item, home, row in zip(items, homes, meta, strict=True):
            channels[home]["items"].append(item)
            row[2] = CHANNELS[home]  # the channel's label, unless the item has its own
            if rng.random() < 0.2:
                row[2] = item["channel_label"] = rng.choice(CHANNELS)
        meta = [meta[i] for home in range(len(CHANNELS)) for i, h in enumerate(homes) if h == home]
    else:
        results["items"] = items
        for item, row in zip(items, meta, strict=True):
            channel = rng.choice([None, *CHANNELS])
            if channel is None or (row[0] and rng.random() < 0.8):  # most punctuation: the word before's
                continue
            row[2] = channel
            ways = ["own"] + (["id"] if ids else []) + (["time"] if row[3] is not None else [])
            way = rng.choice(ways)
            if way == "own":
                item["channel_label"] = channel
            elif way == "id":
                channels[CHANNELS.index(channel)]["items"].append({"id": item["id"]})
            else:
                key = {"start_time": time_text(rng, row[3]), "end_time": time_text(rng, row[4])}
                channels[CHANNELS.index(channel)]["items"].append(key)
    results["channel_labels"] = {"channels": channels}
    rows, previous = [], (None, None)
    for index, (punct, speaker, channel, start, end, alt_rows) in enumerate(meta):
        if punct:
            speaker, channel = speaker or previous[0], channel or previous[1]
        else:
            previous = (speaker, channel)
        start, end = (None, None) if start is None else (float(f"{start:.3f}"), float(f"{end:.3f}"))
        for rank, content, confidence in alt_rows:
            rows.append((index, rank, content, punct, start, end, confidence, speaker, channel, None, None))
    return {"results": results}, rows


def random_healthscribe(rng: random.Random) -> tuple[dict, list[tuple], list[tuple]]:
    """A HealthScribe transcript, its word rows (WORD_COLUMNS) and its segment rows: words grouped into
    segments spanning them (some words in none), punctuation with 0/0 times or the word before's."""
    items, words, t = [], [], 0.0
    for i in range(rng.randint(0, 25)):
        punct = rng.random() < 0.3
        begin, t = t, t + rng.choice([0.1, 0.25, 0.5, 1])
        item: dict = {"Type": rng.choice(["PUNCTUATION", "Punctuation"]) if punct else "PRONUNCIATION"}
        item["BeginAudioTime"], item["EndAudioTime"] = (
            (begin, t) if not punct or rng.random() < 0.5 else (0, 0)
        )
        values, alt_rows = alternatives(rng, i, upper=True)
        if values is not None:
            item["Alternatives"] = values
        items.append(item)
        words.append((punct, alt_rows))
    segments, of_item, index = [], {}, 0
    spoken = [i for i, (punct, _) in enumerate(words) if not punct]
    while index < len(spoken):
        group = spoken[index : index + rng.randint(1, 4)]
        index += len(group) + rng.choice([0, 0, 1])  # now and then a word outside every segment
        segment = {"SegmentId": f"seg{len(segments)}", "Content": "text"}
        segment["BeginAudioTime"] = items[group[0]]["BeginAudioTime"]
        segment["EndAudioTime"] = items[group[-1]]["EndAudioTime"]
        if rng.random() < 0.8:
            segment["ParticipantDetails"] = {"ParticipantRole": rng.choice(["CLINICIAN_0", "PATIENT_0"])}
        if rng.random() < 0.5:
            segment["SectionDetails"] = {"SectionName": "SUBJECTIVE"}
        segments.append(segment)
        of_item.update(dict.fromkeys(group, segment))
    segments += [
        {"SegmentId": f"untimed{n}", "Content": "text"} for n in range(rng.randint(0, 2))
    ]  # never match
    rng.shuffle(segments)
    rows, previous = [], None
    for index, (item, (punct, alt_rows)) in enumerate(zip(items, words, strict=True)):
        segment = previous if punct else of_item.get(index)
        previous = segment
        start, end = item["BeginAudioTime"], item["EndAudioTime"]
        if punct and start == end == 0:
            start = end = None
        role = (segment or {}).get("ParticipantDetails", {}).get("ParticipantRole")
        label = (None, None, segment and segment["SegmentId"], role)
        for rank, content, confidence in alt_rows:
            rows.append((index, rank, content, punct, start, end, confidence, *label))
    segment_rows = [
        (
            s["SegmentId"],
            n,
            s.get("ParticipantDetails", {}).get("ParticipantRole"),
            s.get("SectionDetails", {}).get("SectionName"),
            s.get("BeginAudioTime"),
            s.get("EndAudioTime"),
        )
        for n, s in enumerate(segments)
    ]
    doc = {"Conversation": {"TranscriptItems": items, "TranscriptSegments": segments}}
    return doc, rows, segment_rows


def random_insights(rng: random.Random, conversation: dict) -> tuple[list[tuple], list[tuple]]:
    """ClinicalInsights added to a Conversation, and their insight and attribute rows."""
    insights, insight_rows, attribute_rows = [], [], []
    for n in range(rng.randint(0, 4)):
        insight: dict = {"Category": "MEDICATION", "Type": "GENERIC_NAME", "InsightType": "ClinicalEntity"}
        key = f"#{n}"
        if rng.random() < 0.7:
            insight["InsightId"] = rng.choice([f"ins{n}", ""])
            key = insight["InsightId"] or key  # an empty id: keyed by position too
        insight["Spans"] = [random_span(rng) for _ in range(rng.randint(0, 2))]
        traits = negated = None
        if rng.random() < 0.5:
            names = [rng.choice(["NEGATION", "DIAGNOSIS"]) for _ in range(rng.randint(0, 2))]
            insight["Traits"] = [{"Name": name, "Score": 0.9} for name in names]
            traits, negated = ",".join(names), "NEGATION" in names
        confidence = None
        if rng.random() < 0.5:
            insight["Confidence"] = confidence = rng.choice([1, 0.75])
        for rank, span in enumerate(insight["Spans"] or [None]):
            insight_rows.append((key, n, rank, *span_columns(span), confidence, traits, negated))
        insight["Attributes"] = []
        for a in range(rng.randint(0, 2)):
            attribute = {
                "AttributeId": f"a{a}",
                "Type": "DOSAGE",
                "Spans": [random_span(rng) for _ in range(rng.randint(0, 2))],
            }
            insight["Attributes"].append(attribute)
            for rank, span in enumerate(attribute["Spans"] or [None]):
                attribute_rows.append((key, a, rank, f"a{a}", *span_columns(span)))
        insights.append(insight)
    conversation["ClinicalInsights"] = insights
    return insight_rows, attribute_rows


def random_span(rng: random.Random) -> dict:
    begin = rng.randint(0, 40)
    return {
        "SegmentId": "seg0",
        "BeginCharacterOffset": begin,
        "EndCharacterOffset": begin + rng.randint(0, 9),
        "Content": "x",
    }


def span_columns(span: dict | None) -> tuple:
    if span is None:
        return None, None, None, None, None
    begin, end = span["BeginCharacterOffset"], span["EndCharacterOffset"]
    return span["SegmentId"], begin, end, end + 1, span["Content"]


def rows_of(table: pa.Table, *columns: str) -> list[tuple]:
    data = table.select(list(columns)).to_pydict()
    return list(zip(*(data[c] for c in columns), strict=True))


@pytest.mark.parametrize("seed", [2026, 8])
def test_random_documents_give_the_rows_they_were_built_with(seed):
    rng = random.Random(seed)
    files, words, segments, insights, attributes = [], [], [], [], []
    for n in range(150):
        ids = (f"rec-{n}", f"job-{n}")
        if rng.random() < 0.4:
            doc, word_rows, segment_rows = random_healthscribe(rng)
            insight_rows, attribute_rows = random_insights(rng, doc["Conversation"])
            segments += [(*ids, *row) for row in segment_rows]
            insights += [(*ids, *row) for row in insight_rows]
            attributes += [(*ids, *row) for row in attribute_rows]
            service = "healthscribe"
        else:
            doc, word_rows = random_transcribe(rng)
            service = "transcribe_medical"
        words += [(*ids, service, *row) for row in word_rows]
        files.append((*ids, json.dumps(doc, indent=rng.choice([None, 2])).encode()))
    for batch_bytes in (20_000, 1 << 24):  # many batches mixing both services, and one
        tables = columnar.flatten_transcripts(files, batch_bytes=batch_bytes)
        assert (
            rows_of(tables["transcript_words"], "recording_id", "job_name", "service", *WORD_COLUMNS) == words
        )
        columns = (
            "recording_id",
            "job_name",
            "segment_id",
            "segment_index",
            "participant_role",
            "section_name",
        )
        assert rows_of(tables["transcript_segments"], *columns, "begin_time", "end_time") == segments
        columns = ("recording_id", "job_name", "insight_id", "insight_index", "span_index", "segment_id")
        columns += ("begin_character_offset", "end_character_offset", "end_exclusive", "content")
        assert rows_of(tables["clinical_insights"], *columns, "confidence", "traits", "negated") == insights
        columns = ("recording_id", "job_name", "insight_id", "attribute_index", "span_index", "attribute_id")
        columns += (
            "segment_id",
            "begin_character_offset",
            "end_character_offset",
            "end_exclusive",
            "content",
        )
        assert rows_of(tables["insight_attributes"], *columns) == attributes
