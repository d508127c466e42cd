"""One night with a deliberately degraded recording, end to end, and the reviewer page on a real api-server.

The night (``airflow dags test`` against moto S3 and the offline engine) has two cuts of the stereo
fixture conversation: one clean, one with white noise mixed in at 0 dB SNR. The noisy one must land in
``review_queue`` with the confidence metrics; the night still succeeds. Then an Airflow api-server serves
the plugin's reviewer page over the same lake: anonymous requests are refused, and a user who logs in to
Airflow in headless Chromium sees the recording in the queue and its low-confidence words highlighted.
"""

from __future__ import annotations

import io
import json
import os
import sys
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import Service, airflow_env, free_port
from medscribe.lake.store import read_table
from tests.conftest import boto3_client
from tests.test_nightly_operations import engine_jobs, rid, wav_slice

pytestmark = pytest.mark.e2e
NIGHT = "2026-11-12"
USER, PASSWORD = "reviewer", "reviewer-password-1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def with_noise(data: bytes, snr_db: float, seed: int = 7) -> bytes:
    """The WAV with white noise mixed in at ``snr_db`` (relative to the whole signal's power)."""
    with wave.open(io.BytesIO(data)) as source:
        params = source.getparams()
        samples = np.frombuffer(source.readframes(params.nframes), np.int16).astype(np.float64)
    power = np.mean(samples**2)
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), samples.shape)
    mixed = np.clip(samples + noise, -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setparams(params)
        out.writeframes(mixed.tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def night(stack, tmp_path_factory):
    base = tmp_path_factory.mktemp("review")
    lake, home = str(base / "lake"), base / "airflow"
    clean = wav_slice("conversation_stereo.wav", 0.0, 9.0)
    noisy = with_noise(wav_slice("conversation_stereo.wav", 9.0, 9.0), snr_db=0.0)
    s3 = s3_client(stack.s3_endpoint)
    seed_night(s3, "2000-01-01", samples={})  # buckets only
    for name, data in {"clean": clean, "noisy": noisy}.items():
        s3.put_object(
            Bucket=RECORDINGS_BUCKET, Key=f"incoming/{NIGHT}/conversations/clinic-r/{name}.wav", Body=data
        )
    log = base / "night.log"
    jobs_before = set(engine_jobs(stack))
    try:
        result = run_night(NIGHT, stack, lake, home, log)
        assert result.returncode == 0, log.read_text()[-5000:]
        yield {"lake": lake, "home": home, "base": base, "clean": rid(clean), "noisy": rid(noisy), "log": log}
    finally:  # the engine is shared by the session: leave its job list as this module found it
        transcribe = boto3_client("transcribe", stack.engine_endpoint)
        for name in sorted(set(engine_jobs(stack)) - jobs_before):
            if name.startswith("medscribe-hs-"):
                transcribe.delete_medical_scribe_job(MedicalScribeJobName=name)
            else:
                transcribe.delete_medical_transcription_job(MedicalTranscriptionJobName=name)


def test_degraded_recording_is_queued_with_its_metric(night):
    queue = read_table("review_queue", night["lake"], night=NIGHT).to_pylist()
    noisy = {r["metric"]: r for r in queue if r["recording_id"] == night["noisy"]}
    assert noisy["mean_confidence"]["threshold"] == 0.85 and noisy["mean_confidence"]["value"] < 0.85
    assert noisy["mean_confidence"]["bound"] == "min" and noisy["mean_confidence"]["night"] == NIGHT
    assert [
        r for r in queue if r["recording_id"] == night["clean"] and r["metric"] == "mean_confidence"
    ] == []
    report = json.loads(
        (Path(night["lake"]) / "_quality" / f"night={NIGHT}" / "word_confidence.json").read_text()
    )
    assert report["structural_ok"] is True and report["quality_status"][night["noisy"]] == "review"
    by_id = {t["recording_id"]: t for t in report["transcripts"]}
    assert by_id[night["noisy"]]["mean_confidence"] == pytest.approx(
        noisy["mean_confidence"]["value"], abs=1e-4
    )
    assert by_id[night["clean"]]["mean_confidence"] > by_id[night["noisy"]]["mean_confidence"] + 0.1
    words = read_table("transcript_words", night["lake"], night=NIGHT).to_pandas()
    statuses = words.groupby("recording_id")["quality_status"].unique().to_dict()
    assert list(statuses[night["noisy"]]) == ["review"]
    assert (Path(night["lake"]) / "_quality" / f"night={NIGHT}" / "data_docs" / "index.html").is_file()


@pytest.fixture(scope="module")
def api(night):
    home = night["home"]
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    port = free_port()
    env = {
        **airflow_env(home),
        "MEDSCRIBE_LAKE_URI": night["lake"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "medscribe-review-test-jwt-secret",
        "AIRFLOW__API__SECRET_KEY": "medscribe-review-test-secret-key",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    server = Service(
        "airflow-api-server",
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        "127.0.0.1",
        port,
        "/api/v2/monitor/health",
        night["base"] / "api-server.log",
        {k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v},
    )
    server.start(timeout=180)
    try:
        yield server.endpoint
    finally:
        server.stop()


def test_anonymous_requests_are_refused(api, night):
    page = f"{api}/medscribe-review/item/{NIGHT}/{night['noisy']}"
    for url in (f"{api}/medscribe-review/", page, f"{api}/medscribe-review/docs/{NIGHT}/index.html"):
        response = httpx.get(url)
        assert response.status_code == 401 and night["noisy"] not in response.text
    browser = httpx.get(f"{api}/medscribe-review/", headers={"Accept": "text/html"})
    assert browser.status_code == 303 and browser.headers["location"].startswith("/auth/login?next=")
    forged = httpx.get(f"{api}/medscribe-review/", headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 403


def test_logged_in_reviewer_sees_the_queue_and_highlighted_words(api, night):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{api}/medscribe-review/", wait_until="networkidle")
            assert "/auth/login" in page.url  # sent to Airflow's login page
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{api}/medscribe-review/**", timeout=30_000)
            assert page.locator("h1").inner_text() == "Review queue"
            item = page.locator(f"a.item:text-is('{night['noisy']}')").first
            assert item.is_visible()
            item.click()
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text() == f"Recording {night['noisy']}"
            highlighted = page.locator(".segment mark.low")
            assert highlighted.count() >= 3
            shown = [float(c) for c in highlighted.evaluate_all("els => els.map(e => e.dataset.confidence)")]
            assert all(c < 0.5 for c in shown)
            roles = set(page.locator(".segment .role").all_inner_texts())
            assert roles & {"CLINICIAN_0", "PATIENT_0"}
            assert "mean_confidence" in page.locator("td.metric").all_inner_texts()
            # the note as the engine wrote it: each sentence, then its evidence segments (role: text)
            sentences = read_table("note_sentences", night["lake"], night=NIGHT).to_pandas()
            evidence = read_table("note_evidence", night["lake"], night=NIGHT).to_pandas()
            own = sentences[sentences["recording_id"] == night["noisy"]].sort_values(
                ["section_index", "sentence_index"]
            )
            assert page.locator("p.sentence").all_inner_texts() == list(own["text"])
            assert page.locator("div.evidence").count() == int(
                (evidence["recording_id"] == night["noisy"]).sum()
            )
            # the page inside Airflow's own UI: the external view's route embeds it
            page.goto(f"{api}/plugin/medscribe-review", wait_until="networkidle")
            embedded = page.frame_locator("iframe").locator("h1")
            embedded.wait_for(timeout=60_000)
            assert embedded.inner_text() == "Review queue"
            page.goto(f"{api}/medscribe-review/night/{NIGHT}", wait_until="networkidle")
            page.click("text=Validation results (GX data docs)")
            page.wait_for_load_state("networkidle")
            assert "check_transcript_confidence" in page.content()
        finally:
            browser.close()


def test_a_run_with_the_quality_param_overrides_the_bars_for_that_run(stack, night):
    """Runs last: a rerun of the night (no new job) with lowered confidence bars leaves no confidence row in
    the queue (a note_sentences row, if the engine wrote an empty note, stays: that bar is not a setting)."""
    log = night["base"] / "override.log"
    conf = {"quality": {"min_mean_confidence": 0.3, "max_low_share": 0.9}}
    result = run_night(NIGHT, stack, night["lake"], night["home"], log, conf=conf)
    assert result.returncode == 0, log.read_text()[-5000:]
    queue = read_table("review_queue", night["lake"], night=NIGHT).to_pylist()
    assert [r for r in queue if r["metric"] in ("mean_confidence", "low_word_share")] == []
    report = json.loads(
        (Path(night["lake"]) / "_quality" / f"night={NIGHT}" / "word_confidence.json").read_text()
    )
    assert report["config"]["min_mean_confidence"] == 0.3 and report["config"]["low_word_confidence"] == 0.5
    assert {t["recording_id"]: t["passed"] for t in report["transcripts"]} == {
        night["clean"]: not any(r["recording_id"] == night["clean"] for r in queue),
        night["noisy"]: not any(r["recording_id"] == night["noisy"] for r in queue),
    }
