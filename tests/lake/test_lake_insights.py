"""Clinical insights and their attributes on AWS's published HealthScribe transcript example: golden
values, schemas, offsets (AWS's end-inclusive and the lake's end-exclusive) and errors that name the path,
never the text."""

from __future__ import annotations

import copy

import pyarrow as pa
import pytest

from medscribe.lake.parse import healthscribe_transcript_tables
from medscribe.lake.schemas import TABLES
from tests.lake.conftest import IDS, rows


def test_insight_tables_only_when_asked_and_with_declared_schemas(hs_transcript):
    assert set(healthscribe_transcript_tables(hs_transcript, **IDS)) == {
        "transcript_words",
        "transcript_segments",
    }
    tables = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)
    assert set(tables) == {
        "transcript_words",
        "transcript_segments",
        "clinical_insights",
        "insight_attributes",
    }
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name], check_metadata=True)


def test_clinical_insights_golden(hs_transcript):
    insights = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)["clinical_insights"]
    columns = (
        "insight_id",
        "span_index",
        "insight_index",
        "insight_type",
        "category",
        "type",
        "segment_id",
        "begin_character_offset",
        "end_character_offset",
        "end_exclusive",
        "content",
    )
    assert rows(insights, *columns) == [
        ("insightUUID1", 0, 0, "ClinicalEntity", "MEDICAL_CONDITION", "DX_NAME", "uuid1", 12, 15, 16, "pain"),
        (
            "insightUUID2",
            0,
            1,
            "ClinicalEntity",
            "TEST_TREATMENT_PROCEDURE",
            "TEST_NAME",
            "uuid2",
            4,
            12,
            13,
            "mammogram",
        ),
        (
            "insightUUID3",
            0,
            2,
            "ClinicalEntity",
            "TEST_TREATMENT_PROCEDURE",
            "TEST_NAME",
            "uuid3",
            15,
            23,
            24,
            "pap smear",
        ),
        (
            "insightUUID4",
            0,
            3,
            "ClinicalEntity",
            "MEDICATION",
            "GENERIC_NAME",
            "uuid4",
            28,
            38,
            39,
            "phentermine",
        ),
        (
            "insightUUID5",
            0,
            4,
            "ClinicalEntity",
            "TEST_TREATMENT_PROCEDURE",
            "TEST_NAME",
            "uuid6",
            14,
            19,
            20,
            "weight",
        ),
        (
            "insightUUID6",
            0,
            5,
            "ClinicalEntity",
            "ANATOMY",
            "SYSTEM_ORGAN_SITE",
            "uuid7",
            60,
            64,
            65,
            "heart",
        ),
    ]
    # the published example has no Confidence and no Traits: nulls, not invented values
    for column in ("confidence", "traits", "negated"):
        assert insights[column].null_count == insights.num_rows
    assert set(insights["recording_id"].to_pylist()) == {"rec-1"}


def test_aws_offsets_are_end_inclusive_and_end_exclusive_is_a_slice_end(hs_transcript):
    tables = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)
    for name in ("clinical_insights", "insight_attributes"):
        for begin, end, end_exclusive, content in rows(
            tables[name], "begin_character_offset", "end_character_offset", "end_exclusive", "content"
        ):
            assert end - begin + 1 == len(content) == end_exclusive - begin


def test_insight_attributes_golden(hs_transcript):
    attributes = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)[
        "insight_attributes"
    ]
    columns = (
        "insight_id",
        "attribute_index",
        "span_index",
        "attribute_id",
        "type",
        "segment_id",
        "begin_character_offset",
        "end_character_offset",
        "end_exclusive",
        "content",
        "confidence",
    )
    assert rows(attributes, *columns) == [
        ("insightUUID5", 0, 0, "attributeUUID1", "TEST_VALUE", "uuid5", 38, 41, 42, "high", None)
    ]


def test_no_clinical_insights_gives_empty_tables(hs_transcript):
    del hs_transcript["Conversation"]["ClinicalInsights"]
    tables = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)
    assert tables["clinical_insights"].num_rows == tables["insight_attributes"].num_rows == 0
    assert tables["clinical_insights"].schema.equals(TABLES["clinical_insights"], check_metadata=True)


def test_multi_span_insight_traits_confidence_and_spanless_attribute(hs_transcript):
    insight = hs_transcript["Conversation"]["ClinicalInsights"][0]
    insight["Spans"].append(
        {"BeginCharacterOffset": 0, "Content": "chest", "EndCharacterOffset": 4, "SegmentId": "uuid2"}
    )
    insight["Confidence"] = 0.93
    insight["Traits"] = [{"Name": "NEGATION", "Score": 0.8}, {"Name": "SIGN"}]
    insight["Attributes"] = [{"AttributeId": "a0", "Type": "ACUITY"}]  # no Spans
    hs_transcript["Conversation"]["ClinicalInsights"][1]["Traits"] = []
    tables = healthscribe_transcript_tables(hs_transcript, **IDS, with_insights=True)
    insights = tables["clinical_insights"]
    assert rows(
        insights, "insight_id", "span_index", "segment_id", "end_exclusive", "confidence", "traits", "negated"
    )[:3] == [
        ("insightUUID1", 0, "uuid1", 16, 0.93, "NEGATION,SIGN", True),
        ("insightUUID1", 1, "uuid2", 5, 0.93, "NEGATION,SIGN", True),
        ("insightUUID2", 0, "uuid2", 13, None, "", False),
    ]
    spanless = tables["insight_attributes"].filter(
        pa.compute.equal(tables["insight_attributes"]["insight_id"], "insightUUID1")
    )
    assert rows(
        spanless, "attribute_id", "type", "span_index", "segment_id", "begin_character_offset", "content"
    ) == [("a0", "ACUITY", 0, None, None, None)]


def test_bad_offset_names_the_path_not_the_text(hs_transcript):
    spans = [s for i in hs_transcript["Conversation"]["ClinicalInsights"] for s in i.get("Spans", [])]
    path = "Conversation.ClinicalInsights[].Spans[].EndCharacterOffset"
    for values, reason in (
        (["phentermine"], "holds both strings and numbers"),  # one span: two JSON types in the column
        (["phentermine"] * len(spans), "is not a number"),  # every span: strings that are not numbers
        ([12.5], "is not an integer"),
    ):
        changed = copy.deepcopy(hs_transcript)
        changed_spans = [s for i in changed["Conversation"]["ClinicalInsights"] for s in i.get("Spans", [])]
        for span, value in zip(changed_spans, values, strict=False):
            span["EndCharacterOffset"] = value
        with pytest.raises(ValueError) as raised:
            healthscribe_transcript_tables(changed, **IDS, with_insights=True)
        assert str(raised.value) == f"{path} {reason}"
