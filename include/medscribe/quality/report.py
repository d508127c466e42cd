"""The gate's report: GX results read back into failures, review rows, statuses and the night's verdict;
the ``review_queue`` table; the report and data docs saved next to the lake.

The report names recordings by id and carries figures only, never transcript text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from medscribe.lake.schemas import TABLES
from medscribe.quality.config import QualityConfig
from medscribe.quality.suites import METRICS


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _failure(suite: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """One failed expectation: suite, type, column, severity, description, unexpected count, error."""
    expectation = outcome["expectation_config"]
    kwargs = expectation["kwargs"]
    return {
        "suite": suite,
        "expectation": expectation["type"],
        "column": kwargs.get("column")
        or kwargs.get("column_A")
        or (",".join(kwargs["column_list"]) if expectation["type"].startswith("expect_compound") else None),
        "severity": (expectation.get("meta") or {}).get("severity"),
        "description": expectation.get("description"),
        "unexpected_count": (outcome.get("result") or {}).get("unexpected_count"),
        "error": (outcome.get("exception_info") or {}).get("exception_message"),
    }


def _review_rows(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``review_queue`` rows of a failed ``review`` expectation: one per failed row of its check."""
    expectation = outcome["expectation_config"]
    meta, column = expectation["meta"], expectation["kwargs"]["column"]
    return [
        {
            "recording_id": row["recording_id"],
            "job_name": row.get("job_name"),
            "metric": meta["metric"],
            "value": _number(row.get(column)),
            "threshold": float(meta["threshold"]),
            "bound": meta["bound"],
        }
        for row in (outcome.get("result") or {}).get("unexpected_index_list") or []
    ]


def build_report(
    results: dict[str, dict[str, Any]],
    checks: dict[str, pd.DataFrame],
    config: QualityConfig,
    night: str | None = None,
) -> dict[str, Any]:
    """
    Read the suites' results into the gate's report.

    A recording is ``review`` if it has a review row, ``passed`` if a check looked at it (it has words,
    segments, or a produced note) and none failed; recordings no check looked at have no status.

    :param results: ``{suite: GX validation result JSON}`` (:func:`medscribe.quality.runner.run_suites`).
    :param checks: the check frames the suites validated (:func:`medscribe.quality.frames.check_frames`).
    :param config: thresholds and policy (what fails the night).
    :param night: the night, recorded in the report.
    :return: the report (see :func:`medscribe.quality.gate.run_gate`).
    """
    failures, review_rows = [], []
    for suite, result in results.items():
        for outcome in result["results"]:
            if outcome["success"]:
                continue
            failures.append(_failure(suite, outcome))
            if failures[-1]["severity"] == "review":
                review_rows += _review_rows(outcome)
    review_rows.sort(key=lambda r: (r["recording_id"], METRICS.index(r["metric"])))
    checked = set()
    for name in ("transcript_confidence", "segment_coverage"):
        checked |= set(checks[name]["recording_id"])
    notes = checks["note_presence"]
    checked |= set(notes[notes["has_document"]]["recording_id"])
    flagged = {r["recording_id"] for r in review_rows}
    statuses = {rid: ("review" if rid in flagged else "passed") for rid in sorted(checked | flagged)}
    structural_ok = not any(f["severity"] == "structural" for f in failures)
    review_ok = not review_rows
    night_ok = (structural_ok or not config.fail_on_structural) and (review_ok or not config.fail_on_review)
    confidence = checks["transcript_confidence"]
    transcripts = [
        {
            "recording_id": r.recording_id,
            "job_name": r.job_name,
            "words": int(r.words),
            "mean_confidence": round(float(r.mean_confidence), 4),
            "low_word_share": round(float(r.low_word_share), 4),
            "passed": statuses.get(r.recording_id) == "passed",
        }
        for r in confidence.itertuples()
    ]
    return {
        "night": night,
        "structural_ok": structural_ok,
        "review_ok": review_ok,
        "night_ok": night_ok,
        "under_bar": len(flagged),
        "review_queue": review_rows,
        "quality_status": statuses,
        "transcripts": transcripts,
        "failures": failures,
        "config": config.to_dict(),
        "bar": config.to_dict(),
        "results": results,
    }


def failed_expectations(report: dict[str, Any], severity: str | None = "structural") -> list[str]:
    """``suite:expectation type:column`` of the report's failed expectations (of one severity, or all)."""
    return sorted(
        f"{f['suite']}:{f['expectation']}:{f['column']}"
        for f in report["failures"]
        if severity is None or f["severity"] == severity
    )


def review_queue_table(report: dict[str, Any]) -> pa.Table:
    """The report's review rows as the ``review_queue`` table."""
    return pa.Table.from_pylist(report["review_queue"], schema=TABLES["review_queue"])


def quality_dir(lake_uri: str, night: str):
    """``(filesystem, path)`` of the night's quality folder, ``<lake>/_quality/night=<night>``."""
    from medscribe.lake.store import resolve

    filesystem, root = resolve(lake_uri)
    return filesystem, f"{root}/_quality/night={night}"


def save_report(report: dict[str, Any], lake_uri: str, night: str, docs_dir: Path | None = None) -> str:
    """
    Write the report (GX results included) as ``word_confidence.json`` and copy the rendered data docs
    to ``data_docs/`` under ``<lake>/_quality/night=<night>/``, replacing the night's previous ones.

    :return: the report's path.
    """
    import json

    from pyarrow import fs

    filesystem, directory = quality_dir(lake_uri, night)
    filesystem.create_dir(directory, recursive=True)
    path = f"{directory}/word_confidence.json"
    with filesystem.open_output_stream(path) as stream:
        stream.write(json.dumps(report, indent=1, default=str).encode())
    if docs_dir is not None:
        target = f"{directory}/data_docs"
        filesystem.create_dir(target, recursive=True)
        filesystem.delete_dir_contents(target, missing_dir_ok=True)
        fs.copy_files(
            str(docs_dir), target, source_filesystem=fs.LocalFileSystem(), destination_filesystem=filesystem
        )
    return path
