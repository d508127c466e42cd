"""The column-wise flattener (lake/columnar/) gives exactly parse.py's rows: on AWS's examples, on the
offline engine's outputs, on derived variants that exercise each rule, and through its fallbacks."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake import columnar
from medscribe.lake.parse import healthscribe_transcript_tables, transcribe_medical_words_table
from medscribe.lake.schemas import TABLES

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


def load(folder: str, name: str) -> dict:
    return json.loads((FIXTURES / folder / f"{name}.json").read_text())


def reference(files: list[tuple[str, str, bytes]]) -> dict[str, pa.Table]:
    """parse.py on each file (json.loads first), concatenated: what the fast path must equal."""
    parts = {name: [] for name in columnar.TRANSCRIPT_TABLES}
    for recording_id, job_name, data in files:
        doc = json.loads(data)
        ids = {"recording_id": recording_id, "job_name": job_name}
        if "Conversation" in doc:
            tables = healthscribe_transcript_tables(doc, **ids, with_insights=True)
        else:
            tables = {"transcript_words": transcribe_medical_words_table(doc, **ids)}
        for name in parts:
            parts[name].append(tables.get(name, TABLES[name].empty_table()))
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def as_files(*docs: dict, indent: int | None = None) -> list[tuple[str, str, bytes]]:
    return [(f"rec-{i}", f"job-{i}", json.dumps(doc, indent=indent).encode()) for i, doc in enumerate(docs)]


def assert_same(files: list[tuple[str, str, bytes]], **options) -> dict[str, int]:
    """Flatten column-wise and through parse.py; the tables must be equal, schemas and metadata included."""
    counts: dict[str, int] = {}
    got = columnar.flatten_transcripts(files, counts=counts, **options)
    expected = reference(files)
    assert set(got) == set(expected)
    for name, table in expected.items():
        assert got[name].schema.equals(TABLES[name], check_metadata=True), name
        assert got[name].num_rows == table.num_rows, name
        assert comparable(got[name]) == comparable(table), name
    return counts


def comparable(table: pa.Table) -> list[dict]:
    """Rows with NaN spelled "NaN" (NaN != NaN), for equality."""
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]


# --- the published and engine files ------------------------------------------------------------


@pytest.mark.parametrize(
    "folder, name", [("aws", n) for n in AWS_TRANSCRIPTS] + [("engine", n) for n in ENGINE_OUTPUTS]
)
def test_each_file_alone_matches_parse(folder, name):
    data = (FIXTURES / folder / f"{name}.json").read_bytes()  # as published / as the engine wrote it
    counts = assert_same([("rec-1", "job-1", data)])
    assert counts == {"columnar": 1, "reference": 0}


def test_all_files_in_one_batch_keep_file_order():
    names = [("aws", n) for n in AWS_TRANSCRIPTS] + [("engine", n) for n in ENGINE_OUTPUTS]
    files = [
        (f"rec-{i}", f"job-{i}", (FIXTURES / d / f"{n}.json").read_bytes()) for i, (d, n) in enumerate(names)
    ]
    files += files[:2]  # the same recording twice: rows follow the files, not the ids
    counts = assert_same(files)
    assert counts == {"columnar": len(files), "reference": 0}
    words = columnar.flatten_transcripts(files)["transcript_words"]
    assert words.num_rows > 400
    services = words.column("service").to_pylist()
    assert services[0] == "healthscribe" and "transcribe_medical" in services


def test_batches_of_any_size_give_the_same_tables():
    files = as_files(*(load("engine", n) for n in ENGINE_OUTPUTS))
    one_batch = columnar.flatten_transcripts(files)
    file_by_file = columnar.flatten_transcripts(files, batch_bytes=1, use_threads=False)
    for name in one_batch:
        assert one_batch[name].equals(file_by_file[name])


def test_file_with_results_beside_its_conversation_is_read_as_healthscribe_only():
    both = load("engine", "healthscribe_mono")
    both["results"] = load("engine", "transcribe_medical_speakers")[
        "results"
    ]  # parse.py: a HealthScribe file
    files = as_files(
        load("engine", "transcribe_medical_channels"), both, load("aws", "transcribe_medical_channel_id")
    )
    for threads in (True, False):  # one block per batch (one thread) or per file (threads)
        counts = assert_same(files, use_threads=threads)
        assert counts == {"columnar": 3, "reference": 0}
    words = columnar.flatten_transcripts(files)["transcript_words"]
    assert set(words.filter(pa.compute.equal(words["job_name"], "job-1"))["service"].to_pylist()) == {
        "healthscribe"
    }


def test_engine_stereo_golden():
    """Content checks on the engine's stereo HealthScribe file, beyond equality with parse.py."""
    tables = columnar.flatten_transcripts(as_files(load("engine", "healthscribe_stereo")))
    words = tables["transcript_words"]
    first = words.slice(0, 3).to_pylist()
    assert [w["content"] for w in first] == ["Good", "morning", ","]
    assert first[2]["is_punctuation"] and first[2]["segment_id"] == first[1]["segment_id"]
    assert {w["participant_role"] for w in words.to_pylist()} == {"CLINICIAN_0", "PATIENT_0"}
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


