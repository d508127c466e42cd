"""Clinical insights, note sentences and evidence: golden values on AWS's published examples, offsets
and join integrity on a small consistent document built here (the AWS examples' placeholder ids do
not cross-reference, see tests/fixtures/aws/SOURCES.md)."""

from __future__ import annotations

import copy

import pyarrow as pa
import pytest

from medscribe.lake.integrity import dangling_evidence, dangling_insight_spans
from medscribe.lake.parse import healthscribe_clinical_document_tables, healthscribe_transcript_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import duckdb_connect, write_partition

IDS = {"recording_id": "rec-1", "job_name": "job-1"}
NIGHT = "2026-03-02"


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    """Return the given columns of a table as a list of tuples."""
    data = table.select(list(columns)).to_pydict()
    return list(zip(*(data[c] for c in columns), strict=True))


@pytest.fixture
def hs_document(load_aws) -> dict:
    return load_aws("healthscribe_clinical_document.json")


# --- clinical insights on the AWS transcript example ---------------------------------------------


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


# --- clinical document on the AWS example --------------------------------------------------------


def test_note_tables_have_the_declared_schemas(hs_document):
    tables = healthscribe_clinical_document_tables(hs_document, **IDS, note_template="HISTORY_AND_PHYSICAL")
    assert set(tables) == {"note_sentences", "note_evidence"}
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name], check_metadata=True)


def test_note_sentences_golden(hs_document):
    sentences = healthscribe_clinical_document_tables(
        hs_document, **IDS, note_template="HISTORY_AND_PHYSICAL"
    )["note_sentences"]
    assert rows(sentences, "section_index", "section_name", "sentence_index") == [
        (0, "CHIEF_COMPLAINT", 0),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 0),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 1),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 2),
        (1, "HISTORY_OF_PRESENT_ILLNESS", 3),
        (2, "REVIEW_OF_SYSTEMS", 0),
        (2, "REVIEW_OF_SYSTEMS", 1),
        (3, "PAST_MEDICAL_HISTORY", 0),
        (3, "PAST_MEDICAL_HISTORY", 1),
        (4, "ASSESSMENT", 0),
        (5, "PLAN", 0),
    ]
    texts = sentences["text"].to_pylist()
    assert texts[0] == "Weight loss."
    assert texts[4] == "The patient is taking phentermine and would like to continue."
    assert texts[9] == "Weight loss"
    assert set(sentences["note_template"].to_pylist()) == {"HISTORY_AND_PHYSICAL"}
    assert set(sentences["job_name"].to_pylist()) == {"job-1"}
    assert set(sentences["source"].to_pylist()) == {"service"}


def test_a_reviewed_note_is_flattened_with_its_source(hs_document):
    reviewed = healthscribe_clinical_document_tables(hs_document, **IDS, source="reviewed")["note_sentences"]
    assert set(reviewed["source"].to_pylist()) == {"reviewed"} and reviewed.num_rows == 11
    with pytest.raises(ValueError, match="source must be one of"):
        healthscribe_clinical_document_tables(hs_document, **IDS, source="edited")


def test_note_evidence_golden(hs_document):
    evidence = healthscribe_clinical_document_tables(hs_document, **IDS)["note_evidence"]
    assert evidence.num_rows == 34
    assert rows(evidence, "section_name", "section_index", "sentence_index", "evidence_index", "segment_id")[
        :8
    ] == [
        ("CHIEF_COMPLAINT", 0, 0, 0, "uuid1"),
        ("CHIEF_COMPLAINT", 0, 0, 1, "uuid2"),
        ("CHIEF_COMPLAINT", 0, 0, 2, "uuid3"),
        ("CHIEF_COMPLAINT", 0, 0, 3, "uuid4"),
        ("CHIEF_COMPLAINT", 0, 0, 4, "uuid5"),
        ("CHIEF_COMPLAINT", 0, 0, 5, "uuid6"),
        ("HISTORY_OF_PRESENT_ILLNESS", 1, 0, 0, "uuid7"),
        ("HISTORY_OF_PRESENT_ILLNESS", 1, 0, 1, "uuid8"),
    ]
    assert evidence["segment_id"].to_pylist()[-1] == "uuid34"
    assert [
        r for r in rows(evidence, "section_name", "sentence_index", "segment_id") if r[2] == "uuid20"
    ] == [("HISTORY_OF_PRESENT_ILLNESS", 3, "uuid20")]


