"""One night with a deliberately degraded recording, end to end, and the reviewer page on a real api-server.

The night (``airflow dags test`` against moto S3 and the offline engine) has two cuts of the stereo
fixture conversation: one clean, one with white noise mixed in at 0 dB SNR. The noisy one must land in
``review_queue`` with the confidence metrics; the night still succeeds. Then an Airflow api-server serves
the plugin's reviewer page over the same lake, S3 and engine: anonymous requests are refused, and a user
who logs in to Airflow in headless Chromium sees the recording in the queue and its low-confidence words
highlighted, plays a turn (the audio element's currentTime advances: the staged media streamed through
the plugin in byte ranges), follows an evidence link, corrects a word and a sentence, marks one wrong,
accepts and signs off; the decisions and the reviewed note are then read back from the lake and S3. A
read-only user sees no controls and is refused (403); a forged form is refused.

``UPDATE_REVIEW_SCREENSHOTS=1`` also saves the queue, the item and the night picture as docs/*.png.
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

from medscribe.lake.store import read_table
from medscribe.review.notes import reviewed_uri
from medscribe_harness.airflow_services import airflow_env
from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import Service, free_port
from tests.conftest import boto3_client, engine_jobs
from tests.test_nightly_operations import rid, wav_slice

pytestmark = pytest.mark.e2e
NIGHT = "2026-11-12"
USER, PASSWORD = "reviewer", "reviewer-password-1"
READER, READER_PASSWORD = "reader", "reader-password-1"
DOCS = Path(__file__).resolve().parents[2] / "docs"
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
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
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
def api(stack, night):
    home = night["home"]
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD, READER: READER_PASSWORD}))
    port = free_port()
    env = {
        **airflow_env(home, stack.airflow_connection_uri_json()),
        "MEDSCRIBE_LAKE_URI": night["lake"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin,{READER}:viewer",
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


def token(api: str, user: str, password: str) -> str:
    """A JWT from Airflow's own token endpoint (the simple auth manager's users)."""
    response = httpx.post(f"{api}/auth/token", json={"username": user, "password": password})
    assert response.status_code in (200, 201), response.text
    return response.json()["access_token"]


def test_audio_is_streamed_through_the_plugin_in_byte_ranges(api, night, stack):
    bearer = {"Authorization": f"Bearer {token(api, USER, PASSWORD)}"}
    url = f"{api}/medscribe-review/audio/{NIGHT}/{night['noisy']}"
    assert httpx.get(url, headers={"Range": "bytes=0-99"}).status_code == 401
    part = httpx.get(url, headers={**bearer, "Range": "bytes=0-99"})
    assert part.status_code == 206 and part.headers["content-type"] == "audio/wav"
    size = int(part.headers["content-range"].rpartition("/")[2])
    assert (
        part.headers["content-range"] == f"bytes 0-99/{size}"
        and part.content[:4] == b"RIFF"
        and len(part.content) == 100
    )
    job = (
        read_table("jobs", night["lake"], night=NIGHT)
        .to_pandas()
        .set_index("recording_id")
        .loc[night["noisy"]]
    )
    media = boto3_client("transcribe", stack.engine_endpoint).get_medical_scribe_job(
        MedicalScribeJobName=job["job_name"]
    )
    bucket, _, key = media["MedicalScribeJob"]["Media"]["MediaFileUri"][len("s3://") :].partition("/")
    staged = boto3_client("s3", stack.s3_endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    assert size == len(staged) and part.content == staged[:100]
    tail = httpx.get(url, headers={**bearer, "Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.content == staged[-10:]
    assert httpx.get(url, headers={**bearer, "Range": f"bytes={size}-"}).status_code == 416
    whole = httpx.get(url, headers=bearer)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes" and whole.content == staged


def test_read_only_users_see_no_controls_and_posts_are_refused(api, night):
    item = f"{api}/medscribe-review/item/{NIGHT}/{night['noisy']}"
    decide = f"{api}/medscribe-review/decide/{NIGHT}/{night['noisy']}"
    form = {"item_kind": "recording", "decision": "accept"}
    reader = {"Authorization": f"Bearer {token(api, READER, READER_PASSWORD)}"}
    page = httpx.get(item, headers=reader)
    assert page.status_code == 200 and "read-only: you may not record decisions" in page.text
    assert "<form" not in page.text.split("<h1>")[1]
    assert httpx.post(decide, headers=reader, data={**form, "csrf": "1.0"}).status_code == 403
    assert httpx.post(decide, data=form).status_code == 401
    editor = {"Authorization": f"Bearer {token(api, USER, PASSWORD)}"}
    assert "<form class='decide recording'" in httpx.get(item, headers=editor).text
    assert httpx.post(decide, headers=editor, data=form).status_code == 403  # no CSRF token
    assert read_table("review_decisions", night["lake"], night=NIGHT).num_rows == 0


def playing_from(page, at: float) -> float:
    """Wait until the player is playing past ``at`` + 0.3 s; its currentTime then."""
    page.wait_for_function(
        f"() => {{ const p = document.getElementById('player'); return !p.paused && p.currentTime > {at} + 0.3; }}",
        timeout=20_000,
    )
    return page.evaluate("document.getElementById('player').currentTime")


def correct_first_low_word(page, text: str) -> tuple[str, str]:
    """Correct the first word under the bar on the item page; its item key and the service's word."""
    form = page.locator("form.decide.word").first
    key = form.locator("input[name=item_key]").get_attribute("value")
    before = form.locator("input[name=after]").get_attribute("value")
    form.locator("input[name=after]").fill(text)
    form.locator("button[value=correct]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(f"#w-{key} + .fix").inner_text() == f"→ {text}"
    return key, before


def accept_and_sign_off(page) -> None:
    page.click("form.decide.recording button[value=accept]")
    page.wait_for_load_state("networkidle")
    page.click("form.decide.recording button[value=sign_off]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#review-status").inner_text() == "signed off"
    assert page.locator("form.decide").count() == 0


def test_a_reviewer_listens_follows_evidence_corrects_and_signs_off(api, night, stack):
    """The noisy cut (queued, no note): play a turn, correct a word, sign off. The clean cut (its note has a
    sentence with evidence): follow the evidence, correct a word and the sentence, sign off."""
    from playwright.sync_api import sync_playwright

    noisy, clean = night["noisy"], night["clean"]
    service = read_table("note_sentences", night["lake"], night=NIGHT).to_pandas()
    service = service[service["recording_id"] == clean].sort_values(["section_index", "sentence_index"])
    assert len(service) >= 1, "the clean cut has no note"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{api}/medscribe-review/", wait_until="networkidle")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{api}/medscribe-review/**", timeout=30_000)
            queue_status = page.locator(f"tr:has(a.item:text-is('{noisy}')) td.status").first
            assert queue_status.inner_text() == "open"
            screenshot(page, "review-queue.png")
            page.locator(f"a.item:text-is('{noisy}')").first.click()
            page.wait_for_load_state("networkidle")
            src = page.get_attribute("audio#player", "src")
            assert src == f"../../audio/{NIGHT}/{noisy}" and "X-Amz-" not in page.content()

            # listen: a turn's play button seeks the player to the turn and plays it
            turns = page.locator(".segment[data-begin]")
            turn = turns.nth(min(1, turns.count() - 1))
            begin = float(turn.get_attribute("data-begin"))
            turn.locator("button.play").click()
            first = playing_from(page, begin)
            page.wait_for_timeout(600)
            assert page.evaluate("document.getElementById('player').currentTime") > first >= begin

            noisy_word = correct_first_low_word(page, "metformin")
            assert page.locator("#review-status").inner_text() == "in review"
            page.goto(f"{api}/medscribe-review/?night={NIGHT}", wait_until="networkidle")
            assert queue_status.inner_text() == "in review"
            page.locator(f"a.item:text-is('{noisy}')").first.click()
            page.wait_for_load_state("networkidle")
            accept_and_sign_off(page)

            # see: the clean cut's sentence, its evidence followed to the turn (highlighted, in view, playing)
            page.goto(f"{api}/medscribe-review/item/{NIGHT}/{clean}", wait_until="networkidle")
            assert page.locator("p.sentence").all_inner_texts() == list(service["text"])
            link = page.locator("a.evidence-link").first
            target = page.locator(f"#seg-{link.get_attribute('data-segment')}")
            link.click()
            assert "lit" in target.get_attribute("class").split()
            assert target.evaluate(
                "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
            )
            playing_from(page, float(target.get_attribute("data-begin")))
            page.evaluate("document.getElementById('player').pause()")
            page.evaluate("window.scrollTo(0, 0)")
            screenshot(page, "review-item.png", full_page=True)

            # decide: correct a word and the first sentence, accept, sign off
            clean_word = correct_first_low_word(page, "diabetes mellitus")
            sentence = page.locator("form.decide.sentence").first
            sentence.locator("input[name=after]").fill("Reviewed: the patient takes metformin daily.")
            sentence.locator("button[value=correct]").click()
            page.wait_for_load_state("networkidle")
            assert page.locator(".decided").all_inner_texts() == [
                "corrected: Reviewed: the patient takes metformin daily."
            ]
            accept_and_sign_off(page)
            assert page.locator("table.decisions td.decision").all_inner_texts() == [
                "sign_off",
                "accept",
                "correct",
                "correct",
            ]

            page.goto(f"{api}/medscribe-review/?status=signed_off", wait_until="networkidle")
            assert (
                page.locator(f"tr:has(a.item:text-is('{noisy}')) td.status").first.inner_text()
                == "signed off"
            )
            page.goto(f"{api}/medscribe-review/night/{NIGHT}", wait_until="networkidle")
            assert (
                page.locator("svg.chart rect.bin").count() == 20
                and page.locator("svg.chart line.bar").count() == 1
            )
            assert page.locator("svg.chart rect.night").count() == 30
            screenshot(page, "review-night.png", full_page=True)
        finally:
            browser.close()

    decisions = read_table("review_decisions", night["lake"], night=NIGHT).to_pylist()
    first = service.iloc[0]
    assert [
        (d["recording_id"], d["item_kind"], d["item_key"], d["before"], d["after"], d["decision"])
        for d in decisions
    ] == [
        (noisy, "word", noisy_word[0], noisy_word[1], "metformin", "correct"),
        (noisy, "recording", None, None, None, "accept"),
        (noisy, "recording", None, None, None, "sign_off"),
        (clean, "word", clean_word[0], clean_word[1], "diabetes mellitus", "correct"),
        (
            clean,
            "sentence",
            f"{first['section_index']}.{first['sentence_index']}",
            first["text"],
            "Reviewed: the patient takes metformin daily.",
            "correct",
        ),
        (clean, "recording", None, None, None, "accept"),
        (clean, "recording", None, None, None, "sign_off"),
    ]
    assert {d["reviewer"] for d in decisions} == {USER}
    notes = read_table("note_sentences", night["lake"], night=NIGHT).to_pandas()
    reviewed = notes[notes["source"] == "reviewed"].sort_values(["section_index", "sentence_index"])
    expected = ["Reviewed: the patient takes metformin daily.", *service["text"].iloc[1:]]
    assert list(reviewed["recording_id"]) == [clean] * len(expected) and list(reviewed["text"]) == expected
    assert len(notes[notes["source"] == "service"]) == len(service)
    job = read_table("jobs", night["lake"], night=NIGHT).to_pandas().set_index("recording_id").loc[clean]
    bucket, reviewed_key = reviewed_uri(job["clinical_document_uri"])
    document = json.loads(
        boto3_client("s3", stack.s3_endpoint).get_object(Bucket=bucket, Key=reviewed_key)["Body"].read()
    )
    texts = [
        s["SummarizedSegment"]
        for section in document["ClinicalDocumentation"]["Sections"]
        for s in section["Summary"]
    ]
    assert texts == expected
    log = (night["base"] / "api-server.log").read_text()
    assert f"Review decision on recording {clean} of night {NIGHT}: sentence correct" in log  # ids and kinds
    assert not any(text in log for text in ("Reviewed: the patient", "metformin", "diabetes mellitus"))


def screenshot(page, name: str, full_page: bool = False) -> None:
    """Save a screenshot under docs/ when UPDATE_REVIEW_SCREENSHOTS=1 (the README shows them)."""
    if os.environ.get("UPDATE_REVIEW_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / name), full_page=full_page)


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
