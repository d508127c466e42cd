"""Reviewers' decisions as rows of the lake table ``review_decisions``, and the review status they imply.

A decision is appended, never changed: the night's partition is read, the new row added, and the
partition written back whole (``store.write_partition``). One process writes at a time (a lock here);
the api-server is the only writer of the table. The latest decision on an item is the one that counts.

Status of a recording: ``open`` (no decision), ``in_review`` (decisions, no sign-off), ``signed_off``.
A signed-off recording takes no further decision.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from medscribe.lake.schemas import REVIEW_DECISION_VALUES, TABLES
from medscribe.lake.store import read_table, write_partition

TABLE = "review_decisions"
STATUSES = ("open", "in_review", "signed_off")
#: longest word or sentence a reviewer may write (a note sentence is a few hundred characters)
MAX_TEXT = 2000

_WRITE = threading.Lock()


class DecisionRefused(ValueError):
    """A decision the table does not take (unknown kind or value, text missing or too long, signed off)."""


@dataclass(frozen=True)
class Decision:
    """One reviewer decision on one item of a recording.

    :param recording_id: the recording.
    :param job_name: the job whose output is reviewed.
    :param item_kind: word | sentence | recording.
    :param item_key: word: item_index; sentence: "section_index.sentence_index"; recording: None.
    :param before: the service's word or sentence (None for recording decisions).
    :param after: the reviewer's text for ``correct``; None otherwise.
    :param decision: one of ``REVIEW_DECISION_VALUES[item_kind]``.
    :param reviewer: the Airflow user name.
    """

    recording_id: str
    job_name: str
    item_kind: str
    item_key: str | None
    before: str | None
    after: str | None
    decision: str
    reviewer: str

    def check(self) -> None:
        """Raise ``DecisionRefused`` unless the decision fits the table's rules (no values in the message)."""
        if self.decision not in REVIEW_DECISION_VALUES.get(self.item_kind, ()):
            raise DecisionRefused("no such decision on this kind of item")  # the form's values are not echoed
        if (self.item_kind == "recording") != (self.item_key is None):
            raise DecisionRefused("a recording decision has no item key; a word or sentence has one")
        if self.decision == "correct":
            after = self.after or ""
            if not after.strip():
                raise DecisionRefused("a correction needs the corrected text")
            if len(after) > MAX_TEXT:
                raise DecisionRefused(f"a correction is at most {MAX_TEXT} characters")


def read_decisions(lake_uri: str, night: str, recording_id: str | None = None) -> list[dict[str, Any]]:
    """The night's decisions (one recording's if given), oldest first.

    :param lake_uri: the lake.
    :param night: the recordings' night.
    :param recording_id: keep only this recording's decisions.
    """
    rows = read_table(TABLE, lake_uri, night=night).to_pylist()
    if recording_id is not None:
        rows = [r for r in rows if r["recording_id"] == recording_id]
    return sorted(rows, key=lambda r: r["decided_at"])


def status(decisions: list[dict[str, Any]]) -> str:
    """A recording's review status from its decisions (oldest first)."""
    if not decisions:
        return "open"
    if any(d["item_kind"] == "recording" and d["decision"] == "sign_off" for d in decisions):
        return "signed_off"
    return "in_review"


def latest(decisions: list[dict[str, Any]], item_kind: str) -> dict[str, dict[str, Any]]:
    """The latest decision per item key of one kind of keyed item (a word or a sentence)."""
    out: dict[str, dict[str, Any]] = {}
    for row in decisions:
        if row["item_kind"] == item_kind and row["item_key"] is not None:
            out[row["item_key"]] = row
    return out


def verdict(decisions: list[dict[str, Any]]) -> str | None:
    """The latest accept or reject of the recording, None if neither was given."""
    verdicts = [d["decision"] for d in decisions if d["decision"] in ("accept", "reject")]
    return verdicts[-1] if verdicts else None


def append(
    lake_uri: str, night: str, decision: Decision, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Check a decision and append it to the night's ``review_decisions`` partition.

    :param lake_uri: the lake.
    :param night: the recording's night (the partition).
    :param decision: the decision.
    :param now: its time (UTC); the clock if None.
    :return: the row written.
    :raises DecisionRefused: the decision breaks a rule, or the recording is already signed off.
    """
    decision.check()
    row = {
        **decision.__dict__,
        "decided_at": now or dt.datetime.now(dt.UTC),
    }
    with _WRITE:
        existing = read_table(TABLE, lake_uri, night=night).drop_columns(["night"])
        own = [r for r in existing.to_pylist() if r["recording_id"] == decision.recording_id]
        if status(own) == "signed_off":
            raise DecisionRefused("the recording is signed off")
        added = pa.Table.from_pylist([row], schema=TABLES[TABLE])
        write_partition(TABLE, pa.concat_tables([existing.cast(TABLES[TABLE]), added]), lake_uri, night)
    return row
