"""The analyst command on a small lake built here: the printed numbers, and the DDL mode."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from medscribe import analytics
from medscribe.lake.parse import healthscribe_clinical_document_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import duckdb_connect, write_partition

SUNDAY, MONDAY, WEDNESDAY = "2026-03-01", "2026-03-02", "2026-03-04"  # ISO weeks 2026-W09, W10, W10


def words(recording_id: str, confidences: list[float | None], punctuation: int = 0) -> pa.Table:
    rows = [
        {
            "recording_id": recording_id,
            "job_name": f"job-{recording_id}",
            "service": "healthscribe",
            "item_index": i,
            "content": "w",
            "is_punctuation": False,
            "confidence": c,
            "alternative_rank": 0,
        }
        for i, c in enumerate(confidences)
    ]
    rows += [  # punctuation (HealthScribe gives it confidence 0) and a second alternative: never counted
        {
            "recording_id": recording_id,
            "job_name": f"job-{recording_id}",
            "service": "healthscribe",
            "item_index": len(confidences) + i,
            "content": ".",
            "is_punctuation": True,
            "confidence": 0.0,
            "alternative_rank": 0,
        }
        for i in range(punctuation)
    ]
    rows.append(
        {
            "recording_id": recording_id,
            "job_name": f"job-{recording_id}",
            "service": "healthscribe",
            "item_index": 0,
            "content": "x",
            "is_punctuation": False,
            "confidence": 0.1,
            "alternative_rank": 1,
        }
    )
    return pa.Table.from_pylist(rows, schema=TABLES["transcript_words"])


def insights(recording_id: str, categories: list[str], spans_each: int = 1) -> pa.Table:
    rows = [
        {
            "recording_id": recording_id,
            "job_name": f"job-{recording_id}",
            "insight_id": f"i{n}",
            "span_index": s,
            "insight_index": n,
            "category": category,
        }
        for n, category in enumerate(categories)
        for s in range(spans_each)
    ]
    return pa.Table.from_pylist(rows, schema=TABLES["clinical_insights"])


def note(recording_id: str, template: str | None, sentences: int) -> pa.Table:
    document = {
        "ClinicalDocumentation": {
            "Sections": [
                {
                    "SectionName": "PLAN",
                    "Summary": [{"SummarizedSegment": "s", "EvidenceLinks": []}] * sentences,
                }
            ]
        }
    }
    return healthscribe_clinical_document_tables(
        document, recording_id=recording_id, job_name=f"job-{recording_id}", note_template=template
    )["note_sentences"]


@pytest.fixture
def lake(tmp_path) -> str:
    lake = str(tmp_path / "lake")
    write_partition("transcript_words", words("r1", [0.9, 0.4, 0.49, 0.5, None], punctuation=2), lake, SUNDAY)
    write_partition(
        "transcript_words",
        pa.concat_tables([words("r2", [0.1, 0.99]), words("r3", [0.95, 0.97, 0.2])]),
        lake,
        MONDAY,
    )
    write_partition(
        "clinical_insights", insights("r1", ["MEDICATION", "ANATOMY", "MEDICATION"]), lake, SUNDAY
    )
    write_partition("clinical_insights", insights("r2", ["MEDICATION"], spans_each=3), lake, MONDAY)
    write_partition(
        "clinical_insights",
        pa.concat_tables(
            [insights("r4", ["MEDICATION", "MEDICATION"]), insights("r5", ["MEDICAL_CONDITION"])]
        ),
        lake,
        WEDNESDAY,
    )
    write_partition(
        "note_sentences",
        pa.concat_tables([note("r1", "HISTORY_AND_PHYSICAL", 3), note("r2", None, 2)]),
        lake,
        SUNDAY,
    )
    write_partition(
        "note_sentences",
        pa.concat_tables([note("r3", "HISTORY_AND_PHYSICAL", 4), note("r4", "GIRPP", 5)]),
        lake,
        MONDAY,
    )
    return lake


def test_query_functions(lake):
    con = duckdb_connect(lake)
    assert analytics.low_confidence_words(con) == [
        (SUNDAY, "r1", 2, 4),  # 0.4 and 0.49 are low, 0.5 is not, null confidence is not a word with one
        (MONDAY, "r2", 1, 2),
        (MONDAY, "r3", 1, 3),
    ]
    assert analytics.medications_per_week(con) == [("2026-W09", 2, 1), ("2026-W10", 3, 2)]
    assert analytics.notes_per_template(con) == [
        ("(unknown)", 1, 2),
        ("GIRPP", 1, 5),
        ("HISTORY_AND_PHYSICAL", 2, 7),
    ]
    assert analytics.low_confidence_words(con, MONDAY, threshold=0.96) == [
        (MONDAY, "r2", 1, 2),
        (MONDAY, "r3", 2, 3),
    ]


def test_command_prints_the_answers(lake, capsys):
    assert analytics.main(["--lake", lake]) == 0
    assert capsys.readouterr().out == (
        "Low-confidence words (confidence < 0.5) per night and recording\n"
        "  night       recording_id  low_words  words\n"
        "  2026-03-01  r1            2          4\n"
        "  2026-03-02  r2            1          2\n"
        "  2026-03-02  r3            1          3\n"
        "\n"
        "Medications mentioned per ISO week\n"
        "  iso_week  mentions  recordings\n"
        "  2026-W09  2         1\n"
        "  2026-W10  3         2\n"
        "\n"
        "Notes per template\n"
        "  template              notes  sentences\n"
        "  (unknown)             1      2\n"
        "  GIRPP                 1      5\n"
        "  HISTORY_AND_PHYSICAL  2      7\n"
    )


def test_command_for_one_night(lake, capsys):
    assert analytics.main(["--lake", lake, "--night", WEDNESDAY]) == 0
    out = capsys.readouterr().out
    assert "per night and recording\n  night  recording_id  low_words  words\n  (none)\n" in out
    assert "  2026-W10  2         1\n" in out
    assert out.endswith("Notes per template\n  template  notes  sentences\n  (none)\n")


def test_empty_lake(tmp_path, capsys):
    assert analytics.main(["--lake", str(tmp_path / "nothing")]) == 0
    assert capsys.readouterr().out.count("(none)") == 3


def test_ddl_mode(capsys):
    assert analytics.main(["--ddl", "s3://lake-bucket/lake", "--database", "medscribe"]) == 0
    out = capsys.readouterr().out
    assert out.count("CREATE EXTERNAL TABLE IF NOT EXISTS `medscribe`.") == len(TABLES)
    assert (
        "'storage.location.template'='s3://lake-bucket/lake/_symlink_format_manifest/clinical_insights/"
        "night=${night}'"
    ) in out
    assert out.count("STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'") == len(
        TABLES
    )


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        analytics.main([])
    with pytest.raises(SystemExit):
        analytics.main(["--lake", "x", "--night", "yesterday"])
    assert analytics.main(["--ddl", "/not/s3"]) == 2
    assert "s3://" in capsys.readouterr().err


def test_runs_as_a_module(lake):
    result = subprocess.run(
        [sys.executable, "-m", "medscribe.analytics", "--lake", lake, "--night", SUNDAY],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "  2026-03-01  r1            2          4\n" in result.stdout
