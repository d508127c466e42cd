"""The transcript flattener (lake/columnar/) on raw bytes: AWS's examples and the offline engine's outputs
against values read plainly from their JSON, derived variants that exercise each rule with the values
they must give, and batching. Files it does not read: test_lake_columnar_errors.py; randomised documents:
test_lake_columnar_random.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake import columnar
from medscribe.lake.columnar.reader import _read, _Unread
from medscribe.lake.schemas import TABLES
from tests.lake.conftest import TOP_LEVEL_CHANNEL_LABELS, rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AWS_TRANSCRIPTS = [
    "healthscribe_transcript",
    "transcribe_medical_speaker_labels",
    "transcribe_medical_channel_id",
]
ENGINE_OUTPUTS = [
    "healthscribe_stereo",
    "healthscribe_mono",
    "transcribe_medical_speakers",
    "transcribe_medical_channels",
    "transcribe_medical_alternatives",
]
ALL_FILES = [("aws", n) for n in AWS_TRANSCRIPTS] + [("engine", n) for n in ENGINE_OUTPUTS]
WORD_COLUMNS = ("item_index", "alternative_rank", "content", "is_punctuation", "start_time", "end_time")
WORD_COLUMNS += ("confidence", "speaker_label", "channel_label", "segment_id", "participant_role")


def load(folder: str, name: str) -> dict:
    return json.loads((FIXTURES / folder / f"{name}.json").read_text())


def as_files(*docs: dict, indent: int | None = None) -> list[tuple[str, str, bytes]]:
    return [(f"rec-{i}", f"job-{i}", json.dumps(doc, indent=indent).encode()) for i, doc in enumerate(docs)]


def flatten(*docs: dict, **options) -> dict[str, pa.Table]:
    return columnar.flatten_transcripts(as_files(*docs), **options)


def number(value) -> float | None:
    return None if value is None or value == "" else float(value)


def words_from_json(doc: dict) -> list[tuple]:
    """The WORD_COLUMNS of a published or engine file, read plainly from its JSON: one row per item
    alternative, times and confidences as floats, HealthScribe's 0/0 punctuation times as nulls; labels
    as the file states them (own labels, labels listed for the same time strings, the HealthScribe
    segment holding the word's midpoint); punctuation without a label takes the word before's."""
    out, previous = [], (None, None, None, None)
    if "Conversation" in doc:
        conversation = doc["Conversation"]
        segments = conversation.get("TranscriptSegments", [])
        for index, item in enumerate(conversation.get("TranscriptItems", [])):
            punct = item["Type"] == "PUNCTUATION"
            start, end = item["BeginAudioTime"], item["EndAudioTime"]
            if not punct:
                mid = (start + end) / 2
                found = [s for s in segments if s["BeginAudioTime"] <= mid <= s["EndAudioTime"]]
                assert len(found) <= 1  # these files' segments do not overlap
                role = found[0]["ParticipantDetails"]["ParticipantRole"] if found else None
                previous = (None, None, found[0]["SegmentId"] if found else None, role)
            elif start == end == 0:
                start = end = None
            for rank, alt in enumerate(item.get("Alternatives") or [{}]):
                out.append(
                    (
                        index,
                        rank,
                        alt.get("Content"),
                        punct,
                        start,
                        end,
                        number(alt.get("Confidence")),
                        *previous,
                    )
                )
        return out
    results = doc["results"]
    listed = {
        (i["start_time"], i["end_time"]): i.get("speaker_label") or s["speaker_label"]
        for s in results.get("speaker_labels", {}).get("segments", [])
        for i in s["items"]
    }
    channels = results.get("channel_labels", {}).get("channels", [])
    on_channel = {
        (i.get("start_time"), i.get("end_time")): c["channel_label"] for c in channels for i in c["items"]
    }
    if results.get("items"):
        stream = [(item, None) for item in results["items"]]
    else:
        stream = [(item, channel["channel_label"]) for channel in channels for item in channel["items"]]
    for index, (item, container) in enumerate(stream):
        punct = item["type"] == "punctuation"
        key = (item.get("start_time"), item.get("end_time"))
        speaker = item.get("speaker_label") or (listed.get(key) if not punct else None)
        channel = item.get("channel_label") or container or (on_channel.get(key) if not punct else None)
        if punct:
            speaker, channel = speaker or previous[0], channel or previous[1]
        else:
            previous = (speaker, channel, None, None)
        start, end = number(item.get("start_time")), number(item.get("end_time"))
        for rank, alt in enumerate(item.get("alternatives") or [{}]):
            content, confidence = alt.get("content"), number(alt.get("confidence"))
            out.append((index, rank, content, punct, start, end, confidence, speaker, channel, None, None))
    return out


# --- the published and engine files ------------------------------------------------------------

# rows of (words, segments, insights, attributes), the engine's labels (flattened by parse.py before 2026-12-06)
COUNTS = {
    "healthscribe_transcript": (9, 6, 6, 1),
    "transcribe_medical_speaker_labels": (3, 0, 0, 0),
    "transcribe_medical_channel_id": (6, 0, 0, 0),
    "healthscribe_stereo": (97, 12, 7, 1),
    "healthscribe_mono": (99, 15, 3, 0),
    "transcribe_medical_speakers": (99, 0, 0, 0),
    "transcribe_medical_channels": (97, 0, 0, 0),
    "transcribe_medical_alternatives": (62, 0, 0, 0),
}


@pytest.mark.parametrize("folder, name", ALL_FILES)
def test_each_file_gives_the_rows_its_json_states(folder, name):
    data = (FIXTURES / folder / f"{name}.json").read_bytes()  # as published / as the engine wrote it
    tables = columnar.flatten_transcripts([("rec-1", "job-1", data)])
    for table_name, table in tables.items():
        assert table.schema.equals(TABLES[table_name], check_metadata=True), table_name
        assert set(table["recording_id"].to_pylist()) <= {"rec-1"}
    assert tuple(t.num_rows for t in tables.values()) == COUNTS[name]
    words = tables["transcript_words"]
    assert rows(words, *WORD_COLUMNS) == words_from_json(json.loads(data))
    service = "healthscribe" if "Conversation" in json.loads(data) else "transcribe_medical"
    assert set(words["service"].to_pylist()) == {service}
    segments = json.loads(data).get("Conversation", {}).get("TranscriptSegments", [])
    assert rows(tables["transcript_segments"], "segment_id", "begin_time", "end_time", "content") == [
        (s["SegmentId"], s["BeginAudioTime"], s["EndAudioTime"], s["Content"]) for s in segments
    ]


def test_engine_files_label_every_word():
    """The engine's files carry labels for every word (roles, speakers, channels), in both services."""
    speakers = flatten(load("engine", "transcribe_medical_speakers"))["transcript_words"]
    assert speakers["speaker_label"].null_count == 0 and set(speakers["speaker_label"].to_pylist()) == {
        "spk_0",
        "spk_1",
    }
    channels = flatten(load("engine", "transcribe_medical_channels"))["transcript_words"]
    assert channels["channel_label"].null_count == 0 and set(channels["channel_label"].to_pylist()) == {
        "ch_0",
        "ch_1",
    }
    for name in ("healthscribe_stereo", "healthscribe_mono"):
        words = flatten(load("engine", name))["transcript_words"]
        assert words["segment_id"].null_count == 0, name
        assert set(words["participant_role"].to_pylist()) == {"CLINICIAN_0", "PATIENT_0"}, name


def test_engine_stereo_golden():
    tables = flatten(load("engine", "healthscribe_stereo"))
    words = tables["transcript_words"]
    first = words.slice(0, 3).to_pylist()
    assert [w["content"] for w in first] == ["Good", "morning", ","]
    assert first[2]["is_punctuation"] and first[2]["segment_id"] == first[1]["segment_id"]
    insights = tables["clinical_insights"].to_pylist()
    by_content = {(i["content"], i["category"], i["negated"]) for i in insights}
    assert ("metformin", "MEDICATION", False) in by_content
    assert (
        "chest pain",
        "MEDICAL_CONDITION",
        True,
    ) in by_content  # "Do you have any chest pain?" "No chest pain."
    segments = {s["segment_id"]: s["content"] for s in tables["transcript_segments"].to_pylist()}
    for insight in insights:  # AWS's end-inclusive offsets, as the engine writes them
        text = segments[insight["segment_id"]]
        assert text[insight["begin_character_offset"] : insight["end_exclusive"]] == insight["content"]


def test_all_files_in_one_batch_keep_file_order():
    files = [
        (f"rec-{i}", f"job-{i}", (FIXTURES / d / f"{n}.json").read_bytes())
        for i, (d, n) in enumerate(ALL_FILES)
    ]
    files += files[:2]  # the same recording twice: rows follow the files, not the ids
    batch = columnar.flatten_transcripts(files)
    alone = [columnar.flatten_transcripts([file]) for file in files]
    for name, table in batch.items():
        assert table.equals(pa.concat_tables([tables[name] for tables in alone])), name
    ids = batch["transcript_words"]["recording_id"].unique().to_pylist()
    assert ids == [f"rec-{i}" for i in range(len(ALL_FILES))]


def test_batches_of_any_size_give_the_same_tables():
    files = as_files(*(load("engine", n) for n in ENGINE_OUTPUTS))
    one_batch = columnar.flatten_transcripts(files)
    file_by_file = columnar.flatten_transcripts(files, batch_bytes=1, use_threads=False)
    for name in one_batch:
        assert one_batch[name].equals(file_by_file[name])


def test_file_with_results_beside_its_conversation_is_read_as_healthscribe_only():
    both = load("engine", "healthscribe_mono")
    both["results"] = load("engine", "transcribe_medical_speakers")["results"]
    files = as_files(
        load("engine", "transcribe_medical_channels"), both, load("aws", "transcribe_medical_channel_id")
    )
    for threads in (True, False):  # one block per batch (one thread) or per file (threads)
        words = columnar.flatten_transcripts(files, use_threads=threads)["transcript_words"]
        mine = words.filter(pa.compute.equal(words["job_name"], "job-1"))
        assert set(mine["service"].to_pylist()) == {"healthscribe"}
        assert rows(mine, *WORD_COLUMNS) == words_from_json(load("engine", "healthscribe_mono"))
        assert words.num_rows == 97 + 99 + 6


# --- derived variants: each rule, with the values it must give ----------------------------------


def test_healthscribe_variants():
    hs = load("aws", "healthscribe_transcript")
    extra_alternative = copy.deepcopy(hs)
    extra_alternative["Conversation"]["TranscriptItems"][5]["Alternatives"].append(
        {"Confidence": 0.4, "Content": "Ewe"}
    )
    words = flatten(extra_alternative)["transcript_words"]
    assert rows(words, "item_index", "alternative_rank", "content", "confidence", "segment_id")[5:7] == [
        (5, 0, "You", 0.9924, "uuid3"),
        (5, 1, "Ewe", 0.4, "uuid3"),
    ]

    no_sections = copy.deepcopy(hs)
    for segment in no_sections["Conversation"]["TranscriptSegments"]:
        del segment["SectionDetails"]
    assert flatten(no_sections)["transcript_segments"]["section_name"].null_count == 6

    overlapping = copy.deepcopy(hs)  # a long segment under a short one: the latest begin wins
    segments = overlapping["Conversation"]["TranscriptSegments"]
    segments[0]["EndAudioTime"] = 10.0
    segments[1]["BeginAudioTime"], segments[1]["EndAudioTime"] = 0.61, 0.7
    words = flatten(overlapping)["transcript_words"]
    # 'Good' (mid 0.765) lies only in the long uuid1; 'You' (1.715) in uuid1 and uuid3, which begins later
    assert words["segment_id"].to_pylist() == ["uuid1"] * 5 + ["uuid3"] * 4

    no_alternatives = copy.deepcopy(hs)
    no_alternatives["Conversation"]["TranscriptItems"][2]["Alternatives"] = []
    del no_alternatives["Conversation"]["TranscriptItems"][3]["Alternatives"]
    words = flatten(no_alternatives)["transcript_words"]
    assert words.num_rows == 9  # one row with null content for an item without alternatives
    assert rows(words, "item_index", "alternative_rank", "content", "confidence", "start_time")[2:4] == [
        (2, 0, None, None, 0.61),
        (3, 0, None, None, 0.92),
    ]

    insights = copy.deepcopy(hs)
    first = insights["Conversation"]["ClinicalInsights"][0]
    first["Traits"] = [{"Name": "NEGATION", "Score": 0.9}, {"Name": "DIAGNOSIS"}]
    first["Confidence"] = 0.87
    del first["InsightId"]
    insights["Conversation"]["ClinicalInsights"][1]["Spans"] = []
    insights["Conversation"]["ClinicalInsights"][2]["Traits"] = []
    got = flatten(insights)["clinical_insights"]
    columns = ("insight_id", "insight_index", "span_index", "segment_id", "end_exclusive", "confidence")
    assert rows(got, *columns, "traits", "negated")[:3] == [
        ("#0", 0, 0, "uuid1", 16, 0.87, "NEGATION,DIAGNOSIS", True),  # no InsightId: keyed by position
        ("insightUUID2", 1, 0, None, None, None, None, None),  # no spans: one row, span columns null
        ("insightUUID3", 2, 0, "uuid3", 24, None, "", False),  # an empty Traits list
    ]

    tables = flatten({"Conversation": {}})
    assert all(table.num_rows == 0 for table in tables.values())


def test_transcribe_variants(tm_channels_top_level):
    speakers = load("aws", "transcribe_medical_speaker_labels")

    by_id = copy.deepcopy(speakers)  # ids on items; one speaker item found only by id, one item by span
    for i, item in enumerate(by_id["results"]["items"]):
        item["id"] = i
    by_id["results"]["speaker_labels"]["segments"][0]["items"][1] = {"id": 1, "speaker_label": "spk_1"}
    by_id["results"]["items"].append(
        {
            "id": 3,
            "start_time": "1.250",
            "end_time": "1.400",
            "type": "pronunciation",
            "alternatives": [{"confidence": "0.5", "content": "x"}],
        }
    )
    string_ids = copy.deepcopy(by_id)  # string ids: a hash join instead of packed integer keys
    for item in (
        string_ids["results"]["items"] + string_ids["results"]["speaker_labels"]["segments"][0]["items"]
    ):
        if "id" in item:
            item["id"] = f"i{item['id']}"
    for doc in (by_id, string_ids):
        words = flatten(doc)["transcript_words"]
        assert words["speaker_label"].to_pylist() == ["spk_0", "spk_1", "spk_1", "spk_0"]

    long_recording = copy.deepcopy(speakers)  # times past 4.6 hours do not fit the packed keys
    for item in (
        long_recording["results"]["items"]
        + long_recording["results"]["speaker_labels"]["segments"][0]["items"]
    ):
        for key in ("start_time", "end_time"):
            if key in item:
                item[key] = f"{float(item[key]) + 20000:.3f}"
    words = flatten(long_recording)["transcript_words"]
    assert rows(words, "start_time", "speaker_label") == [
        (20000.1, "spk_0"),
        (20000.69, "spk_0"),
        (None, "spk_0"),
    ]

    relabelled = copy.deepcopy(speakers)  # the same item listed twice: the later label wins
    segment = relabelled["results"]["speaker_labels"]["segments"][0]
    segment["items"].append(dict(segment["items"][0], speaker_label="spk_7"))
    assert flatten(relabelled)["transcript_words"]["speaker_label"].to_pylist() == ["spk_7", "spk_0", "spk_0"]

    # top-level items without labels, joined to the channels' items by time (the fixture says how derived)
    words = flatten(tm_channels_top_level)["transcript_words"]
    assert rows(words, "content", "channel_label") == TOP_LEVEL_CHANNEL_LABELS

    own_labels = copy.deepcopy(speakers)
    own_labels["results"]["items"][0]["speaker_label"] = "spk_9"
    own_labels["results"]["items"][1]["channel_label"] = "ch_1"
    words = flatten(own_labels)["transcript_words"]
    assert rows(words, "speaker_label", "channel_label") == [
        ("spk_9", None),
        ("spk_0", "ch_1"),
        ("spk_0", "ch_1"),
    ]

    null_alternative = copy.deepcopy(speakers)  # a null inside a list: a row with null content
    null_alternative["results"]["items"][0]["alternatives"].insert(0, None)
    words = flatten(null_alternative)["transcript_words"]
    assert rows(words, "item_index", "alternative_rank", "content", "confidence")[:2] == [
        (0, 0, None, None),
        (0, 1, "Professional", 0.8162),
    ]

    assert flatten({"results": {}})["transcript_words"].num_rows == 0


def test_unknown_fields_and_pretty_printing_change_nothing():
    hs, tm = load("aws", "healthscribe_transcript"), load("aws", "transcribe_medical_speaker_labels")
    expected = flatten(hs, tm)
    hs["SchemaVersion"] = "9"
    hs["Conversation"]["TranscriptItems"][0]["VocabularyFilterMatch"] = False
    tm["results"]["language_identification"] = [{"code": "en-US"}]
    tm["results"]["items"][0]["alternatives"][0]["redactions"] = []
    got = columnar.flatten_transcripts(as_files(hs, tm, indent=4))
    windows = json.dumps(tm, indent=2).replace("\n", "\r\n").encode() + b"\r\n\n"  # CRLF, trailing newlines
    crlf = columnar.flatten_transcripts(
        [("rec-0", "job-0", b"\n" + json.dumps(hs).encode()), ("rec-1", "job-1", windows)]
    )
    for name, table in expected.items():
        assert got[name].equals(table) and crlf[name].equals(table), name


def test_string_numbers_convert_as_float_does():
    formats = [
        repr,
        "{:.3f}".format,
        "{:.6f}".format,
        "{:.1e}".format,
        "{:g}".format,
        lambda x: str(round(x)),
    ]
    formats.append(lambda x: f"{x:.4f}".lstrip("0"))
    items, t, step = [], 0.0, 0.37
    for i in range(3000):
        fmt, begin, t = formats[i % len(formats)], t, t + step * (1 + i % 5) / 3
        alternative = {"confidence": fmt((i % 97) / 97), "content": f"w{i}"}
        items.append(
            {
                "start_time": fmt(begin),
                "end_time": fmt(t),
                "type": "pronunciation",
                "alternatives": [alternative],
            }
        )
    words = flatten({"results": {"items": items}})["transcript_words"]
    assert rows(words, "start_time", "end_time", "confidence") == [
        (float(i["start_time"]), float(i["end_time"]), float(i["alternatives"][0]["confidence"]))
        for i in items
    ]


def test_times_as_numbers_in_one_file_and_strings_in_another():
    """One Arrow column cannot hold both types: the batch is read file by file, with the same rows."""
    tm = load("aws", "transcribe_medical_speaker_labels")
    numeric = copy.deepcopy(tm)
    for item in numeric["results"]["items"]:
        for key in ("start_time", "end_time"):
            if key in item:
                item[key] = float(item[key])
    with pytest.raises(_Unread):
        _read(as_files(tm, numeric), use_threads=False)
    words = flatten(tm, numeric)["transcript_words"]
    assert words["job_name"].to_pylist() == ["job-0"] * 3 + ["job-1"] * 3
    expected = rows(flatten(tm)["transcript_words"], *WORD_COLUMNS)
    assert rows(words, *WORD_COLUMNS) == expected + expected


def test_no_files_give_empty_tables_with_the_schemas():
    tables = columnar.flatten_transcripts([])
    assert set(tables) == set(columnar.TRANSCRIPT_TABLES)
    for name, table in tables.items():
        assert table.num_rows == 0 and table.schema.equals(TABLES[name], check_metadata=True)
