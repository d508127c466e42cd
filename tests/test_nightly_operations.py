"""The nightly run as data engineers operate it, end to end through ``airflow dags test``.

* a night of 22 recordings with 6 bad ones (4 bad files, 2 sidecars the service would refuse) and a
  sidecar without its audio ends green with 16 succeeded and 7 quarantined, each with its reason; a
  rerun starts no job and leaves the same rows;
* an injected job failure (a corrupt staged copy) ends failed with the engine's reason while the others
  succeed, and a rerun with ``retry_failed`` gives it a new job that succeeds;
* a canary patient name in an object key and in the audio reaches the transcript but no XCom value,
  task log or exception message.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from medscribe.lake.store import read_table, row_counts
from medscribe.night.discover import ORPHAN_SIDECAR
from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import REPO_ROOT
from tests.conftest import AUDIO, engine_jobs
from tests.test_discovery import tone_wav

pytestmark = pytest.mark.e2e
BUSY_NIGHT, FAILING_NIGHT = "2026-11-10", "2026-11-11"
CANARY = "Canary"


def wav_slice(fixture: str, start_s: float, seconds: float) -> bytes:
    with wave.open(str(AUDIO / fixture)) as source:
        rate, channels = source.getframerate(), source.getnchannels()
        source.setpos(int(start_s * rate))
        frames = source.readframes(int(seconds * rate))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def sixteen_recordings() -> dict[str, bytes]:
    """16 distinct short recordings cut from the fixtures: dictations, mono and two-channel conversations."""
    cuts = {f"dictations/dr-7/note-{i}.wav": wav_slice("dictation.wav", 4.0 * i, 5.0) for i in range(5)}
    cuts |= {
        f"conversations/clinic-b/mono-{i}.wav": wav_slice("conversation_mono.wav", 5.0 * i, 6.0)
        for i in range(6)
    }
    cuts |= {
        f"conversations/clinic-b/stereo-{i}.wav": wav_slice("conversation_stereo.wav", 6.5 * i, 6.0)
        for i in range(5)
    }
    return cuts


def rid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    base = tmp_path_factory.mktemp("operations")
    return {"lake": str(base / "lake"), "home": base / "airflow", "base": base}


@pytest.fixture(scope="module")
def busy_night(stack, workdir):
    s3 = s3_client(stack.s3_endpoint)
    seed_night(s3, "2000-01-01", samples={})  # buckets only
    good = sixteen_recordings()
    bad = {
        "conversations/clinic-b/empty.wav": b"",
        "conversations/clinic-b/report.wav": b"%PDF-1.7\n" + b"not audio " * 200,
        "conversations/clinic-b/phone-8k.wav": tone_wav(rate=8000, seconds=2),
        "dictations/dr-7/cut-off.wav": tone_wav(seconds=2)[:30000],
        # good audio whose sidecars the service would refuse (issue 28: these used to fail the batch or the night)
        "conversations/clinic-b/speakers-0.wav": tone_wav(seconds=1.5),
        "conversations/clinic-b/listed.wav": tone_wav(seconds=1.7),
    }
    sidecars = {
        "conversations/clinic-b/speakers-0.wav.json": b'{"max_speakers": 0}',
        "conversations/clinic-b/listed.wav.json": b"[1, 2]",
        "conversations/clinic-b/lost.wav.json": b'{"kind": "conversation"}',  # its audio never arrived
    }
    originals = {**good, **bad, **sidecars}
    for key, data in originals.items():
        s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{BUSY_NIGHT}/{key}", Body=data)
    jobs_before = engine_jobs(stack)
    result = run_night(BUSY_NIGHT, stack, workdir["lake"], workdir["home"], workdir["base"] / "busy.log")
    assert result.returncode == 0, (workdir["base"] / "busy.log").read_text()[-5000:]
    return {
        "good": good,
        "bad": bad,
        "orphan": sidecars["conversations/clinic-b/lost.wav.json"],
        "originals": originals,
        "new_jobs": sorted(set(engine_jobs(stack)) - set(jobs_before)),
    }


def test_busy_night_ends_in_exactly_one_final_state_each(busy_night, workdir):
    recordings = {
        r["recording_id"]: r for r in read_table("recordings", workdir["lake"], night=BUSY_NIGHT).to_pylist()
    }
    assert len(recordings) == 23  # 16 good, 6 bad and the orphan sidecar
    assert sorted(rid(d) for d in busy_night["good"].values()) == sorted(
        i for i, r in recordings.items() if r["state"] == "succeeded"
    )
    reasons = {
        key.rsplit("/", 1)[1]: recordings[rid(data)]["reason"] for key, data in busy_night["bad"].items()
    }
    assert all(recordings[rid(d)]["state"] == "quarantined" for d in busy_night["bad"].values())
    assert reasons["empty.wav"] == "empty file (0 bytes)"
    assert reasons["report.wav"].startswith("not an audio file")
    assert reasons["phone-8k.wav"] == "sample rate 8000 Hz is under the minimum of 16000 Hz"
    assert reasons["cut-off.wav"].startswith("truncated wav")
    assert reasons["speakers-0.wav"] == "sidecar max_speakers must be at least 2"
    assert reasons["listed.wav"] == "sidecar must be a JSON object, not an array"
    assert (
        recordings[rid(busy_night["orphan"])]["state"],
        recordings[rid(busy_night["orphan"])]["reason"],
    ) == ("quarantined", ORPHAN_SIDECAR)
    assert len(busy_night["new_jobs"]) == 16
    jobs = read_table("jobs", workdir["lake"], night=BUSY_NIGHT).to_pylist()
    assert sorted(j["status"] for j in jobs) == ["COMPLETED"] * 16


def test_quarantine_copies_with_reason_and_originals_untouched(stack, busy_night):
    s3 = s3_client(stack.s3_endpoint)
    for data in busy_night["bad"].values():
        head = s3.head_object(Bucket=RECORDINGS_BUCKET, Key=f"quarantine/{BUSY_NIGHT}/{rid(data)}")
        assert head["ContentLength"] == len(data) and head["Metadata"]["reason"]
    for key, data in busy_night["originals"].items():
        assert (
            s3.get_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{BUSY_NIGHT}/{key}")["Body"].read() == data
        )


def test_busy_night_rerun_starts_no_job_and_keeps_rows(stack, busy_night, workdir):
    before_jobs, before_rows = sorted(engine_jobs(stack)), row_counts(workdir["lake"], night=BUSY_NIGHT)
    ledger_before = read_table("recordings", workdir["lake"], night=BUSY_NIGHT).to_pylist()
    result = run_night(
        BUSY_NIGHT, stack, workdir["lake"], workdir["home"], workdir["base"] / "busy-rerun.log"
    )
    assert result.returncode == 0
    assert sorted(engine_jobs(stack)) == before_jobs
    assert row_counts(workdir["lake"], night=BUSY_NIGHT) == before_rows
    ledger_after = read_table("recordings", workdir["lake"], night=BUSY_NIGHT).to_pylist()
    assert [(r["recording_id"], r["state"], r["attempts"], r["job_name"]) for r in ledger_after] == [
        (r["recording_id"], r["state"], r["attempts"], r["job_name"]) for r in ledger_before
    ]


def canary_audio(tmp: Path) -> bytes:
    """A short two-voice clip in which the patient says the canary name (espeak-ng, as the fixtures)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.fail("espeak-ng and sox are needed (make test installs them)")
    out = tmp / "canary.wav"
    code = (
        "import sys, wave; sys.path.insert(0, 'scripts'); import make_fixtures as m; from pathlib import Path;"
        "w = Path(sys.argv[1]).parent;"
        "a = m.synthesize('What is your name?', 'en-us', w); b = m.synthesize('My name is Ellen Canary.', 'en-us+f5', w);"
        "f = wave.open(sys.argv[1], 'wb'); f.setnchannels(1); f.setsampwidth(2); f.setframerate(16000);"
        "f.writeframes(a.tobytes() + bytes(12800) + b.tobytes() + bytes(12800)); f.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=REPO_ROOT, check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def failing_night(stack, workdir, busy_night):
    s3 = s3_client(stack.s3_endpoint)
    ok = {f"dictations/dr-8/ok-{i}.wav": wav_slice("dictation.wav", 2.0 + 6 * i, 5.5) for i in range(2)}
    doomed = wav_slice("dictation.wav", 13.0, 5.5)
    canary = canary_audio(workdir["base"])
    for key, data in {
        **ok,
        "dictations/dr-8/doomed.wav": doomed,
        f"conversations/{CANARY}-Ellen/{CANARY}-visit.wav": canary,
    }.items():
        s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{FAILING_NIGHT}/{key}", Body=data)
    # Inject a job failure: a corrupt object already sits at the doomed recording's staging key.
    doomed_staged = f"staging/media/{hashlib.sha256(doomed).hexdigest()}.wav"
    s3.put_object(Bucket=RECORDINGS_BUCKET, Key=doomed_staged, Body=b"RIFF\x00\x00\x00\x00WAVEgarbage")
    log = workdir["base"] / "failing.log"
    result = run_night(FAILING_NIGHT, stack, workdir["lake"], workdir["home"], log)
    return {
        "ok": ok,
        "doomed": doomed,
        "canary": canary,
        "staged": doomed_staged,
        "result": result,
        "log": log,
    }


def test_injected_failure_ends_failed_with_reason_others_succeed(failing_night, workdir):
    assert failing_night["result"].returncode != 0  # the run is red: a recording failed
    recordings = {
        r["recording_id"]: r
        for r in read_table("recordings", workdir["lake"], night=FAILING_NIGHT).to_pylist()
    }
    doomed = recordings[rid(failing_night["doomed"])]
    assert doomed["state"] == "failed" and doomed["reason"] and doomed["attempts"] == 1
    assert (
        sorted(r["state"] for i, r in recordings.items() if i != rid(failing_night["doomed"]))
        == ["succeeded"] * 3
    )
    jobs = {
        j["recording_id"]: j for j in read_table("jobs", workdir["lake"], night=FAILING_NIGHT).to_pylist()
    }
    assert jobs[rid(failing_night["doomed"])]["status"] == "FAILED"
    assert jobs[rid(failing_night["doomed"])]["failure_reason"] == doomed["reason"]


def test_canary_name_reaches_the_transcript_but_no_log_xcom_or_exception(failing_night, workdir):
    words = read_table("transcript_words", workdir["lake"], night=FAILING_NIGHT).to_pandas()
    said = " ".join(words[words["recording_id"] == rid(failing_night["canary"])]["content"]).lower()
    assert "canary" in said  # positive control: the name really is in the data
    with sqlite3.connect(workdir["home"] / "airflow.db") as db:
        xcoms = [str(v) for (v,) in db.execute("select value from xcom")]
    logs = [failing_night["log"].read_text(errors="replace")]
    logs += [p.read_text(errors="replace") for p in (workdir["home"] / "logs").rglob("*") if p.is_file()]
    logs += [p.read_text(errors="replace") for p in (workdir["base"]).glob("*.log")]
    assert "recordings failed" in logs[0]  # the failure's exception message is in the searched text
    leaks = [
        text[max(0, text.lower().find("canary") - 80) : text.lower().find("canary") + 80]
        for text in xcoms + logs
        if "canary" in text.lower()
    ]
    assert leaks == []


def test_retry_failed_gives_the_failed_recording_a_new_job(stack, failing_night, workdir):
    s3_client(stack.s3_endpoint).delete_object(
        Bucket=RECORDINGS_BUCKET, Key=failing_night["staged"]
    )  # the cause is fixed
    jobs_before = engine_jobs(stack)
    result = run_night(
        FAILING_NIGHT,
        stack,
        workdir["lake"],
        workdir["home"],
        workdir["base"] / "retry.log",
        conf={"retry_failed": True},
    )
    assert result.returncode == 0, (workdir["base"] / "retry.log").read_text()[-4000:]
    new_jobs = sorted(set(engine_jobs(stack)) - set(jobs_before))
    recordings = {
        r["recording_id"]: r
        for r in read_table("recordings", workdir["lake"], night=FAILING_NIGHT).to_pylist()
    }
    doomed = recordings[rid(failing_night["doomed"])]
    assert (doomed["state"], doomed["attempts"], doomed["reason"]) == ("succeeded", 2, None)
    assert new_jobs == [doomed["job_name"]] and doomed["job_name"].endswith("-a2")
