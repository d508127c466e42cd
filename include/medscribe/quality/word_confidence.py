"""The night's word-confidence gate, with Great Expectations 1.x suites built in code.

Two kinds of expectation, with two consequences:

* structural (the night fails): every pronunciation row has a confidence in [0, 1], a start and an end
  time, and keys that are not null;
* the confidence bar (the night does not fail; the transcript is reported as under the bar): per
  transcript, the mean word confidence is at least ``min_mean_confidence`` and at most
  ``max_low_share`` of the words fall under ``low_word_confidence``.

The GX validation results are kept as JSON next to the lake (``_quality/night=<night>/``): the verdict is
data, not a log line.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfidenceBar:
    """
    Word-confidence thresholds (defaults documented in README.md).

    :param min_mean_confidence: lowest accepted mean confidence of a transcript's words.
    :param low_word_confidence: a word under this confidence counts as low.
    :param max_low_share: highest accepted share of low words in a transcript.
    """

    min_mean_confidence: float = 0.85
    low_word_confidence: float = 0.5
    max_low_share: float = 0.10


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return gx, context


def _validate(gx, context, name: str, frame: pd.DataFrame, expectations: list) -> dict[str, Any]:
    source = context.data_sources.add_pandas(f"{name}_source")
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_batch")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return definition.run(batch_parameters={"dataframe": frame}).to_json_dict()


def check_word_confidence(words: pd.DataFrame, bar: ConfidenceBar = ConfidenceBar()) -> dict[str, Any]:
    """
    Validate one night's ``transcript_words`` rows.

    :param words: the night's transcript_words rows (best alternatives and alternates).
    :param bar: the confidence thresholds.
    :return: ``{"structural_ok", "under_bar", "transcripts": [...], "results": {suite: GX JSON}}``; the
        transcript entries carry recording ids and figures only.
    """
    gx, context = _context()
    pronunciations = words[(~words["is_punctuation"]) & (words["alternative_rank"] == 0)]
    structural = _validate(
        gx,
        context,
        "words_structure",
        pronunciations,
        [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="recording_id"),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="job_name"),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="confidence"),
            gx.expectations.ExpectColumnValuesToBeBetween(column="confidence", min_value=0.0, max_value=1.0),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="start_time"),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="end_time"),
            gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_time", column_B="start_time", or_equal=True
            ),
        ],
    )
    transcripts = []
    results = {"words_structure": structural}
    for recording_id, group in pronunciations.groupby("recording_id", sort=True):
        low = (group["confidence"] < bar.low_word_confidence).astype(float).to_frame("is_low")
        name = f"confidence_{recording_id}"
        mean_result = _validate(
            gx,
            context,
            name,
            group.assign(is_low=low["is_low"]),
            [
                gx.expectations.ExpectColumnMeanToBeBetween(column="confidence", min_value=bar.min_mean_confidence),
                gx.expectations.ExpectColumnMeanToBeBetween(column="is_low", max_value=bar.max_low_share),
            ],
        )
        results[name] = mean_result
        figures = {r["expectation_config"]["kwargs"]["column"]: r["result"]["observed_value"] for r in mean_result["results"]}
        transcripts.append(
            {
                "recording_id": str(recording_id),
                "words": int(len(group)),
                "mean_confidence": round(float(figures["confidence"]), 4),
                "low_word_share": round(float(figures["is_low"]), 4),
                "passed": bool(mean_result["success"]),
            }
        )
    under_bar = sum(not t["passed"] for t in transcripts)
    log.info(
        "Word confidence: structural %s, %d of %d transcripts under the bar",
        "ok" if structural["success"] else "FAILED", under_bar, len(transcripts),
    )
    return {
        "structural_ok": bool(structural["success"]),
        "under_bar": under_bar,
        "bar": asdict(bar),
        "transcripts": transcripts,
        "results": results,
    }


def failed_expectations(report: dict[str, Any], suite: str = "words_structure") -> list[str]:
    """Types of the failed expectations of one suite of a report."""
    return [
        r["expectation_config"]["type"] for r in report["results"][suite]["results"] if not r["success"]
    ]


def save_report(report: dict[str, Any], lake_uri: str, night: str) -> str:
    """Write the report (GX results included) as JSON under ``<lake>/_quality/night=<night>/``."""
    from pyarrow import fs

    filesystem, root = fs.FileSystem.from_uri(lake_uri)
    directory = f"{root.rstrip('/')}/_quality/night={night}"
    filesystem.create_dir(directory, recursive=True)
    path = f"{directory}/word_confidence.json"
    with filesystem.open_output_stream(path) as stream:
        stream.write(json.dumps(report, indent=1, default=str).encode())
    return path
