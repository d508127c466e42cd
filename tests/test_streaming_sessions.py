"""Issue 26, item 5: HealthScribe streaming sessions whose post-stream analytics landed in the outputs
bucket during the night are listed (AWS's layout), checked, recorded in the ledger and flattened into
the night's tables beside the batch jobs (service ``healthscribe_streaming``, job name = SessionId); a
rerun duplicates nothing; a malformed transcript.json ends ``failed`` with a reason that quotes nothing."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.governance import Places
from medscribe.governance.forget import forget_recording, resolve_inputs
from medscribe.governance.places import PLACES
from medscribe.governance.retention import RetentionPolicy, apply_retention
from medscribe.lake.parse import healthscribe_transcript_tables
from medscribe.lake.store import read_table
from medscribe.ledger import Ledger
from medscribe.night.flatten import flatten_night
from medscribe.night.settle import settle_night
from medscribe.streaming_sessions import (
    list_night_sessions,
    mark_service,
    night_sessions,
    night_window,
    save_night_sessions,
)
from tests.conftest import boto3_client

ENGINE = Path(__file__).parent / "fixtures" / "engine"
NIGHT = "2026-12-05"
OUTPUTS = "streaming-outputs"
RECORDINGS = "streaming-recordings"
PHI = "Jane Canary Doe"


def streaming_files(transcript: str, document: str, session_id: str) -> tuple[bytes, bytes]:
    """An engine fixture in the streaming form (what analytics.py writes: SessionId for JobName/JobType)."""
    doc = json.loads((ENGINE / f"{transcript}.json").read_bytes())
    conversation = doc["Conversation"]
    conversation.pop("JobName", None), conversation.pop("JobType", None)
    doc["Conversation"] = {
        "ConversationId": conversation.pop("ConversationId"),
        "SessionId": session_id,
        **conversation,
    }
    note = json.loads((ENGINE / f"{document}.json").read_bytes())
    note["ClinicalDocumentation"] = {"SessionId": session_id, **note["ClinicalDocumentation"]}
    return json.dumps(doc).encode(), json.dumps(note).encode()


def put_session(s3, session_id: str, transcript: bytes, document: bytes | None) -> None:
    folder = f"healthscribe-streaming/{session_id}/post-stream-analytics/clinical-notes"
    s3.put_object(Bucket=OUTPUTS, Key=f"{folder}/transcript.json", Body=transcript)
    if document is not None:
        s3.put_object(Bucket=OUTPUTS, Key=f"{folder}/summary.json", Body=document)


@pytest.fixture()
def night(s3_only):
    """One session landed before the night, then two good ones and a malformed one during it."""
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    for bucket in (OUTPUTS, RECORDINGS):
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
    ids = [str(uuid.uuid4()) for _ in range(4)]
    earlier, first, second, malformed = ids
    put_session(
        s3, earlier, *streaming_files("healthscribe_mono", "healthscribe_mono_clinical_document", earlier)
    )
    time.sleep(1.2)  # LastModified has second resolution: the night starts after the earlier session
    start = datetime.now(UTC).replace(microsecond=0)
    put_session(
        s3, first, *streaming_files("healthscribe_stereo", "healthscribe_stereo_clinical_document", first)
    )
    put_session(
        s3, second, *streaming_files("healthscribe_mono", "healthscribe_mono_clinical_document", second)
    )
    bad = {
        "Conversation": {
            "SessionId": malformed,
            "TranscriptItems": [{"Alternatives": [{"Content": PHI, "Confidence": "high"}]}],
        }
    }
    put_session(s3, malformed, json.dumps(bad).encode(), None)
    # not a session's output: a copy under a patient's name, and another file in a session's folder
    s3.put_object(Bucket=OUTPUTS, Key=f"healthscribe-streaming/{PHI}/transcript.json", Body=b"{}")
    s3.put_object(Bucket=OUTPUTS, Key=f"healthscribe-streaming/{first}/audio.wav", Body=b"RIFF")
    end = datetime.now(UTC) + timedelta(seconds=5)
    ledger = Ledger(s3, RECORDINGS, "ledger")
    return {"s3": s3, "ledger": ledger, "start": start, "end": end, "ids": ids}


def save(night: dict) -> dict:
    return save_night_sessions(
        night["s3"],
        night["ledger"],
        bucket=OUTPUTS,
        prefix="healthscribe-streaming/",
        night=NIGHT,
        start=night["start"],
        end=night["end"],
    )


def flatten(night: dict, result: dict, lake: Path) -> dict[str, int]:
    return flatten_night(
        recordings=[],
        describe_job=lambda service, name: {},
        s3_client=night["s3"],
        lake_uri=str(lake),
        night=NIGHT,
        ledger=night["ledger"],
        streaming=night_sessions(night["ledger"], result),
    )


def test_the_night_window_is_the_scheduled_data_interval():
    assert night_window("2026-12-05", 2) == (
        datetime(2026, 12, 5, 2, tzinfo=UTC),
        datetime(2026, 12, 6, 2, tzinfo=UTC),
    )


def test_only_the_nights_sessions_are_listed_in_awss_layout(night):
    earlier, first, second, malformed = night["ids"]
    sessions, skipped = list_night_sessions(
        night["s3"], OUTPUTS, "healthscribe-streaming", night["start"], night["end"]
    )
    assert [s["session_id"] for s in sessions] == sorted([first, second, malformed])
    assert skipped == 2
    by_id = {s["session_id"]: s for s in sessions}
    assert by_id[first]["transcript_uri"] == (
        f"s3://{OUTPUTS}/healthscribe-streaming/{first}/post-stream-analytics/clinical-notes/transcript.json"
    )
    assert by_id[first]["clinical_document_uri"].endswith(
        f"/{first}/post-stream-analytics/clinical-notes/summary.json"
    )
    assert by_id[malformed]["clinical_document_uri"] is None
    # the window is half-open: a night ending at the earlier session's landing does not take it
    before, _ = list_night_sessions(
        night["s3"], OUTPUTS, "healthscribe-streaming", night["start"] - timedelta(hours=1), night["start"]
    )
    assert [s["session_id"] for s in before] == [earlier]


def test_sessions_are_flattened_with_ledger_entries_and_no_duplicates_on_a_rerun(night, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    earlier, first, second, malformed = night["ids"]
    lake = tmp_path / "lake"
    result = save(night)
    assert result == {"manifest": result["manifest"], "sessions": 2, "failed": 1, "skipped": 2}
    assert set(result) == {"manifest", "sessions", "failed", "skipped"}  # counts and a key: the XCom
    counts = flatten(night, result, lake)

    jobs = read_table("jobs", str(lake), night=NIGHT).to_pylist()
    assert sorted((j["job_name"], j["recording_id"], j["service"], j["status"]) for j in jobs) == sorted(
        [
            (first, first, "healthscribe_streaming", "COMPLETED"),
            (second, second, "healthscribe_streaming", "COMPLETED"),
            (malformed, malformed, "healthscribe_streaming", "FAILED"),
        ]
    )
    words = read_table("transcript_words", str(lake), night=NIGHT)
    assert set(words["job_name"].to_pylist()) == {first, second}
    assert set(words["service"].to_pylist()) == {"healthscribe_streaming"}
    assert set(words["recording_id"].to_pylist()) == {first, second}
    # the rows are those of the same file flattened alone (lake.parse), with only the service renamed
    body = (
        night["s3"]
        .get_object(
            Bucket=OUTPUTS,
            Key=f"healthscribe-streaming/{first}/post-stream-analytics/clinical-notes/transcript.json",
        )["Body"]
        .read()
    )
    expected = healthscribe_transcript_tables(json.loads(body), recording_id=first, job_name=first)[
        "transcript_words"
    ]
    mine = words.filter(pa.compute.equal(words["job_name"], first)).drop_columns(["night", "service"])
    assert mine.to_pylist() == expected.drop_columns(["service"]).to_pylist()
    for table in ("transcript_segments", "note_sentences", "note_evidence"):
        got = read_table(table, str(lake), night=NIGHT)
        assert set(got["job_name"].to_pylist()) == {first, second}, table

    ledger = {e["recording_id"]: e for e in night["ledger"].night(NIGHT)}
    assert set(ledger) == {first, second, malformed}  # the session of the night before is not taken
    assert night["ledger"].get(NIGHT, earlier) is None
    assert {(e["state"], e["service"], e["job_name"]) for e in (ledger[first], ledger[second])} == {
        ("succeeded", "healthscribe_streaming", first),
        ("succeeded", "healthscribe_streaming", second),
    }
    assert ledger[malformed]["state"] == "failed"
    reason = "transcript.json: Conversation.TranscriptItems[].Alternatives[].Confidence is not a number"
    assert ledger[malformed]["reason"] == reason
    recordings = read_table("recordings", str(lake), night=NIGHT).to_pylist()
    assert sorted((r["recording_id"], r["state"]) for r in recordings) == sorted(
        [(first, "succeeded"), (second, "succeeded"), (malformed, "failed")]
    )

    # the rerun: the same sessions, the same ledger entries (not rewritten), the same rows
    before = {name: read_table(name, str(lake), night=NIGHT).to_pylist() for name in counts}
    entries = night["ledger"].night(NIGHT)
    again = save(night)
    assert again == result
    assert night["ledger"].night(NIGHT) == entries
    assert flatten(night, again, lake) == counts
    for name, table_rows in before.items():
        assert read_table(name, str(lake), night=NIGHT).to_pylist() == table_rows, name

    assert f"Streaming session {malformed} failed: transcript.json" in caplog.text
    assert PHI not in caplog.text and "Jane" not in caplog.text
    assert PHI not in json.dumps(result)


def test_a_transcript_that_is_not_json_fails_with_a_reason_and_no_content(night, caplog):
    caplog.set_level(logging.INFO)
    session = str(uuid.uuid4())
    put_session(night["s3"], session, f'{{"Conversation": {PHI}'.encode(), None)
    result = save(night)
    assert result["failed"] == 2
    entry = night["ledger"].get(NIGHT, session)
    assert entry["state"] == "failed" and entry["finished_at"]
    assert entry["reason"].startswith("transcript.json is not JSON (Expecting value at line 1")
    manifest = night_sessions(night["ledger"], result)
    assert session in {f["session_id"] for f in manifest["failed"]}
    assert session not in {s["session_id"] for s in manifest["sessions"]}
    assert PHI not in caplog.text and PHI not in json.dumps(manifest)


def test_a_malformed_summary_fails_its_session(night):
    session = str(uuid.uuid4())
    transcript, _ = streaming_files("healthscribe_mono", "healthscribe_mono_clinical_document", session)
    put_session(night["s3"], session, transcript, b'{"Sections": []}')
    save(night)
    entry = night["ledger"].get(NIGHT, session)
    assert entry["state"] == "failed" and entry["reason"].startswith("summary.json: ")


def test_mark_service_renames_only_the_sessions_rows():
    words = pa.table(
        {"job_name": ["a", "s", "b"], "service": ["healthscribe", "healthscribe", "transcribe_medical"]}
    )
    assert mark_service(words, {"s"})["service"].to_pylist() == [
        "healthscribe",
        "healthscribe_streaming",
        "transcribe_medical",
    ]
    assert mark_service(words, set()) is words


def test_the_quality_gate_takes_the_sessions_rows(night, tmp_path):
    """The lake's service columns allow healthscribe_streaming: the gate's structural suites pass."""
    from medscribe.quality.config import DEFAULT_CONFIG
    from medscribe.quality.gate import failed_expectations, gate_night

    lake = tmp_path / "lake"
    flatten(night, save(night), lake)
    report = gate_night(str(lake), NIGHT, DEFAULT_CONFIG)
    assert report["structural_ok"], failed_expectations(report)
    assert {t["job_name"] for t in report["transcripts"]} >= set(night["ids"][1:3])


def test_a_failed_session_is_counted_in_the_nights_states(night):
    """settle runs after streaming_sessions and counts the whole night's ledger: summary then fails red."""
    save(night)
    states = settle_night(
        recordings=[], outcomes={}, describe_job=lambda s, n: {}, ledger=night["ledger"], night=NIGHT
    )
    assert states == {"succeeded": 2, "failed": 1}


