"""The worker pool: threads that claim QUEUED jobs in order, run the pipeline on them, and retry a job
that ended in an internal failure (not the media's, the request's, nor a vocabulary or filter deleted
meanwhile) before recording it FAILED."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path

from medscribe_engine import pipeline
from medscribe_engine.exceptions import TranscribeError
from medscribe_engine.pipeline import Interrupted, JobDocument, JobFailed
from medscribe_engine.pipeline.s3 import make_s3_client
from medscribe_engine.store import COMPLETED, FAILED, Job, JobStoreBase

log = logging.getLogger("medscribe_engine")

INTERNAL_FAILURE = "An internal failure occurred while processing the job. Try your request again."
RECOVERY_INTERVAL_S = 30.0  # how often an idle worker looks for jobs of engine processes that are gone
STORE_RETRY_S = 2.0  # the wait before a worker asks the job store again after it failed to answer
# An internal failure puts the job back in the queue after these delays; once they are used up the job
# is FAILED.
RETRY_DELAYS_S = (5.0, 20.0)


class WorkerPool:
    """Background threads that take QUEUED jobs in order and run the pipeline on them.

    :param store: the job store (SQLite or PostgreSQL).
    :param resources: the loaded models.
    :param data_dir: the engine's data directory; jobs get a scratch directory under ``work/``.
    :param workers: how many jobs run at once.
    :param vocabularies: the :class:`~medscribe_engine.vocabularies.VocabularyBackend` jobs look their
        ``Settings.VocabularyName`` up in (None: no vocabularies).
    :param filters: the :class:`~medscribe_engine.vocabulary_filters.VocabularyFilterBackend` (None: none).
    :param retry_delays_s: the wait before each retry of a job that ended in an internal failure.
    """

    def __init__(
        self,
        store: JobStoreBase,
        resources,
        data_dir: Path,
        workers: int = 1,
        vocabularies=None,
        filters=None,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ):
        self.store = store
        self.retry_delays_s = retry_delays_s
        self.vocabularies = vocabularies
        self.filters = filters
        self.resources = resources
        self.workdir = data_dir / "work" / store.owner  # per process: replicas may share data_dir
        self.workers = max(1, workers)
        self.stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._cancelled: set[int] = set()
        self._running: set[int] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.remove_stale_scratch()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for number in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"engine-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def remove_stale_scratch(self) -> None:
        """Remove the scratch of engine processes that are gone (never a live replica's), and their lock files."""
        root = self.workdir.parent
        if root.is_dir():
            for entry in root.iterdir():
                if not entry.is_dir():
                    entry.unlink(missing_ok=True)  # the single scratch folder of engines before replicas
                elif not self.store.owner_alive(entry.name):
                    shutil.rmtree(entry, ignore_errors=True)
        self.store.prune_owners()

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: int) -> None:
        """Stop a running job at its next check (it was deleted)."""
        with self._lock:
            if job_id in self._running:
                self._cancelled.add(job_id)

    def stop(self, timeout: float) -> bool:
        """Ask the workers to stop; True if all stopped within ``timeout`` seconds."""
        self.stopping.set()
        self.notify()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _loop(self) -> None:
        s3_client = make_s3_client()
        next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
        while not self.stopping.is_set():
            try:
                job = self.store.claim_next()
                if job is None and time.monotonic() >= next_recovery:  # take over a dead replica's jobs
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
                    if self.store.recover():
                        log.info("queued again the jobs of an engine process that is gone")
                        continue
            except Exception as error:  # the store is away for a moment (a database restart): try again
                log.warning("job store unavailable (%s); retrying", type(error).__name__)
                self.stopping.wait(STORE_RETRY_S)
                continue
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            self.run(job, s3_client)

    def _internal_failure(self, job: Job, error: Exception, doc) -> None:
        """Queue the job again after a delay, or, when its retries are used up, record it FAILED with
        AWS's internal-failure reason. The log says where it happened, not what it said (messages and
        source lines can carry data)."""
        frames = " <- ".join(
            f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
            for frame in reversed(traceback.extract_tb(error.__traceback__))
        )
        attempt, attempts = job.internal_failures + 1, len(self.retry_delays_s) + 1
        if attempt < attempts:
            delay = self.retry_delays_s[job.internal_failures]
            log.warning(
                "job %s attempt %d of %d ended in an internal %s at %s; queued again, retried in %.0fs",
                job.name,
                attempt,
                attempts,
                type(error).__name__,
                frames,
                delay,
            )
            self.store.retry_later(job.id, delay)
            return
        log.error(
            "job %s FAILED: attempt %d of %d ended in an internal %s at %s",
            job.name,
            attempt,
            attempts,
            type(error).__name__,
            frames,
        )
        self.store.finish(
            job.id, FAILED, failure_reason=INTERNAL_FAILURE, internal_failure=True, **_media_fields(doc)
        )

    def _vocabulary(self, settings: dict):
        return _vocabulary_entries(self.vocabularies, settings)

    def _filter_words(self, settings: dict):
        name = settings.get("VocabularyFilterName")
        if not name:
            return None
        if self.filters is None:
            raise JobFailed("Vocabulary filters are not available in this engine.")
        try:
            return self.filters.words_of(name)
        except TranscribeError as error:  # deleted since the job was accepted
            raise JobFailed(error.message) from None

    def run(self, job: Job, s3_client) -> None:
        with self._lock:
            self._running.add(job.id)

        def should_stop() -> bool:
            return self.stopping.is_set() or job.id in self._cancelled

        scratch = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self.workdir))
        doc = JobDocument(job.name, job.kind, job.request, should_stop=should_stop, workdir=scratch)
        started = time.monotonic()
        log.info("job %s (%s) started", job.name, job.kind)
        try:
            settings = job.request.get("Settings") or {}
            stages = pipeline.build_pipeline(
                job.kind,
                settings,
                self.resources,
                s3_client,
                vocabulary=self._vocabulary(settings),
                filter_words=self._filter_words(settings),
                content_identification=job.request.get("ContentIdentificationType"),
                speech_type=job.request.get("Type"),
            )
            pipeline.run_pipeline(doc, stages)
        except Interrupted:
            if job.id in self._cancelled:
                log.info("job %s deleted while running; stopped", job.name)
            else:
                log.info("job %s interrupted by shutdown; left IN_PROGRESS to resume", job.name)
            return
        except JobFailed as failure:
            self.store.finish(job.id, FAILED, failure_reason=failure.reason, **_media_fields(doc))
            log.info("job %s FAILED after %.1fs: %s", job.name, time.monotonic() - started, failure.reason)
            return
        except Exception as error:
            self._internal_failure(job, error, doc)
            return
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._running.discard(job.id)
                self._cancelled.discard(job.id)
        self.store.finish(
            job.id,
            COMPLETED,
            transcript_uri=doc.outputs.get("transcript"),
            clinical_document_uri=doc.outputs.get("clinical_document"),
            **_media_fields(doc),
        )
        elapsed = time.monotonic() - started
        duration = doc.media.duration if doc.media else 0.0
        log.info(
            "job %s COMPLETED in %.1fs: media %.1fs, %d ch, %d bytes; %d words, %d segments, %d speakers or channels; "
            "RTF %.3f; vocabulary matches %d; filter matches %d; stages %s",
            job.name,
            elapsed,
            duration,
            doc.media.channels if doc.media else 0,
            doc.media.size_bytes if doc.media else 0,
            len(doc.words),
            len(doc.segments),
            len(
                {t.speaker for t in doc.words if t.speaker}
                | {t.channel for t in doc.words if t.channel is not None}
            ),
            elapsed / duration if duration else 0.0,
            doc.vocabulary_matches,
            doc.filter_matches,
            " ".join(f"{name}={seconds:.2f}s" for name, seconds in doc.timings.items()),
        )


def _vocabulary_entries(vocabularies, settings: dict):
    name = settings.get("VocabularyName")
    if not name:
        return None
    if vocabularies is None:
        raise JobFailed("Custom vocabularies are not available in this engine.")
    try:
        return vocabularies.ready_entries(name)
    except TranscribeError as error:  # deleted or updated since the job was accepted
        raise JobFailed(error.message) from None


def _media_fields(doc) -> dict:
    if doc.media is None:
        return {}
    return {"media_format": doc.media.format, "media_sample_rate": doc.media.sample_rate}
