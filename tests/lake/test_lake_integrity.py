"""Offsets and join integrity on the small consistent document of ``consistent_documents.py``: end-exclusive
slices, no dangling references in a consistent night, broken ones reported exactly, and the joins in DuckDB."""

from __future__ import annotations

import pyarrow as pa

from medscribe.lake.integrity import dangling_evidence, dangling_insight_spans
from medscribe.lake.parse import healthscribe_clinical_document_tables, healthscribe_transcript_tables
from medscribe.lake.store import duckdb_connect, write_partition
from tests.lake.conftest import IDS, rows
from tests.lake.consistent_documents import SEGMENTS, consistent_document, consistent_transcript

NIGHT = "2026-03-02"


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
