"""A job fails only for the user's reasons: an internal error queues the job again (twice, after a
delay), the attempts are counted and logged, and after the last one the job is FAILED with AWS's
internal-failure reason; a JobFailed (media, request) fails at once."""

from __future__ import annotations

import logging
import time

import pytest

import medscribe_engine.pipeline as pipeline
from medscribe_engine.pipeline.document import JobFailed
from medscribe_engine.store import COMPLETED, FAILED, QUEUED, JobStore
from medscribe_engine.workers import INTERNAL_FAILURE, WorkerPool

REQUEST = {"Media": {"MediaFileUri": "s3://media/visit.wav"}, "Settings": {}}


class RaisesFirst:
    """A stage that raises ``error`` on its first ``times`` calls, then marks the document done."""

    name = "flaky"

    def __init__(self, times: int, error: Exception):
        self.times, self.error, self.calls = times, error, 0

    def __call__(self, doc) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        doc.outputs["transcript"] = "s3://out/visit.json"


@pytest.fixture
def engine(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    pool = WorkerPool(store, resources=None, data_dir=tmp_path, retry_delays_s=(0.2, 0.4))
    pool.workdir.mkdir(parents=True)
    stages: list = []
    monkeypatch.setattr(pipeline, "build_pipeline", lambda *args, **kwargs: stages)
    yield store, pool, stages
    store.close()


def run_next(store: JobStore, pool: WorkerPool, wait_s: float = 2.0) -> bool:
    """Claim the next job (waiting up to ``wait_s`` for a retry to come due) and run it."""
    deadline = time.monotonic() + wait_s
    while (job := store.claim_next()) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    pool.run(job, s3_client=None)
    return True


def test_an_internal_error_is_retried_and_the_job_completes(engine, caplog):
    store, pool, stages = engine
    stages.append(RaisesFirst(1, ImportError("cannot import name 'X' from partially initialized module")))
    store.insert("scribe", "visit-1", REQUEST)
    with caplog.at_level(logging.INFO, logger="medscribe_engine"):
        assert run_next(store, pool)
        job = store.get("scribe", "visit-1")
        assert (job.status, job.internal_failures, job.failure_reason) == (QUEUED, 1, None)
        assert store.claim_next() is None  # not before its delay
        assert run_next(store, pool)
    job = store.get("scribe", "visit-1")
    assert (job.status, job.internal_failures, job.transcript_uri) == (COMPLETED, 1, "s3://out/visit.json")
    assert stages[0].calls == 2
    text = caplog.text
    assert "job visit-1 attempt 1 of 3 ended in an internal ImportError at test_worker_retries.py" in text
    assert "partially initialized" not in text  # where it happened, never what it said
    assert "job visit-1 COMPLETED" in text


def test_the_third_internal_error_fails_the_job_with_aws_wording(engine, caplog):
    store, pool, stages = engine
    stages.append(RaisesFirst(5, RuntimeError("boom")))
    store.insert("transcription", "visit-2", REQUEST)
    with caplog.at_level(logging.INFO, logger="medscribe_engine"):
        for _ in range(3):
            assert run_next(store, pool)
        assert not run_next(store, pool, wait_s=0.6)
    job = store.get("transcription", "visit-2")
    assert (job.status, job.failure_reason, job.internal_failures) == (FAILED, INTERNAL_FAILURE, 3)
    assert stages[0].calls == 3
    assert "job visit-2 FAILED: attempt 3 of 3 ended in an internal RuntimeError" in caplog.text


def test_a_user_error_fails_at_once(engine):
    store, pool, stages = engine
    stages.append(RaisesFirst(5, JobFailed("The media format doesn't match the file's content.")))
    store.insert("transcription", "visit-3", REQUEST)
    assert run_next(store, pool)
    job = store.get("transcription", "visit-3")
    assert (job.status, job.internal_failures) == (FAILED, 0)
    assert job.failure_reason == "The media format doesn't match the file's content."
    assert stages[0].calls == 1


def test_a_job_deleted_while_it_waits_for_its_retry_is_not_claimed(engine):
    store, pool, stages = engine
    stages.append(RaisesFirst(1, RuntimeError("boom")))
    store.insert("scribe", "visit-4", REQUEST)
    assert run_next(store, pool)
    store.delete("scribe", "visit-4")
    assert not run_next(store, pool, wait_s=0.5)


def job_page(store: JobStore, path: str) -> str:
    """The engine's page at ``path`` (``/jobs/...``) over this store."""
    from types import SimpleNamespace

    from medscribe_engine.app import EngineApp
    from medscribe_engine.jobs import TranscribeBackend
    from medscribe_engine.responses import TranscribeResponse

    state = SimpleNamespace(
        ready=True, stopping=False, handler=TranscribeResponse(TranscribeBackend(store), False)
    )
    return EngineApp(state, verifier=None).job_view(path).get_data(as_text=True)


def test_the_job_page_shows_the_internal_failures(engine):
    store, pool, stages = engine
    stages.append(RaisesFirst(1, RuntimeError("boom")))
    store.insert("scribe", "visit-5", {**REQUEST, "MedicalScribeJobName": "visit-5"})
    assert run_next(store, pool) and run_next(store, pool)
    page = job_page(store, "/jobs/medical-scribe/visit-5")
    assert "<th>MedicalScribeJobStatus</th><td><pre>COMPLETED</pre>" in page
    assert "<th>InternalFailures</th><td><pre>1</pre><p>1 attempt(s) ended in an internal failure" in page


def test_the_job_page_escapes_what_it_shows(engine):
    """A failure reason holding markup and quotes is shown as text, not run as a script."""
    store, pool, stages = engine
    reason = "<script>alert(1)</script> \"double\" 'single' & more"
    stages.append(RaisesFirst(1, JobFailed(reason)))
    store.insert("scribe", "visit-6", {**REQUEST, "MedicalScribeJobName": "visit-6"})
    assert run_next(store, pool)
    page = job_page(store, "/jobs/medical-scribe/visit-6")
    assert "<script>" not in page
    assert (
        "<th>FailureReason</th><td><pre>&lt;script&gt;alert(1)&lt;/script&gt; &#34;double&#34; &#39;single&#39; "
        "&amp; more</pre></td></tr>"
    ) in page
    assert "<th>MedicalScribeJobStatus</th><td><pre>FAILED</pre>" in page
    assert "<h1>visit-6</h1>" in page and "<th>InternalFailures</th><td><pre>0</pre></td></tr>" in page
