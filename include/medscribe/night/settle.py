"""The end of the night's jobs: every submitted recording moved to ``succeeded`` or ``failed``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def batch_outcomes(ledger, results: list[dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """
    The job outcomes of the night's batches, read from the manifests their tasks wrote.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param results: the batch tasks' results (``manifests.save_batch_outcomes``); None for a batch
        whose task failed (its jobs are then described by :func:`settle_night`).
    :return: ``{job name: {"status", "failure_reason"}}``.
    """
    from medscribe.manifests import read_manifest

    outcomes: dict[str, dict[str, Any]] = {}
    for result in results or []:
        if result and result.get("outcomes"):
            outcomes.update(read_manifest(ledger.s3, ledger.bucket, result["outcomes"]))
    return outcomes


def settle_night(
    *,
    recordings: list[dict[str, Any]],
    outcomes: dict[str, dict[str, Any]],
    describe_job: Callable[[str, str], dict[str, Any]],
    ledger,
    night: str,
) -> dict[str, int]:
    """
    Move every submitted recording of the night to ``succeeded`` or ``failed`` (with the reason).

    :param recordings: ``Recording.to_dict()`` values from discovery.
    :param outcomes: ``{job name: {"status", "failure_reason"}}`` merged from the batches (may miss jobs
        of batches that failed; those are described).
    :param describe_job: ``(service, job_name) -> job description``.
    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param night: the night.
    :return: the night's ledger states and their counts.
    """
    for recording in recordings:
        entry = ledger.get(night, recording["recording_id"])
        if entry is None or entry["state"] != "submitted":
            continue
        outcome = outcomes.get(entry["job_name"])
        if outcome is None or outcome["status"] not in ("COMPLETED", "FAILED", "NOT_STARTED"):
            try:
                job = describe_job(recording["service"], entry["job_name"])
                outcome = {
                    "status": job.get("MedicalScribeJobStatus") or job.get("TranscriptionJobStatus"),
                    "failure_reason": job.get("FailureReason"),
                }
            except Exception as error:  # never created: the batch failed before starting it
                outcome = {
                    "status": "NOT_STARTED",
                    "failure_reason": f"job was not started ({type(error).__name__})",
                }
        if outcome["status"] == "COMPLETED":
            ledger.update(night, recording["recording_id"], state="succeeded", reason=None)
        elif outcome["status"] in ("FAILED", "NOT_STARTED"):
            ledger.update(
                night,
                recording["recording_id"],
                state="failed",
                reason=outcome["failure_reason"] or outcome["status"],
            )
        else:
            ledger.update(
                night,
                recording["recording_id"],
                state="failed",
                reason=f"job still {outcome['status']} at the end of the run",
            )
    states: dict[str, int] = {}
    for entry in ledger.night(night):
        states[entry["state"]] = states.get(entry["state"], 0) + 1
    log.info("Night %s settled: %s", night, states)
    return states
