"""The word-confidence gate: structural failures fail, a low-confidence transcript is reported, GX JSON is kept."""

from __future__ import annotations

import json

import pandas as pd

from medscribe.quality.word_confidence import ConfidenceBar, check_word_confidence, failed_expectations, save_report


def words(recording_id: str, confidences: list[float | None]) -> pd.DataFrame:
    rows = [
        {"recording_id": recording_id, "job_name": f"job-{recording_id}", "is_punctuation": False, "alternative_rank": 0,
         "confidence": c, "start_time": i * 0.5, "end_time": i * 0.5 + 0.4}
        for i, c in enumerate(confidences)
    ]
    rows.append({"recording_id": recording_id, "job_name": f"job-{recording_id}", "is_punctuation": True,
                 "alternative_rank": 0, "confidence": None, "start_time": None, "end_time": None})
    return pd.DataFrame(rows)


def test_clear_and_degraded_transcripts():
    night = pd.concat([words("good", [0.95, 0.9, 0.99, 0.97]), words("noisy", [0.4, 0.3, 0.9, 0.45])])
    report = check_word_confidence(night, ConfidenceBar())
    assert report["structural_ok"] is True  # punctuation without times or confidence is not a structural error
    by_id = {t["recording_id"]: t for t in report["transcripts"]}
    assert by_id["good"]["passed"] and by_id["good"]["mean_confidence"] == 0.9525
    assert not by_id["noisy"]["passed"] and by_id["noisy"]["low_word_share"] == 0.75
    assert report["under_bar"] == 1


def test_bar_is_configurable():
    report = check_word_confidence(words("noisy", [0.4, 0.3, 0.9, 0.45]), ConfidenceBar(0.4, 0.2, 0.5))
    assert report["under_bar"] == 0


def test_structural_break_fails_and_is_named(tmp_path):
    broken = words("r1", [0.9, 1.7, 0.8])
    broken.loc[0, "start_time"] = None
    report = check_word_confidence(broken)
    assert report["structural_ok"] is False
    assert sorted(failed_expectations(report)) == [
        "expect_column_pair_values_a_to_be_greater_than_b",  # a row without start time cannot be ordered
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_be_null",
    ]
    path = save_report(report, str(tmp_path), "2026-11-23")
    saved = json.loads(open(path).read())
    assert saved["results"]["words_structure"]["success"] is False
    assert "expect_column_values_to_be_between" in json.dumps(saved["results"]["words_structure"])