def test_note_template_unknown_is_null(hs_document):
    sentences = healthscribe_clinical_document_tables(hs_document, **IDS)["note_sentences"]
    assert sentences["note_template"].null_count == sentences.num_rows == 11


def test_streaming_clinical_document_with_session_id(hs_document):
    hs_document["ClinicalDocumentation"]["SessionId"] = "session-1"
    tables = healthscribe_clinical_document_tables(hs_document, recording_id="rec-1", job_name="session-1")
    assert tables["note_sentences"].num_rows == 11 and tables["note_evidence"].num_rows == 34


def test_clinical_document_tolerates_missing_and_unknown_parts(hs_document):
    sections = hs_document["ClinicalDocumentation"]["Sections"]
    del sections[0]["Summary"][0]["EvidenceLinks"]
    sections[1]["Summary"][0]["Confidence"] = 0.9  # unknown field: ignored
    sections.append({"SectionName": "DIAGNOSTIC_TESTING"})  # section without Summary: no rows
    tables = healthscribe_clinical_document_tables(hs_document, **IDS)
    assert tables["note_sentences"].num_rows == 11
    assert tables["note_evidence"].num_rows == 28


@pytest.mark.parametrize("name", ["healthscribe_transcript.json", "transcribe_medical_speaker_labels.json"])
def test_clinical_document_parser_rejects_other_documents(load_aws, name):
    with pytest.raises(ValueError, match="expected a HealthScribe clinical document"):
        healthscribe_clinical_document_tables(load_aws(name), **IDS)


# --- a small consistent document: offsets and join integrity -------------------------------------

SEGMENTS = [
    ("s1", "CLINICIAN_0", "I see you take metformin daily.", 0.0, 2.0),
    ("s2", "PATIENT_0", "Yes, and my blood sugar is high.", 2.1, 4.0),
]


def consistent_transcript() -> dict:
    """A HealthScribe transcript whose insights point at its own segments, offsets end-inclusive."""

    def span(segment_id: str, word: str) -> dict:
        content = dict((s[0], s[2]) for s in SEGMENTS)[segment_id]
        begin = content.index(word)
        return {
            "SegmentId": segment_id,
            "BeginCharacterOffset": begin,
            "EndCharacterOffset": begin + len(word) - 1,
            "Content": word,
        }

    return {
        "Conversation": {
            "ConversationId": "c",
            "JobName": "job-1",
            "TranscriptItems": [],
            "TranscriptSegments": [
                {
                    "SegmentId": sid,
                    "ParticipantDetails": {"ParticipantRole": role},
                    "Content": text,
                    "BeginAudioTime": begin,
                    "EndAudioTime": end,
                }
                for sid, role, text, begin, end in SEGMENTS
            ],
            "ClinicalInsights": [
                {
                    "InsightId": "i1",
                    "InsightType": "ClinicalEntity",
                    "Category": "MEDICATION",
                    "Type": "GENERIC_NAME",
                    "Spans": [span("s1", "metformin")],
                    "Attributes": [
                        {"AttributeId": "a1", "Type": "FREQUENCY", "Spans": [span("s1", "daily")]}
                    ],
                },
                {
                    "InsightId": "i2",
                    "InsightType": "ClinicalEntity",
                    "Category": "TEST_TREATMENT_PROCEDURE",
                    "Type": "TEST_NAME",
                    "Spans": [span("s2", "blood sugar")],
                    "Attributes": [
                        {"AttributeId": "a2", "Type": "TEST_VALUE", "Spans": [span("s2", "high")]}
                    ],
                },
            ],
        }
    }


def consistent_document() -> dict:
    return {
        "ClinicalDocumentation": {
            "Sections": [
                {
                    "SectionName": "HISTORY_OF_PRESENT_ILLNESS",
                    "Summary": [
                        {
                            "SummarizedSegment": "Takes metformin daily.",
                            "EvidenceLinks": [{"SegmentId": "s1"}],
                        },
                        {
                            "SummarizedSegment": "Reports high blood sugar.",
                            "EvidenceLinks": [{"SegmentId": "s2"}],
                        },
                    ],
                },
                {
                    "SectionName": "PLAN",
                    "Summary": [
                        {
                            "SummarizedSegment": "Continue metformin.",
                            "EvidenceLinks": [{"SegmentId": "s1"}, {"SegmentId": "s2"}],
                        },
                    ],
                },
            ]
        }
    }