# --- derived variants: each rule ----------------------------------------------------------------


def test_healthscribe_variants():
    hs = load("aws", "healthscribe_transcript")
    extra_alternative = copy.deepcopy(hs)
    extra_alternative["Conversation"]["TranscriptItems"][5]["Alternatives"].append(
        {"Confidence": 0.4, "Content": "Ewe"}
    )
    no_sections = copy.deepcopy(hs)
    for segment in no_sections["Conversation"]["TranscriptSegments"]:
        del segment["SectionDetails"]
    overlapping = copy.deepcopy(hs)  # a long segment under two short ones: the backward scan of parse.py
    segments = overlapping["Conversation"]["TranscriptSegments"]
    segments[0]["EndAudioTime"] = 10.0
    segments[1]["BeginAudioTime"], segments[1]["EndAudioTime"] = 0.61, 0.7
    no_alternatives = copy.deepcopy(hs)
    no_alternatives["Conversation"]["TranscriptItems"][2]["Alternatives"] = []
    del no_alternatives["Conversation"]["TranscriptItems"][3]["Alternatives"]
    insights = copy.deepcopy(hs)
    first = insights["Conversation"]["ClinicalInsights"][0]
    first["Traits"] = [{"Name": "NEGATION", "Score": 0.9}, {"Name": "DIAGNOSIS"}]
    first["Confidence"] = 0.87
    del first["InsightId"]
    insights["Conversation"]["ClinicalInsights"][1]["Spans"] = []
    insights["Conversation"]["ClinicalInsights"][2]["Traits"] = []
    empty = {"Conversation": {}}
    files = as_files(hs, extra_alternative, no_sections, overlapping, no_alternatives, insights, empty)
    assert assert_same(files) == {"columnar": len(files), "reference": 0}
    got = columnar.flatten_transcripts(as_files(overlapping))["transcript_words"]
    assert got.column("segment_id").to_pylist()[2:4] == [
        "uuid1",
        "uuid1",
    ]  # 'Good' lies in both: latest begin wins


