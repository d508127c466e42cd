"""Job state: a durable SQLite job table, the service operations over it, and the worker threads.

The table keeps the accepted request, the status, the times, the failure reason, the output URI and
what the decoder found (media format and sample rate) - never transcript text.

Jobs run in submission order. At start, QUEUED jobs stay queued and IN_PROGRESS jobs (the engine
stopped while running them) are queued again at the front, so they are resumed first.

Several engine processes (replicas) may share one data directory: a job is claimed in one SQLite write
transaction, and the claim records its owner, a process that holds an exclusive ``flock`` on
``owners/<owner>.lock`` while it lives. Recovery re-queues only the IN_PROGRESS jobs of owners that are
gone (the kernel drops the lock of a dead process), so a replica starting up never takes a job another
replica is running; idle replicas also take over a dead replica's jobs. Scratch folders are per owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medscribe_engine.exceptions import (
    JOB_NAME_EXISTS,
    JOB_NOT_FOUND,
    BadRequestException,
    ConflictException,
    LimitExceededException,
    NotFoundException,
)
from medscribe_engine.pagination import decode_token, encode_token

log = logging.getLogger("medscribe_engine")

TRANSCRIPTION = "transcription"
SCRIBE = "scribe"
QUEUED, IN_PROGRESS, COMPLETED, FAILED = "QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"
DEFAULT_MAX_RESULTS = 5  # AWS's default page size for the List*Jobs operations
MAX_QUEUED_JOBS = 1000  # default quota of QUEUED + IN_PROGRESS jobs (engine option --max-queued)
INTERNAL_FAILURE = "An internal failure occurred while processing the job. Try your request again."
SCHEMA_VERSION = 2
RECOVERY_INTERVAL_S = 30.0  # how often an idle worker looks for jobs of engine processes that are gone
# An internal failure (not the media's, the request's, nor a vocabulary or filter deleted meanwhile) puts
# the job back in the queue after these delays; once they are used up the job is FAILED.
RETRY_DELAYS_S = (5.0, 20.0)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    request           TEXT NOT NULL,
    status            TEXT NOT NULL,
    queue_order       REAL NOT NULL,
    creation_time     REAL NOT NULL,
    start_time        REAL,
    completion_time   REAL,
    failure_reason    TEXT,
    transcript_uri    TEXT,
    clinical_document_uri TEXT,
    media_format      TEXT,
    media_sample_rate INTEGER,
    internal_failures INTEGER NOT NULL DEFAULT 0,
    retry_at          REAL,
    UNIQUE (kind, name)
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, queue_order);
"""
# Which engine process runs an IN_PROGRESS job (kept apart from the job rows; see the module docstring).
CLAIMS_SCHEMA = "CREATE TABLE IF NOT EXISTS claims (job_id INTEGER PRIMARY KEY, owner TEXT NOT NULL)"


@dataclass
class Job:
    """One row of the job table."""

    id: int
    kind: str
    name: str
    request: dict[str, Any]
    status: str
    creation_time: float
    start_time: float | None = None
    completion_time: float | None = None
    failure_reason: str | None = None
    transcript_uri: str | None = None
    clinical_document_uri: str | None = None  # HealthScribe: MedicalScribeOutput.ClinicalDocumentUri
    media_format: str | None = None
    media_sample_rate: int | None = None
    internal_failures: int = 0  # attempts that ended in an internal failure (each retried, see RETRY_DELAYS_S)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            request=json.loads(row["request"]),
            status=row["status"],
            creation_time=row["creation_time"],
            start_time=row["start_time"],
            completion_time=row["completion_time"],
            failure_reason=row["failure_reason"],
            transcript_uri=row["transcript_uri"],
            clinical_document_uri=row["clinical_document_uri"],
            media_format=row["media_format"],
            media_sample_rate=row["media_sample_rate"],
            internal_failures=row["internal_failures"],
        )