def output_keys(s3) -> set[str]:
    return {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=OUTPUTS)
        for item in page.get("Contents", [])
    }


def test_a_session_is_forgotten_everywhere_and_retention_deletes_old_sessions(night, tmp_path, stack):
    """Forget takes a SessionId (its recording id) and deletes the session's rows, ledger entry and every
    output AWS wrote under its folder; retention deletes old sessions' outputs, and nothing else there."""
    earlier, first, second, malformed = night["ids"]
    s3, lake = night["s3"], tmp_path / "lake"
    flatten(night, save(night), lake)
    places = Places(
        recordings_bucket=RECORDINGS, recordings_prefix="incoming", staging_prefix="staging/media",
        quarantine_prefix="quarantine", ledger_prefix="ledger", output_bucket=OUTPUTS, lake_uri=str(lake),
    )  # fmt: skip
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    assert resolve_inputs(s3, places, [first.upper()]) == ([first], 0)

    counts = forget_recording(s3, transcribe, places, first)
    assert counts["service_outputs"] == 3  # transcript.json, summary.json, and the other file in its folder
    assert counts["ledger_entries"] >= 1 and counts["lake_rows"] > 0 and counts["nights"] == [NIGHT]
    assert not [key for key in output_keys(s3) if first in key]
    for table in ("jobs", "recordings", "transcript_words", "transcript_segments", "note_sentences"):
        ids = set(read_table(table, str(lake), night=NIGHT)["recording_id"].to_pylist())
        assert first not in ids and second in ids, table
    assert night["ledger"].get(NIGHT, first) is None and night["ledger"].get(NIGHT, second) is not None
    again = forget_recording(s3, transcribe, places, first)
    assert all(again[place] == 0 for place in PLACES), again

    policy = RetentionPolicy(staged_days=None, quarantined_days=None, service_outputs_days=1)
    retained = apply_retention(
        s3, transcribe, places, policy, datetime.now(UTC) + timedelta(days=2),
        job_name_contains="no-job-of-this-test",  # the shared engine's other jobs are not this test's
    )  # fmt: skip
    assert output_keys(s3) == {f"healthscribe-streaming/{PHI}/transcript.json"}  # no session: not ours
    by_recording = {r["recording_id"]: r["service_outputs"] for r in retained["results"]}
    assert by_recording == {earlier: 2, second: 2, malformed: 1}