def test_transcribe_variants():
    speakers = load("aws", "transcribe_medical_speaker_labels")
    channels = load("aws", "transcribe_medical_channel_id")
    by_id = copy.deepcopy(speakers)  # ids on items, one speaker item found only by id, one item found by span
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
    top_level = copy.deepcopy(channels)  # top-level items joined to channel items by time
    channel_items = [
        item for channel in top_level["results"]["channel_labels"]["channels"] for item in channel["items"]
    ]
    top_level["results"]["items"] = sorted(
        (dict(item, start_time=str(float(item["start_time"]))) for item in channel_items),
        key=lambda i: float(i["start_time"]),
    )
    top_level["results"]["items"].insert(2, {"type": "punctuation", "alternatives": [{"content": ","}]})
    alternatives = copy.deepcopy(speakers)
    alternatives["results"]["items"][0]["alternatives"].append(
        {"confidence": "0.1", "content": "Confessional"}
    )
    own_labels = copy.deepcopy(speakers)
    own_labels["results"]["items"][0]["speaker_label"] = "spk_9"
    own_labels["results"]["items"][1]["channel_label"] = "ch_1"
    string_ids = copy.deepcopy(by_id)  # string ids: joined by a hash join instead of packed integer keys
    for item in (
        string_ids["results"]["items"] + string_ids["results"]["speaker_labels"]["segments"][0]["items"]
    ):
        if "id" in item:
            item["id"] = f"i{item['id']}"
    long_recording = copy.deepcopy(speakers)  # times past 4.6 hours do not fit the packed keys either
    for item in (
        long_recording["results"]["items"]
        + long_recording["results"]["speaker_labels"]["segments"][0]["items"]
    ):
        for key in ("start_time", "end_time"):
            if key in item:
                item[key] = f"{float(item[key]) + 20000:.3f}"
    relabelled = copy.deepcopy(speakers)  # the same item listed twice: the later label wins, as in a dict
    segment = relabelled["results"]["speaker_labels"]["segments"][0]
    segment["items"].append(dict(segment["items"][0], speaker_label="spk_7"))
    null_alternative = copy.deepcopy(speakers)  # a null inside a list: a row with null content
    null_alternative["results"]["items"][0]["alternatives"].insert(0, None)
    empty = {"results": {}}
    files = as_files(
        speakers,
        channels,
        by_id,
        string_ids,
        long_recording,
        relabelled,
        top_level,
        alternatives,
        own_labels,
        null_alternative,
        empty,
    )
    assert assert_same(files) == {"columnar": len(files), "reference": 0}
    for doc in (by_id, string_ids):
        got = columnar.flatten_transcripts(as_files(doc))["transcript_words"]
        assert got.column("speaker_label").to_pylist() == ["spk_0", "spk_1", "spk_1", "spk_0"]
    got = columnar.flatten_transcripts(as_files(relabelled))["transcript_words"]
    assert got.column("speaker_label").to_pylist()[0] == "spk_7"


def test_unknown_fields_and_pretty_printing():
    hs, tm = load("aws", "healthscribe_transcript"), load("aws", "transcribe_medical_speaker_labels")
    hs["SchemaVersion"] = "9"
    hs["Conversation"]["TranscriptItems"][0]["VocabularyFilterMatch"] = False
    tm["results"]["language_identification"] = [{"code": "en-US"}]
    tm["results"]["items"][0]["alternatives"][0]["redactions"] = []
    assert assert_same(as_files(hs, tm, indent=4)) == {"columnar": 2, "reference": 0}
    windows = json.dumps(tm, indent=2).replace("\n", "\r\n").encode() + b"\r\n\n"  # CRLF, trailing newlines
    assert assert_same(
        [("rec-1", "job-1", windows), ("rec-2", "job-2", b"\n" + json.dumps(hs).encode())]
    ) == {
        "columnar": 2,
        "reference": 0,
    }


def test_string_numbers_convert_as_float_does():
    rng = random.Random(8)
    formats = [
        lambda x: f"{x:.3f}",
        lambda x: f"{x:.6f}",
        lambda x: repr(x),
        lambda x: f"{x:.1e}",
        lambda x: f"{x:g}",
        lambda x: str(round(x)),
        lambda x: f"{x:.4f}".lstrip("0"),
    ]
    items, t = [], 0.0
    for i in range(3000):
        begin, t = t, t + rng.random()
        fmt = formats[i % len(formats)]
        items.append(
            {
                "start_time": fmt(begin),
                "end_time": fmt(t),
                "type": "pronunciation",
                "alternatives": [{"confidence": fmt(rng.random()), "content": f"w{i}"}],
            }
        )
    assert assert_same(as_files({"results": {"items": items}})) == {"columnar": 1, "reference": 0}


# --- fallbacks and errors ------------------------------------------------------------------------


def test_times_as_numbers_in_one_file_and_strings_in_another():
    """One batch cannot hold both types in a column: each file then goes alone, still column-wise."""
    tm = load("aws", "transcribe_medical_speaker_labels")
    numeric = copy.deepcopy(tm)
    for item in numeric["results"]["items"]:
        for key in ("start_time", "end_time"):
            if key in item:
                item[key] = float(item[key])
    assert assert_same(as_files(tm, numeric)) == {"columnar": 2, "reference": 0}


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: doc["results"]["items"][0].update(start_time="1_0"),  # float() reads it, Arrow does not
        lambda doc: doc["results"]["items"][0].update(start_time="nan"),  # a NaN time
        lambda doc: doc["results"]["items"][1]["alternatives"][0].update(
            confidence="inf"
        ),  # kept by parse.py
        lambda doc: doc["results"]["items"][0].update(speaker_label=""),  # empty label: `or` semantics
        lambda doc: doc["results"]["items"][0].update(id=1.5),  # an id parse.py does not use
    ],
)
def test_shapes_left_to_parse_py_give_its_rows(change):
    good, odd = (
        load("aws", "transcribe_medical_speaker_labels"),
        load("aws", "transcribe_medical_speaker_labels"),
    )
    change(odd)
    counts = assert_same(as_files(good, odd, good))
    assert counts["reference"] == 1 and counts["columnar"] == 2