class JobStore:
    """The job table in ``<data_dir>/jobs.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    :param max_queued: how many jobs may be QUEUED or IN_PROGRESS at once; past it, Start answers
        LimitExceededException.
    """

    def __init__(self, data_dir: Path, max_queued: int = MAX_QUEUED_JOBS):
        self.max_queued = max_queued
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "jobs.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")  # a deleted job's request leaves no bytes behind
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "clinical_document_uri" not in columns:  # a data dir from before clinical documents
                self._db.execute("ALTER TABLE jobs ADD COLUMN clinical_document_uri TEXT")
            if "internal_failures" not in columns:  # a data dir from before retries
                self._db.execute("ALTER TABLE jobs ADD COLUMN internal_failures INTEGER NOT NULL DEFAULT 0")
                self._db.execute("ALTER TABLE jobs ADD COLUMN retry_at REAL")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute(CLAIMS_SCHEMA)
        self.owners_dir = data_dir / "owners"
        self.owners_dir.mkdir(exist_ok=True)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._owner_lock = open(self.owners_dir / f"{self.owner}.lock", "w")  # noqa: SIM115 - held for life
        fcntl.flock(self._owner_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._owner_lock.close()
        (self.owners_dir / f"{self.owner}.lock").unlink(missing_ok=True)

    def owner_alive(self, owner: str) -> bool:
        """True while the process that claimed as ``owner`` lives (it holds its lock file)."""
        if owner == self.owner:
            return True
        path = self.owners_dir / f"{owner}.lock"
        try:
            with open(path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        path.unlink(missing_ok=True)  # a dead owner's file (we held its lock a moment: nobody else uses it)
        return False

    def recover(self) -> int:
        """Queue again, ahead of the queued ones, the IN_PROGRESS jobs whose owner is gone (a previous run
        of this engine, or a replica that died); jobs of live replicas are left alone."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT jobs.id, claims.owner FROM jobs LEFT JOIN claims ON claims.job_id = jobs.id "
                    "WHERE jobs.status=?", (IN_PROGRESS,)
                ).fetchall()
                orphaned = [row[0] for row in rows if row[1] is None or not self.owner_alive(row[1])]
                self._db.executemany(
                    "UPDATE jobs SET status=?, start_time=NULL, queue_order=queue_order-1e12 WHERE id=? AND status=?",
                    [(QUEUED, job_id, IN_PROGRESS) for job_id in orphaned],
                )
                self._db.executemany("DELETE FROM claims WHERE job_id=?", [(job_id,) for job_id in orphaned])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return len(orphaned)

    def insert(self, kind: str, name: str, request: dict) -> Job:
        now = time.time()
        with self._lock:
            (queued,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", (QUEUED, IN_PROGRESS)
            ).fetchone()
            if queued >= self.max_queued:
                raise LimitExceededException(
                    "You have reached the limit of queued and running jobs. Wait for some jobs to finish "
                    "and try your request again."
                )
            try:
                cursor = self._db.execute(
                    "INSERT INTO jobs (kind, name, request, status, queue_order, creation_time) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (kind, name, json.dumps(request), QUEUED, now, now),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(JOB_NAME_EXISTS) from None
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (cursor.lastrowid,)).fetchone()
        return Job.from_row(row)

    def get(self, kind: str, name: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE kind=? AND name=?", (kind, name)).fetchone()
        return Job.from_row(row) if row else None

    def get_by_id(self, job_id: int) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def delete(self, kind: str, name: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE kind=? AND name=?", (kind, name)).fetchone()
            if row:
                self._db.execute("DELETE FROM jobs WHERE id=?", (row["id"],))
        return Job.from_row(row) if row else None

    def list(
        self, kind: str, status: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[list[Job], bool]:
        """Newest first; returns the page and whether more jobs follow."""
        clauses, params = ["kind=?"], [kind]
        if status:
            clauses.append("status=?")
            params.append(status)
        if name_contains:
            clauses.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<?")
            params.append(after_id)
        query = f"SELECT * FROM jobs WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        return [Job.from_row(row) for row in rows[:limit]], len(rows) > limit

    def claim_next(self) -> Job | None:
        """Mark the oldest QUEUED job IN_PROGRESS, owned by this process, and return it. One write
        transaction (BEGIN IMMEDIATE), so two processes on the same file never claim the same job."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                row = self._db.execute(
                    "SELECT * FROM jobs WHERE status=? AND (retry_at IS NULL OR retry_at<=?) "
                    "ORDER BY queue_order, id LIMIT 1",
                    (QUEUED, now),
                ).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute(
                    "UPDATE jobs SET status=?, start_time=? WHERE id=? AND status=?",
                    (IN_PROGRESS, now, row["id"], QUEUED),
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO claims (job_id, owner) VALUES (?, ?)", (row["id"], self.owner)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = Job.from_row(row)
        job.status, job.start_time = IN_PROGRESS, now
        return job

    def finish(
        self,
        job_id: int,
        status: str,
        *,
        failure_reason: str | None = None,
        transcript_uri: str | None = None,
        clinical_document_uri: str | None = None,
        media_format: str | None = None,
        media_sample_rate: int | None = None,
        internal_failure: bool = False,
    ) -> bool:
        """Record the end of a job that is still IN_PROGRESS (``internal_failure``: it ended in one, counted
        with the others); False if it was deleted meanwhile."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status=?, completion_time=?, failure_reason=?, transcript_uri=?, "
                "clinical_document_uri=?, "
                "media_format=COALESCE(?, media_format), media_sample_rate=COALESCE(?, media_sample_rate), "
                "internal_failures=internal_failures+?, retry_at=NULL "
                "WHERE id=? AND status=?",
                (
                    status,
                    time.time(),
                    failure_reason,
                    transcript_uri,
                    clinical_document_uri,
                    media_format,
                    media_sample_rate,
                    int(internal_failure),
                    job_id,
                    IN_PROGRESS,
                ),
            )
            return cursor.rowcount == 1

    def retry_later(self, job_id: int, delay_s: float) -> bool:
        """Queue an IN_PROGRESS job again (its place in the order kept) to be claimed after ``delay_s``,
        counting one more internal failure; False if it was deleted meanwhile."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "UPDATE jobs SET status=?, start_time=NULL, retry_at=?, "
                    "internal_failures=internal_failures+1 WHERE id=? AND status=?",
                    (QUEUED, time.time() + delay_s, job_id, IN_PROGRESS),
                )
                self._db.execute("DELETE FROM claims WHERE job_id=?", (job_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return cursor.rowcount == 1

    def set_tags(self, kind: str, name: str, tags: list[dict]) -> None:
        """Replace the Tags of a job's stored request (an empty list removes them)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, request FROM jobs WHERE kind=? AND name=?", (kind, name)
            ).fetchone()
            if row is None:
                return
            request = json.loads(row["request"])
            if tags:
                request["Tags"] = tags
            else:
                request.pop("Tags", None)
            self._db.execute("UPDATE jobs SET request=? WHERE id=?", (json.dumps(request), row["id"]))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}


class WorkerPool:
    """Background threads that take QUEUED jobs in order and run the pipeline on them.

    :param store: the :class:`JobStore`.
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
        store: JobStore,
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
        self.workdir = data_dir / "work" / store.owner  # per process: replicas share data_dir
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
        for lock in self.store.owners_dir.glob("*.lock"):
            self.store.owner_alive(lock.stem)  # removes the file of a dead owner

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
        import medscribe_engine.storage as storage

        s3_client = storage.make_s3_client()
        next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
        while not self.stopping.is_set():
            job = self.store.claim_next()
            if job is None:
                if time.monotonic() >= next_recovery:  # take over the jobs of a replica that died
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
                    with contextlib.suppress(sqlite3.Error):
                        if self.store.recover():
                            log.info("queued again the jobs of an engine process that is gone")
                            continue
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
                job.name, attempt, attempts, type(error).__name__, frames, delay,
            )
            self.store.retry_later(job.id, delay)
            return
        log.error(
            "job %s FAILED: attempt %d of %d ended in an internal %s at %s",
            job.name, attempt, attempts, type(error).__name__, frames,
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
        from medscribe_engine.exceptions import TranscribeError
        from medscribe_engine.pipeline import JobFailed

        if self.filters is None:
            raise JobFailed("Vocabulary filters are not available in this engine.")
        try:
            return self.filters.words_of(name)
        except TranscribeError as error:  # deleted since the job was accepted
            raise JobFailed(error.message) from None

    def run(self, job: Job, s3_client) -> None:
        from medscribe_engine.pipeline import (
            Interrupted,
            JobDocument,
            JobFailed,
            build_pipeline,
            run_pipeline,
        )

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
            stages = build_pipeline(
                job.kind,
                settings,
                self.resources,
                s3_client,
                vocabulary=self._vocabulary(settings),
                filter_words=self._filter_words(settings),
                content_identification=job.request.get("ContentIdentificationType"),
                speech_type=job.request.get("Type"),
            )
            run_pipeline(doc, stages)
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
        except Exception as error:  # noqa: BLE001 - never let a job take the engine down
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
    from medscribe_engine.exceptions import TranscribeError
    from medscribe_engine.pipeline import JobFailed

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


class TranscribeBackend:
    """The service operations, over the job store and the worker pool (requests already validated).

    :param store: the :class:`JobStore`.
    :param pool: the :class:`WorkerPool`, notified of new jobs (None: jobs only queue).
    """

    def __init__(self, store: JobStore, pool: WorkerPool | None = None):
        self.store = store
        self.pool = pool

    def start(self, kind: str, name: str, request: dict) -> Job:
        job = self.store.insert(kind, name, request)
        log.info("job %s (%s) queued", name, kind)
        if self.pool is not None:
            self.pool.notify()
        return job

    def get(self, kind: str, name: str) -> Job:
        job = self.store.get(kind, name)
        if job is None:
            raise NotFoundException(JOB_NOT_FOUND)
        return job

    def delete(self, kind: str, name: str) -> None:
        job = self.store.delete(kind, name)
        if job is None:
            raise BadRequestException(JOB_NOT_FOUND)
        if self.pool is not None and job.status == IN_PROGRESS:
            self.pool.cancel(job.id)
        log.info("job %s (%s) deleted", name, kind)

    def list(
        self,
        kind: str,
        status: str | None,
        name_contains: str | None,
        next_token: str | None,
        max_results: int | None,
    ) -> tuple[list[Job], str | None]:
        listing, data_dir = ("jobs", kind, status, name_contains), self.store.path.parent
        after = decode_token(next_token, listing, data_dir) if next_token else None
        jobs, more = self.store.list(kind, status, name_contains, after, max_results or DEFAULT_MAX_RESULTS)
        return jobs, (encode_token(jobs[-1].id, listing, data_dir) if more and jobs else None)
