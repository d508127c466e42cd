"""End to end: the nightly DAG on the fixtures, against moto S3 and the offline engine, with SQLite metadata.

Runs ``airflow dags test`` (the job tasks defer; their triggers run and the tasks resume) and asserts on
what landed in the Parquet lake: the reference words, word times and confidences, one COMPLETED job
per recording; then reruns the same night and checks that no job is started and no row duplicated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from medwer import Scorer

from medscribe.lake.store import read_table, row_counts
from medscribe_harness.demo import SAMPLES, run_night, s3_client, seed_night
from tests.conftest import AUDIO, boto3_client, reference

NIGHT = "2026-11-23"
pytestmark = pytest.mark.e2e


def recording_id(fixture: str) -> str:
    return hashlib.sha256((AUDIO / fixture).read_bytes()).hexdigest()[:32]


def engine_job_names(stack) -> list[str]:
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    names = [
        j["MedicalScribeJobName"]
        for j in transcribe.list_medical_scribe_jobs(MaxResults=100)["MedicalScribeJobSummaries"]
    ]
    names += [
        j["MedicalTranscriptionJobName"]
        for j in transcribe.list_medical_transcription_jobs(MaxResults=100)[
            "MedicalTranscriptionJobSummaries"
        ]
    ]
    return sorted(n for n in names if n.startswith("medscribe-"))


@pytest.fixture(scope="module")
def night(stack, tmp_path_factory):
    base = tmp_path_factory.mktemp("night")
    seed_night(s3_client(stack.s3_endpoint), NIGHT)
    lake, home, log = str(base / "lake"), base / "airflow", base / "dags-test.log"
    result = run_night(NIGHT, stack, lake, home, log)
    output = log.read_text()
    assert result.returncode == 0, output[-6000:]
    return {"lake": lake, "home": home, "log": output, "base": base}


def test_jobs_one_completed_row_per_recording(night):
    jobs = read_table("jobs", night["lake"], night=NIGHT).to_pylist()
    assert sorted((j["recording_id"], j["status"]) for j in jobs) == sorted(
        (recording_id(fixture), "COMPLETED") for fixture in SAMPLES
    )
    services = {j["recording_id"]: j["service"] for j in jobs}
    assert services[recording_id("dictation.wav")] == "transcribe_medical"
    assert services[recording_id("conversation_stereo.wav")] == "healthscribe"


def test_ledger_says_every_recording_succeeded(night):
    recordings = read_table("recordings", night["lake"], night=NIGHT).to_pylist()
    assert sorted((r["recording_id"], r["state"], r["attempts"]) for r in recordings) == sorted(
        (recording_id(fixture), "succeeded", 1) for fixture in SAMPLES
    )
    assert all(r["finished_at"] is not None and r["reason"] is None for r in recordings)


@pytest.mark.parametrize("fixture", sorted(SAMPLES))
def test_reference_words_are_in_the_words_table(night, fixture):
    words = read_table("transcript_words", night["lake"], night=NIGHT).to_pandas()
    mine = words[(words["recording_id"] == recording_id(fixture)) & (words["alternative_rank"] == 0)]
    mine = mine.sort_values("item_index")
    spoken = mine[~mine["is_punctuation"]]
    assert len(spoken) > 20
    assert spoken["start_time"].notna().all() and spoken["end_time"].notna().all()
    assert (spoken["start_time"] <= spoken["end_time"]).all()
    assert spoken["confidence"].between(0, 1).all()
    hypothesis = " ".join(mine["content"])
    score = Scorer().corpus([reference(fixture.removesuffix(".wav"))["text"]], [hypothesis])
    assert score["wer"] < 0.25, score


def test_stereo_segments_carry_channel_roles(night):
    segments = read_table("transcript_segments", night["lake"], night=NIGHT).to_pandas()
    stereo = segments[segments["recording_id"] == recording_id("conversation_stereo.wav")]
    turns = reference("conversation_stereo")["turns"]

    def speaker_at(t: float) -> str | None:
        return next(
            (turn["speaker"] for turn in turns if turn["start_s"] - 0.3 <= t <= turn["end_s"] + 0.3), None
        )

    agree = [
        speaker_at((s.begin_time + s.end_time) / 2) == s.participant_role.split("_")[0]
        for s in stereo.itertuples()
    ]
    assert len(agree) >= len(turns) * 0.8 and sum(agree) / len(agree) >= 0.9


def test_conversation_notes_land_with_evidence_in_the_segments(night):
    sentences = read_table("note_sentences", night["lake"], night=NIGHT).to_pandas()
    evidence = read_table("note_evidence", night["lake"], night=NIGHT).to_pandas()
    segments = read_table("transcript_segments", night["lake"], night=NIGHT).to_pandas()
    stereo = recording_id("conversation_stereo.wav")
    mine = sentences[sentences["recording_id"] == stereo]
    assert len(mine) >= 3 and set(mine["note_template"]) == {"HISTORY_AND_PHYSICAL"}
    assert "PLAN" in set(mine["section_name"])
    # the patient said "No chest pain.": the note denies it (no pronouns given: "They deny ...")
    assert any("deny chest pain" in text.lower() for text in mine["text"]), list(mine["text"])
    links = evidence[evidence["recording_id"] == stereo]
    assert len(links) >= len(mine)
    assert set(links["segment_id"]) <= set(segments[segments["recording_id"] == stereo]["segment_id"])
    assert recording_id("dictation.wav") not in set(sentences["recording_id"])


def test_jobs_really_deferred(night):
    assert "jobs of the batch still running" in night["log"]  # the batch trigger ran
    assert "deferred" in night["log"].lower()


def test_quality_report_written(night):
    report = json.loads(Path(f"{night['lake']}/_quality/night={NIGHT}/word_confidence.json").read_text())
    assert report["structural_ok"] is True
    assert sorted(t["recording_id"] for t in report["transcripts"]) == sorted(
        recording_id(f) for f in SAMPLES
    )


def test_rerun_starts_no_job_and_duplicates_no_row(stack, night):
    before_jobs, before_rows = engine_job_names(stack), row_counts(night["lake"], night=NIGHT)
    result = run_night(NIGHT, stack, night["lake"], night["home"], night["base"] / "rerun.log")
    assert result.returncode == 0, (night["base"] / "rerun.log").read_text()[-4000:]
    assert engine_job_names(stack) == before_jobs
    assert row_counts(night["lake"], night=NIGHT) == before_rows
    # the engine is shared by the session's tests: count only the jobs this night's table names
    night_jobs = {j["job_name"] for j in read_table("jobs", night["lake"], night=NIGHT).to_pylist()}
    assert len(night_jobs) == len(SAMPLES) and night_jobs <= set(before_jobs)


def test_no_keys_or_transcript_text_in_xcom_or_logs(night):
    import sqlite3

    with sqlite3.connect(night["home"] / "airflow.db") as db:
        values = [str(row[0]) for row in db.execute("select value from xcom")]
    assert values, "the run stored no XCom at all"
    logs = [night["log"]] + [p.read_text(errors="replace") for p in (night["home"] / "logs").rglob("*.log")]
    secrets = [relative_key.split("/")[-2] for relative_key, _ in SAMPLES.values()]  # clinic-a, dr-0001 ...
    secrets += [relative_key.split("/")[-1] for relative_key, _ in SAMPLES.values()]  # visit-0001.wav ...
    for fixture in SAMPLES:
        text = reference(fixture.removesuffix(".wav"))["text"]
        secrets += [
            w.strip(".,?").lower() for w in text.split() if len(w.strip(".,?")) >= 9
        ]  # distinctive words
    haystack = "\n".join(values + logs).lower()
    assert (
        f"ledger/_manifests/{NIGHT}/discover.json" in haystack
    )  # XCom carries manifest keys, not per-recording lists
    assert len(secrets) >= 15
    assert [s for s in secrets if s.lower() in haystack] == []