def test_json_nan_literal_goes_to_parse_py():
    tm = load("aws", "transcribe_medical_speaker_labels")
    data = json.dumps(tm).replace('"confidence": "0.8162"', '"confidence": NaN').encode()
    counts = assert_same([("rec-1", "job-1", data)])
    assert counts == {"columnar": 0, "reference": 1}


def test_bad_files_raise_with_position_and_without_content():
    good = (FIXTURES / "aws" / "healthscribe_transcript.json").read_bytes()
    cases = {
        b"{ Okay": "file 1: not valid JSON",
        (
            FIXTURES / "aws" / "healthscribe_clinical_document.json"
        ).read_bytes(): "file 1: expected a HealthScribe",
        b"": "file 1: not valid JSON",
        b'["Okay"]': "file 1: expected a HealthScribe",
        json.dumps(
            {"results": {"items": [{"start_time": "answer-secret"}]}}
        ).encode(): r"file 1: items[0].start_time is not a number",
    }
    for data, message in cases.items():
        with pytest.raises(ValueError) as raised:
            columnar.flatten_transcripts([("rec-0", "job-0", good), ("rec-1", "job-1", data)])
        assert str(raised.value).startswith(message), str(raised.value)
        assert raised.value.__cause__ is None
        for secret in ("Okay", "secret", "phentermine", "mammogram"):
            assert secret not in str(raised.value)


def test_empty_ids_are_refused():
    with pytest.raises(ValueError, match="recording_id"):
        columnar.flatten_transcripts([("", "job-1", b'{"results": {}}')])


def test_no_files_give_empty_tables_with_the_schemas():
    tables = columnar.flatten_transcripts([])
    assert set(tables) == set(columnar.TRANSCRIPT_TABLES)
    for name, table in tables.items():
        assert table.num_rows == 0 and table.schema.equals(TABLES[name], check_metadata=True)


# --- randomised documents: every rule against parse.py at once ----------------------------------------


def random_transcribe(rng: random.Random) -> dict:
    """A Transcribe output with random gaps: missing times, types and alternatives, ids on some files,
    own labels, speaker items joined by id or by differently formatted times, overlapping speaker
    segments, duplicated entries, channel items with or without top-level items."""
    with_ids = rng.random() < 0.5
    items, t = [], 0.0
    for i in range(rng.randint(0, 25)):
        item: dict = {}
        if rng.random() < 0.9:
            item["type"] = rng.choice(["pronunciation", "pronunciation", "punctuation", "PUNCTUATION"])
        if item.get("type", "").lower() != "punctuation" or rng.random() < 0.2:
            begin, t = t, t + rng.choice([0.1, 0.25, 0.333, 0.5])
            item["start_time"], item["end_time"] = f"{begin:.3f}", f"{t:.3f}"
        if rng.random() < 0.9:
            item["alternatives"] = [
                {
                    k: v
                    for k, v in (
                        ("content", f"w{i}{a}"),
                        ("confidence", rng.choice(["0.5", "1.0", "", None])),
                    )
                    if v is not None
                }
                for a in range(rng.choice([0, 1, 1, 1, 2, 3]))
            ]
        if with_ids:
            item["id"] = i
        if rng.random() < 0.1:
            item["speaker_label"] = "spk_own"
        if rng.random() < 0.1:
            item["channel_label"] = "ch_own"
        items.append(item)
    results: dict = {"items": items} if rng.random() < 0.8 else {}
    if rng.random() < 0.7:
        segments = []
        for _ in range(rng.randint(0, 5)):
            begin = rng.uniform(0, max(t, 1))
            segment = {
                "start_time": f"{begin:.2f}",
                "end_time": f"{begin + rng.uniform(0, 3):.2f}",
                "items": [],
            }
            if rng.random() < 0.9:
                segment["speaker_label"] = rng.choice(["spk_0", "spk_1"])
            for item in rng.sample(items, min(len(items), rng.randint(0, 6))):
                entry = {
                    k: item[k] for k in ("id", "start_time", "end_time") if k in item and rng.random() < 0.8
                }
                if "start_time" in entry:  # the same time written another way
                    entry["start_time"] = str(float(entry["start_time"]))
                if rng.random() < 0.7:
                    entry["speaker_label"] = rng.choice(["spk_0", "spk_1", "spk_2"])
                segment["items"].append(entry)
            segments.append(segment)
        results["speaker_labels"] = {"segments": segments}
    if rng.random() < 0.5:
        channels = []
        for c in range(rng.randint(0, 2)):
            channel_items = [dict(item) for item in rng.sample(items, min(len(items), rng.randint(0, 8)))]
            channel = {"items": channel_items}
            if rng.random() < 0.9:
                channel["channel_label"] = f"ch_{c}"
            channels.append(channel)
        results["channel_labels"] = {"channels": channels}
    return {"results": results}


