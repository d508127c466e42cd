"""The night's quality gate on constructed tables (the engine writes no notes or insights yet): the
policy (structural errors fail, transcripts under a bar go to the review queue), each check breaking
exactly one thing, GX results as JSON and data docs HTML, and the quality status written back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake.schemas import TABLES
from medscribe.lake.store import read_table, write_partition
from medscribe.lake.tables import FLATTENED_TABLES
from medscribe.night.quality_status import apply_quality
from medscribe.quality.config import DEFAULT_CONFIG, QualityConfig
from medscribe.quality.gate import failed_expectations, gate_night, run_gate
from tests.lake.consistent_documents import consistent_document, consistent_transcript
from tests.quality.night_tables import NIGHT, night_tables

NOISY = [0.3, 0.45, 0.9, 0.2, 0.95, 0.4, 0.6, 0.5]  # mean 0.5375, 4 of 8 under 0.5


def review(report: dict) -> list[tuple]:
    return [
        (r["recording_id"], r["metric"], r["value"], r["threshold"], r["bound"])
        for r in report["review_queue"]
    ]


def page_text(path: Path) -> str:
    html = re.sub(r"<(style|script).*?</\1>", "", path.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_consistent_night_passes_every_suite():
    report = run_gate(night_tables(), night=NIGHT)
    assert report["failures"] == []
    assert (report["structural_ok"], report["review_ok"], report["night_ok"]) == (True, True, True)
    assert report["quality_status"] == {"rec-1": "passed"}
    assert sorted(report["results"]) == sorted(
        [f"table_{t}" for t in FLATTENED_TABLES]
        + [
            f"check_{c}"
            for c in (
                "transcript_confidence",
                "segment_coverage",
                "evidence_links",
                "insight_spans",
                "note_presence",
            )
        ]
    )
    coverage = report["results"]["check_segment_coverage"]["results"][0]["result"]
    assert coverage["element_count"] == 1 and coverage["unexpected_count"] == 0
    spans = report["results"]["check_insight_spans"]["results"][0]["result"]
    assert spans["element_count"] == 4  # two insight spans, two attribute spans


def test_transcript_under_the_bar_is_queued_not_failed():
    report = run_gate(night_tables(NOISY), night=NIGHT)
    assert report["structural_ok"] and report["night_ok"]
    assert review(report) == [
        ("rec-1", "mean_confidence", 0.5375, 0.85, "min"),
        ("rec-1", "low_word_share", 0.5, 0.1, "max"),
    ]
    assert report["quality_status"] == {"rec-1": "review"}
    assert report["transcripts"] == [
        {
            "recording_id": "rec-1",
            "job_name": "job-1",
            "words": 8,
            "mean_confidence": 0.5375,
            "low_word_share": 0.5,
            "passed": False,
        }
    ]


def test_policy_and_thresholds_are_configurable():
    strict = run_gate(night_tables(NOISY), QualityConfig(fail_on_review=True), night=NIGHT)
    assert strict["structural_ok"] and not strict["night_ok"]
    lenient = run_gate(
        night_tables(NOISY), DEFAULT_CONFIG.with_overrides({"min_mean_confidence": 0.5, "max_low_share": 0.5})
    )
    assert review(lenient) == [] and lenient["quality_status"] == {"rec-1": "passed"}
    assert lenient["config"]["min_mean_confidence"] == 0.5 and lenient["config"]["low_word_confidence"] == 0.5
    with pytest.raises(ValueError, match=r"unknown quality settings \['min_mean'\]"):
        DEFAULT_CONFIG.with_overrides({"min_mean": 0.5})
    with pytest.raises(ValueError, match="max_low_share must be a number in"):
        DEFAULT_CONFIG.with_overrides({"max_low_share": 2})


def test_evidence_link_to_a_missing_segment_fails_and_docs_name_it(tmp_path):
    document = consistent_document()
    document["ClinicalDocumentation"]["Sections"][1]["Summary"][0]["EvidenceLinks"][1]["SegmentId"] = "s9"
    report = run_gate(night_tables(document=document), night=NIGHT, docs_dir=tmp_path)
    assert report["structural_ok"] is False and report["night_ok"] is False
    assert failed_expectations(report) == [
        "check_evidence_links:expect_column_values_to_not_be_null:resolved_segment_index"
    ]
    (result,) = report["results"]["check_evidence_links"]["results"]
    assert result["result"]["unexpected_index_list"] == [
        {
            "recording_id": "rec-1",
            "job_name": "job-1",
            "section_index": 1,
            "sentence_index": 0,
            "evidence_index": 1,
            "resolved_segment_index": None,
        }
    ]
    assert report["review_queue"] == []  # a structural break is not a transcript to review
    (page,) = (tmp_path / "validations" / "check_evidence_links").rglob("*.html")
    text = page_text(page)
    assert "Status: Failed" in text
    assert "every evidence link resolves to a transcript segment of its recording and job" in text
    assert "resolved_segment_index" in text
    assert (
        "validations/check_evidence_links/" in (tmp_path / "index.html").read_text()
    )  # the index links the page


def test_insight_offsets_outside_their_segment_fail():
    transcript = consistent_transcript()
    span = transcript["Conversation"]["ClinicalInsights"][0]["Spans"][0]  # "metformin" in s1 (31 characters)
    span["BeginCharacterOffset"], span["EndCharacterOffset"] = 25, 40
    report = run_gate(night_tables(transcript=transcript), night=NIGHT)
    assert failed_expectations(report) == [
        "check_insight_spans:expect_column_pair_values_a_to_be_greater_than_b:segment_length"
    ]
    assert failed_expectations(report, "warning") == [
        "check_insight_spans:expect_column_values_to_be_in_set:content_matches"
    ]
    transcript = consistent_transcript()
    transcript["Conversation"]["ClinicalInsights"][1]["Attributes"][0]["Spans"][0]["SegmentId"] = "s7"
    assert failed_expectations(run_gate(night_tables(transcript=transcript))) == [
        "check_insight_spans:expect_column_values_to_not_be_null:resolved_segment_index"
    ]


def test_empty_note_of_a_non_empty_conversation_is_queued_only_where_a_note_was_produced():
    empty = {"ClinicalDocumentation": {"Sections": [{"SectionName": "PLAN", "Summary": []}]}}
    report = run_gate(night_tables(document=empty), night=NIGHT)
    assert report["structural_ok"] and review(report) == [("rec-1", "note_sentences", 0.0, 1.0, "min")]
    no_document = run_gate(
        night_tables(with_document=False), night=NIGHT
    )  # today's engine: no clinical document
    assert no_document["failures"] == [] and no_document["quality_status"] == {"rec-1": "passed"}
    silent = run_gate(night_tables([], document=empty), night=NIGHT)  # nothing said: an empty note is right
    assert [r["metric"] for r in silent["review_queue"]] == []


def test_segment_coverage_of_the_audio():
    report = run_gate(night_tables(duration_s=20.0), night=NIGHT)  # segments cover 3.9 s of 20 s
    assert review(report) == [("rec-1", "segment_coverage", 0.195, 0.5, "min")]
    too_long = run_gate(night_tables(duration_s=3.0), night=NIGHT)  # s2 ends at 4.0 s, the audio at 3.0 s
    assert failed_expectations(too_long) == [
        "check_segment_coverage:expect_column_pair_values_a_to_be_greater_than_b:end_limit_s"
    ]


def test_schema_types_and_keys_are_structural():
    tables = night_tables()
    tables["jobs"] = tables["jobs"].drop_columns(["media_format"])
    words = tables["transcript_words"]
    tables["transcript_words"] = words.set_column(
        words.schema.get_field_index("confidence"),
        "confidence",
        pa.array([1.7] + [0.9] * (words.num_rows - 1)),
    )
    words = tables["transcript_words"]
    index = words.schema.get_field_index("item_index")
    tables["transcript_words"] = words.set_column(
        index, "item_index", pa.array([str(i) for i in range(words.num_rows)])
    )
    segments = tables["transcript_segments"]
    tables["transcript_segments"] = pa.concat_tables([segments, segments.slice(0, 1)])  # a duplicate key
    evidence = tables["note_evidence"].to_pylist()
    evidence[0]["section_index"] = None
    tables["note_evidence"] = pa.Table.from_pylist(
        evidence,
        schema=TABLES["note_evidence"].set(
            3, TABLES["note_evidence"].field("section_index").with_nullable(True)
        ),
    )
    report = run_gate(tables, night=NIGHT)
    assert failed_expectations(report) == [
        "table_jobs:expect_column_values_to_be_of_type:media_format",  # the missing column
        "table_jobs:expect_table_columns_to_match_ordered_list:None",
        "table_note_evidence:expect_column_values_to_not_be_null:section_index",
        "table_transcript_segments:expect_compound_columns_to_be_unique:recording_id,job_name,segment_index",
        "table_transcript_words:expect_column_values_to_be_between:confidence",
        "table_transcript_words:expect_column_values_to_be_of_type:item_index",
    ]


def test_gate_night_keeps_results_and_docs_and_statuses_reach_the_rows(tmp_path):
    lake = str(tmp_path / "lake")
    tables = night_tables(NOISY)
    for name, table in tables.items():
        write_partition(name, table, lake, NIGHT)
    report = gate_night(lake, NIGHT)
    counts = apply_quality(report, lake, NIGHT)
    assert counts == {"review_queue": 2, "review": 1}
    queue = read_table("review_queue", lake, night=NIGHT).to_pylist()
    assert [(r["recording_id"], r["night"], r["metric"], r["value"], r["threshold"]) for r in queue] == [
        ("rec-1", NIGHT, "mean_confidence", 0.5375, 0.85),
        ("rec-1", NIGHT, "low_word_share", 0.5, 0.1),
    ]
    for name in ("jobs", "transcript_words", "transcript_segments"):
        assert set(read_table(name, lake, night=NIGHT)["quality_status"].to_pylist()) == {"review"}
        assert read_table(name, lake, night=NIGHT).num_rows == tables[name].num_rows
    quality = tmp_path / "lake" / "_quality" / f"night={NIGHT}"
    saved = json.loads((quality / "word_confidence.json").read_text())
    assert saved["results"]["check_transcript_confidence"]["success"] is False
    assert saved["review_queue"] == report["review_queue"]
    assert (quality / "data_docs" / "index.html").is_file()
    assert len(list((quality / "data_docs" / "validations").rglob("*.html"))) == 13
    # a rerun replaces the night's docs and queue, it does not add to them
    gate_night(lake, NIGHT)
    assert len(list((quality / "data_docs" / "validations").rglob("*.html"))) == 13


def test_aws_published_examples_are_flagged_where_their_placeholder_ids_do_not_cross_reference(load_aws):
    """AWS's example transcript and clinical document are illustrations (tests/fixtures/aws/SOURCES.md):
    the note's evidence names segments the transcript does not have, and some insight offsets run past
    their segment. The gate says exactly that, by id and position."""
    from medscribe.lake.parse import healthscribe_clinical_document_tables, healthscribe_transcript_tables

    ids = {"recording_id": "rec-aws", "job_name": "job-aws"}
    tables = healthscribe_transcript_tables(
        load_aws("healthscribe_transcript.json"), **ids, with_insights=True
    )
    tables.update(
        healthscribe_clinical_document_tables(load_aws("healthscribe_clinical_document.json"), **ids)
    )
    report = run_gate(tables)
    assert failed_expectations(report) == [
        "check_evidence_links:expect_column_values_to_not_be_null:resolved_segment_index",
        "check_insight_spans:expect_column_pair_values_a_to_be_greater_than_b:segment_length",
        "check_insight_spans:expect_column_values_to_not_be_null:resolved_segment_index",
    ]
    links = report["results"]["check_evidence_links"]["results"][0]["result"]
    assert (links["element_count"], links["unexpected_count"]) == (34, 28)
    spans = {
        r["expectation_config"]["kwargs"].get("column") or r["expectation_config"]["kwargs"]["column_A"]: r[
            "result"
        ]
        for r in report["results"]["check_insight_spans"]["results"]
    }
    assert [r["insight_id"] for r in spans["resolved_segment_index"]["unexpected_index_list"]] == [
        "insightUUID4"
    ]
    assert [
        (r["insight_id"], r["segment_length"], r["end_exclusive"])
        for r in spans["segment_length"]["unexpected_index_list"]
    ] == [("insightUUID1", 5.0, 16.0), ("insightUUID3", 16.0, 24.0), ("insightUUID5", 4.0, 20.0)]