def write_night(lake: str, transcript: dict, document: dict) -> None:
    tables = healthscribe_transcript_tables(transcript, **IDS, with_insights=True)
    tables.update(
        healthscribe_clinical_document_tables(document, **IDS, note_template="HISTORY_AND_PHYSICAL")
    )
    for name, table in tables.items():
        write_partition(name, table, lake, NIGHT)


def test_end_exclusive_slices_the_segment_content():
    tables = healthscribe_transcript_tables(consistent_transcript(), **IDS, with_insights=True)
    text = {sid: content for sid, _, content, _, _ in SEGMENTS}
    for name in ("clinical_insights", "insight_attributes"):
        spans = rows(tables[name], "segment_id", "begin_character_offset", "end_exclusive", "content")
        assert len(spans) == 2
        for segment_id, begin, end_exclusive, content in spans:
            assert text[segment_id][begin:end_exclusive] == content


def test_consistent_night_has_no_dangling_references(tmp_path):
    lake = str(tmp_path / "lake")
    write_night(lake, consistent_transcript(), consistent_document())
    assert dangling_evidence(lake, NIGHT).num_rows == 0
    assert dangling_insight_spans(lake, NIGHT).num_rows == 0


def test_broken_references_are_reported_exactly(tmp_path):
    lake = str(tmp_path / "lake")
    document = consistent_document()
    document["ClinicalDocumentation"]["Sections"][1]["Summary"][0]["EvidenceLinks"][1]["SegmentId"] = "s9"
    transcript = consistent_transcript()
    insights = transcript["Conversation"]["ClinicalInsights"]
    insights[1]["Spans"][0]["SegmentId"] = "s9"
    del insights[0]["Attributes"][0]["Spans"][0]["SegmentId"]  # a span without SegmentId is dangling too
    insights.append(
        {"InsightId": "i3", "Category": "ANATOMY", "Type": "SYSTEM_ORGAN_SITE", "Spans": []}
    )  # no span: not a reference
    write_night(lake, transcript, document)

    evidence = dangling_evidence(lake, NIGHT)
    assert rows(
        evidence,
        "recording_id",
        "section_name",
        "section_index",
        "sentence_index",
        "evidence_index",
        "segment_id",
    ) == [("rec-1", "PLAN", 1, 0, 1, "s9")]
    spans = dangling_insight_spans(lake, NIGHT)
    assert rows(spans, "source", "insight_id", "attribute_index", "span_index", "segment_id") == [
        ("attribute", "i1", 0, 0, None),
        ("insight", "i2", None, 0, "s9"),
    ]


def test_segments_of_another_recording_do_not_resolve(tmp_path):
    lake = str(tmp_path / "lake")
    write_night(lake, consistent_transcript(), consistent_document())
    other = healthscribe_clinical_document_tables(
        consistent_document(), recording_id="rec-2", job_name="job-2"
    )
    write_partition(
        "note_evidence",
        pa.concat_tables(
            [
                healthscribe_clinical_document_tables(consistent_document(), **IDS)["note_evidence"],
                other["note_evidence"],
            ]
        ),
        lake,
        NIGHT,
    )
    assert set(dangling_evidence(lake, NIGHT)["recording_id"].to_pylist()) == {"rec-2"}
    assert dangling_evidence(lake, NIGHT).num_rows == 4


def test_note_evidence_joins_segments_in_duckdb(tmp_path):
    lake = str(tmp_path / "lake")
    write_night(lake, consistent_transcript(), consistent_document())
    result = (
        duckdb_connect(lake)
        .sql(
            """
        select s.section_name, s.sentence_index, string_agg(g.participant_role, ',' order by e.evidence_index)
        from note_sentences s
        join note_evidence e using (recording_id, job_name, night, section_index, sentence_index)
        join transcript_segments g using (recording_id, job_name, night, segment_id)
        group by all order by all
        """
        )
        .fetchall()
    )
    assert result == [
        ("HISTORY_OF_PRESENT_ILLNESS", 0, "CLINICIAN_0"),
        ("HISTORY_OF_PRESENT_ILLNESS", 1, "PATIENT_0"),
        ("PLAN", 0, "CLINICIAN_0,PATIENT_0"),
    ]