def random_healthscribe(rng: random.Random) -> dict:
    """A HealthScribe transcript with random gaps: 0/0 punctuation, integer confidences, items without
    alternatives, overlapping and untimed segments, insights with and without ids, spans, traits."""
    items, t = [], 0.0
    for _ in range(rng.randint(0, 25)):
        kind = rng.choice(["PRONUNCIATION", "PRONUNCIATION", "PUNCTUATION", "Punctuation"])
        begin, t = t, t + rng.choice([0.1, 0.25, 0.5, 1])
        item: dict = {"Type": kind, "BeginAudioTime": begin, "EndAudioTime": t}
        if kind.upper() == "PUNCTUATION" and rng.random() < 0.5:
            item["BeginAudioTime"] = item["EndAudioTime"] = 0
        if rng.random() < 0.9:
            item["Alternatives"] = [
                {"Content": f"w{a}", "Confidence": rng.choice([0, 1, 0.5, 0.9924])}
                for a in range(rng.choice([0, 1, 1, 2]))
            ]
        items.append(item)
    segments = []
    for s in range(rng.randint(0, 6)):
        begin = rng.uniform(0, max(t, 1))
        segment: dict = {
            "SegmentId": f"seg{s}",
            "Content": "text",
            "ParticipantDetails": {"ParticipantRole": f"R_{s}"},
        }
        if rng.random() < 0.9:
            segment["BeginAudioTime"], segment["EndAudioTime"] = (
                round(begin, 2),
                round(begin + rng.uniform(0, 4), 2),
            )
        if rng.random() < 0.5:
            segment["SectionDetails"] = {"SectionName": "SUBJECTIVE"}
        segments.append(segment)
    insights = []
    for n in range(rng.randint(0, 4)):
        insight: dict = {"Category": "MEDICATION", "Type": "GENERIC_NAME", "InsightType": "ClinicalEntity"}
        if rng.random() < 0.7:
            insight["InsightId"] = rng.choice([f"ins{n}", ""])
        span = {"SegmentId": "seg0", "BeginCharacterOffset": 1, "EndCharacterOffset": 3, "Content": "ext"}
        insight["Spans"] = [dict(span) for _ in range(rng.randint(0, 2))]
        insight["Attributes"] = [
            {
                "AttributeId": f"a{a}",
                "Type": "DOSAGE",
                "Spans": [dict(span) for _ in range(rng.randint(0, 2))],
            }
            for a in range(rng.randint(0, 2))
        ]
        if rng.random() < 0.5:
            insight["Traits"] = [
                {"Name": rng.choice(["NEGATION", "DIAGNOSIS"])} for _ in range(rng.randint(0, 2))
            ]
        if rng.random() < 0.5:
            insight["Confidence"] = rng.choice([1, 0.75])
        insights.append(insight)
    return {
        "Conversation": {
            "TranscriptItems": items,
            "TranscriptSegments": segments,
            "ClinicalInsights": insights,
        }
    }


def test_random_documents_match_parse():
    rng = random.Random(2026)
    docs = [random_healthscribe(rng) if rng.random() < 0.4 else random_transcribe(rng) for _ in range(150)]
    files = as_files(*docs)
    counts = assert_same(files, batch_bytes=20_000)  # many batches, each mixing both services
    assert counts["columnar"] + counts["reference"] == len(files)
    assert counts["columnar"] >= 0.9 * len(files), counts
