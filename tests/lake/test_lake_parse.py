"""Golden tests of the AWS-output flatteners on AWS's own published example files."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest

from medscribe.lake.parse import document_kind, healthscribe_transcript_tables, transcribe_medical_words_table
from medscribe.lake.schemas import TABLES
from tests.lake.conftest import IDS, TOP_LEVEL_CHANNEL_LABELS, rows

# --- HealthScribe transcript -------------------------------------------------------------------


def test_healthscribe_tables_have_the_declared_schemas(hs_transcript):
    tables = healthscribe_transcript_tables(hs_transcript, **IDS)
    assert set(tables) == {"transcript_words", "transcript_segments"}
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name], check_metadata=True)


def test_healthscribe_words_golden(hs_transcript):
    words = healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_words"]
    assert words.num_rows == 9
    assert rows(words, "item_index", "content", "is_punctuation", "start_time", "end_time", "confidence") == [
        (0, "Okay", False, 0.16, 0.6, 0.7925),
        (1, ".", True, 0.17, 0.9, 0.0),  # punctuation overlapping the word before: times kept
        (2, "Good", False, 0.61, 0.92, 1.0),  # integer confidence 1 -> 1.0
        (3, "afternoon", False, 0.92, 1.54, 1.0),
        (4, ".", True, None, None, 0.0),  # 0/0 placeholder times -> null
        (5, "You", False, 1.55, 1.88, 0.9924),
        (6, "lost", False, 1.88, 2.19, 1.0),
        (7, "one", False, 2.19, 2.4, 1.0),
        (8, "lb", False, 2.4, 2.97, 1.0),
    ]
    assert set(words.column("service").to_pylist()) == {"healthscribe"}
    assert set(words.column("recording_id").to_pylist()) == {"rec-1"}
    assert set(words.column("alternative_rank").to_pylist()) == {0}
    assert words.column("speaker_label").null_count == words.column("channel_label").null_count == 9


def test_healthscribe_words_get_segment_by_midpoint_and_punctuation_inherits(hs_transcript):
    words = healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_words"]
    assert words.column("segment_id").to_pylist() == [
        "uuid1",
        "uuid1",
        "uuid2",
        "uuid2",
        "uuid2",
        "uuid3",
        "uuid3",
        "uuid3",
        "uuid3",
    ]
    assert set(words.column("participant_role").to_pylist()) == {"CLINICIAN_0"}


def test_healthscribe_segments_golden(hs_transcript):
    segments = healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_segments"]
    columns = ("segment_index", "segment_id", "participant_role", "section_name", "begin_time", "end_time")
    assert rows(segments, *columns) == [
        (0, "uuid1", "CLINICIAN_0", "SUBJECTIVE", 0.16, 0.6),
        (1, "uuid2", "CLINICIAN_0", "OTHER", 0.61, 1.54),
        (2, "uuid3", "CLINICIAN_0", "SUBJECTIVE", 1.55, 2.97),
        (3, "uuid5", "CLINICIAN_0", "SUBJECTIVE", 2.98, 6.95),
        (4, "uuid6", "CLINICIAN_0", "SUBJECTIVE", 6.96, 7.88),
        (5, "uuid7", "CLINICIAN_0", "SUBJECTIVE", 7.89, 17.93),
    ]
    assert segments.column("content").to_pylist()[:3] == ["Okay.", "Good afternoon.", "You lost one lb."]


def test_healthscribe_missing_section_details_gives_null_section(hs_transcript):
    for segment in hs_transcript["Conversation"]["TranscriptSegments"]:
        del segment["SectionDetails"]
    segments = healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_segments"]
    assert segments.column("section_name").null_count == segments.num_rows == 6


def test_healthscribe_extra_alternatives_become_ranked_rows(hs_transcript):
    # derived from the AWS example: a second alternative added to item 5
    item = hs_transcript["Conversation"]["TranscriptItems"][5]
    item["Alternatives"].append({"Confidence": 0.4, "Content": "Ewe"})
    words = healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_words"]
    assert words.num_rows == 10
    fifth = words.filter(pc.equal(words["item_index"], 5))
    assert rows(fifth, "alternative_rank", "content", "confidence", "start_time", "segment_id") == [
        (0, "You", 0.9924, 1.55, "uuid3"),
        (1, "Ewe", 0.4, 1.55, "uuid3"),
    ]


def test_healthscribe_unknown_fields_are_ignored(hs_transcript):
    expected = healthscribe_transcript_tables(hs_transcript, **IDS)
    conversation = hs_transcript["Conversation"]
    hs_transcript["SchemaVersion"] = "9"
    conversation["FutureInsights"] = [{"x": 1}]
    conversation["TranscriptItems"][0]["VocabularyFilterMatch"] = False
    conversation["TranscriptItems"][0]["Alternatives"][0]["Entities"] = []
    conversation["TranscriptSegments"][0]["ChannelId"] = "ch_0"
    conversation["TranscriptSegments"][0]["ParticipantDetails"]["Pronouns"] = "THEY_THEM"
    got = healthscribe_transcript_tables(hs_transcript, **IDS)
    for name in expected:
        assert got[name].equals(expected[name])


def test_streaming_healthscribe_with_session_id_parses(hs_transcript):
    conversation = hs_transcript["Conversation"]
    del conversation["JobName"], conversation["JobType"]
    conversation["SessionId"] = "session-1"
    assert healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_words"].num_rows == 9


# --- Amazon Transcribe Medical ---------------------------------------------------------------------


def test_transcribe_medical_speaker_labels_joined_from_segments(tm_speakers):
    # the AWS example has speaker_label only under speaker_labels.segments[].items
    assert all("speaker_label" not in item for item in tm_speakers["results"]["items"])
    words = transcribe_medical_words_table(tm_speakers, **IDS)
    assert words.schema.equals(TABLES["transcript_words"], check_metadata=True)
    columns = ("item_index", "content", "is_punctuation", "start_time", "end_time", "confidence")
    columns += ("speaker_label",)
    assert rows(words, *columns) == [
        (0, "Professional", False, 0.1, 0.69, 0.8162, "spk_0"),
        (1, "answer", False, 0.69, 1.21, 0.9939, "spk_0"),
        (2, ".", True, None, None, None, "spk_0"),  # punctuation: no times or confidence in the file
    ]
    assert set(words.column("service").to_pylist()) == {"transcribe_medical"}
    assert words.column("channel_label").null_count == 3
    assert words.column("segment_id").null_count == words.column("participant_role").null_count == 3


def test_transcribe_medical_channel_identification(tm_channels):
    # the AWS example has no top-level results.items: the words are the channels' items
    assert "items" not in tm_channels["results"]
    words = transcribe_medical_words_table(tm_channels, **IDS)
    assert rows(words, "item_index", "content", "start_time", "end_time", "confidence", "channel_label") == [
        (0, "When", 12.282, 12.592, 1.0, "ch_0"),
        (1, "you", 12.592, 12.692, 0.8787, "ch_0"),
        (2, "try", 12.702, 13.252, 0.8318, "ch_0"),
        (3, "It", 12.379, 12.589, 0.5645, "ch_1"),
        (4, "seems", 12.599, 12.659, 0.2907, "ch_1"),
        (5, "to", 12.669, 13.029, 0.2497, "ch_1"),
    ]
    assert words.column("speaker_label").null_count == 6


def test_channel_label_joined_by_time_when_top_level_items_lack_it(tm_channels_top_level):
    words = transcribe_medical_words_table(tm_channels_top_level, **IDS)
    assert rows(words, "content", "channel_label") == TOP_LEVEL_CHANNEL_LABELS


def test_speaker_label_joined_by_id_then_time_then_segment_span(tm_speakers):
    # derived: ids on items, one speaker item found only by id, one item not listed at all
    results = tm_speakers["results"]
    for i, item in enumerate(results["items"]):
        item["id"] = i
    segment = results["speaker_labels"]["segments"][0]
    segment["items"][1] = {"id": 1, "speaker_label": "spk_1"}  # matches item 1 by id only
    results["items"].append(
        {
            "id": 3,
            "start_time": "1.250",
            "end_time": "1.400",
            "type": "pronunciation",
            "alternatives": [{"confidence": "0.5", "content": "x"}],
        }
    )
    words = transcribe_medical_words_table(tm_speakers, **IDS)
    assert words.column("speaker_label").to_pylist() == ["spk_0", "spk_1", "spk_1", "spk_0"]


def test_transcribe_medical_alternatives_become_ranked_rows(tm_speakers):
    item = tm_speakers["results"]["items"][0]
    item["alternatives"].append({"confidence": "0.1", "content": "Confessional"})
    words = transcribe_medical_words_table(tm_speakers, **IDS)
    assert rows(words, "item_index", "alternative_rank", "content", "confidence", "speaker_label") == [
        (0, 0, "Professional", 0.8162, "spk_0"),
        (0, 1, "Confessional", 0.1, "spk_0"),
        (1, 0, "answer", 0.9939, "spk_0"),
        (2, 0, ".", None, "spk_0"),
    ]


def test_transcribe_medical_unknown_fields_are_ignored(tm_speakers):
    expected = transcribe_medical_words_table(tm_speakers, **IDS)
    tm_speakers["results"]["language_identification"] = [{"code": "en-US"}]
    tm_speakers["results"]["items"][0]["vocabulary_filter_match"] = False
    tm_speakers["results"]["items"][0]["alternatives"][0]["redactions"] = []
    tm_speakers["results"]["speaker_labels"]["segments"][0]["items"][0]["sentiment"] = "NEUTRAL"
    assert transcribe_medical_words_table(tm_speakers, **IDS).equals(expected)


# --- wrong documents -------------------------------------------------------------------------------

TRANSCRIPT_WORDS_IN_FIXTURES = [
    "Professional",
    "answer",
    "Okay",
    "afternoon",
    "lost",
    "When",
    "seems",
    "Weight",
    "phentermine",
    "mammogram",
]


@pytest.mark.parametrize(
    "parser, fixture",
    [
        (healthscribe_transcript_tables, "transcribe_medical_speaker_labels.json"),
        (healthscribe_transcript_tables, "healthscribe_clinical_document.json"),
        (transcribe_medical_words_table, "healthscribe_transcript.json"),
        (transcribe_medical_words_table, "healthscribe_clinical_document.json"),
    ],
)
def test_wrong_document_kind_raises_without_leaking_content(parser, fixture, load_aws):
    with pytest.raises(ValueError) as raised:
        parser(load_aws(fixture), **IDS)
    message = str(raised.value)
    assert message.startswith("expected ")
    assert not any(word.lower() in message.lower() for word in TRANSCRIPT_WORDS_IN_FIXTURES)


@pytest.mark.parametrize("doc", [[], "text", None, {"Professional answer": {}}, {"Conversation": "Okay."}])
def test_non_documents_raise_without_leaking_content(doc):
    for parser in (healthscribe_transcript_tables, transcribe_medical_words_table):
        with pytest.raises(ValueError) as raised:
            parser(doc, **IDS)
        assert "Professional" not in str(raised.value) and "Okay" not in str(raised.value)


def test_non_numeric_time_raises_naming_the_field_without_quoting_it(tm_speakers, hs_transcript):
    tm_speakers["results"]["items"][1]["start_time"] = "answer-secret"
    with pytest.raises(ValueError) as raised:
        transcribe_medical_words_table(tm_speakers, **IDS)
    assert str(raised.value) == "results.items[].start_time is not a number"  # no "file 0: " either
    assert raised.value.__cause__ is None
    hs_transcript["Conversation"]["TranscriptItems"][0]["Alternatives"][0]["Confidence"] = "high"
    with pytest.raises(ValueError) as raised:
        healthscribe_transcript_tables(hs_transcript, **IDS)
    assert (
        str(raised.value)
        == "Conversation.TranscriptItems[].Alternatives[].Confidence holds both strings and numbers"
    )


def test_insights_are_checked_only_when_asked_for(hs_transcript):
    hs_transcript["Conversation"]["ClinicalInsights"][0]["Confidence"] = "high"
    assert healthscribe_transcript_tables(hs_transcript, **IDS)["transcript_words"].num_rows == 9
    with pytest.raises(ValueError, match=r"^Conversation\.ClinicalInsights\[\]\.Confidence is not a number$"):
        healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)


def test_empty_ids_are_refused(tm_speakers):
    with pytest.raises(ValueError, match="recording_id"):
        transcribe_medical_words_table(tm_speakers, recording_id="", job_name="j")


def test_document_kind_of_every_fixture(load_aws):
    assert document_kind(load_aws("healthscribe_transcript.json")) == "healthscribe_transcript"
    assert document_kind(load_aws("healthscribe_clinical_document.json")) == "healthscribe_clinical_document"
    assert document_kind(load_aws("transcribe_medical_speaker_labels.json")) == "transcribe"
    assert document_kind(load_aws("transcribe_medical_channel_id.json")) == "transcribe"
    assert document_kind(json.loads("[]")) is None


def test_empty_documents_give_empty_tables():
    tables = healthscribe_transcript_tables({"Conversation": {}}, **IDS)
    assert tables["transcript_words"].num_rows == tables["transcript_segments"].num_rows == 0
    assert transcribe_medical_words_table({"results": {}}, **IDS).schema.equals(TABLES["transcript_words"])
