"""The SQLite job store: one database file shared by the engine replicas of one host.

The table keeps the accepted request, the status, the times, the failure reason, the output URI and
what the decoder found (media format and sample rate) - never transcript text.

Jobs run in submission order. At start, QUEUED jobs stay queued and IN_PROGRESS jobs (the engine
stopped while running them) are queued again at the front, so they are resumed first.

Several engine processes (replicas) may share one database file: a job is claimed in one SQLite write
transaction, and the claim records its owner, a process that holds an exclusive ``flock`` on
``owners/<owner>.lock`` (beside the database) while it lives. Recovery re-queues only the IN_PROGRESS
jobs of owners that are gone (the kernel drops the lock of a dead process), so a replica starting up
never takes a job another replica is running; idle replicas also take over a dead replica's jobs.
Scratch folders are per owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medscribe_engine.exceptions import JOB_NAME_EXISTS, ConflictException, LimitExceededException
from medscribe_engine.store_model import (
    IN_PROGRESS,
    LIMIT_MESSAGE,
    MAX_QUEUED_JOBS,
    QUEUED,
    REQUEUE_ORDER_SHIFT,
    Job,
    JobStoreBase,
    Tags,
    tagged,
)
from medscribe_engine.store_sql import SQLITE

SCHEMA_VERSION = 2
DATABASE_FILE = "jobs.sqlite3"  # in the data directory unless --store names another file

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


class SqliteJobStore(JobStoreBase):
    """The job table in ``<data_dir>/jobs.sqlite3`` (or ``path``); safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    :param max_queued: how many jobs may be QUEUED or IN_PROGRESS at once; past it, Start answers
        LimitExceededException.
    :param path: the database file (``--store sqlite:///PATH``); None: ``<data_dir>/jobs.sqlite3``.
    """

    DIALECT = SQLITE

    def __init__(self, data_dir: Path, max_queued: int = MAX_QUEUED_JOBS, path: Path | None = None):
        self.max_queued = max_queued
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.path = path or data_dir / DATABASE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
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
        self.owners_dir = self.path.parent / "owners"  # beside the database: its replicas' liveness
        self.owners_dir.mkdir(exist_ok=True)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._owner_lock = open(self.owners_dir / f"{self.owner}.lock", "w")  # noqa: SIM115 - held for life
        fcntl.flock(self._owner_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: no other process writes the file meanwhile) under the
        lock; committed at the end of the block, even by a return, and rolled back on any exception."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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

    def prune_owners(self) -> None:
        for lock in self.owners_dir.glob("*.lock"):
            self.owner_alive(lock.stem)  # removes the file of a dead owner

    def recover(self) -> int:
        """Queue again, ahead of the queued ones, the IN_PROGRESS jobs whose owner is gone (a previous run
        of this engine, or a replica that died); jobs of live replicas are left alone."""
        with self._write() as db:
            rows = db.execute(
                "SELECT jobs.id, claims.owner FROM jobs LEFT JOIN claims ON claims.job_id = jobs.id "
                "WHERE jobs.status=?",
                (IN_PROGRESS,),
            ).fetchall()
            orphaned = [row[0] for row in rows if row[1] is None or not self.owner_alive(row[1])]
            db.executemany(
                "UPDATE jobs SET status=?, start_time=NULL, queue_order=queue_order-? WHERE id=? AND status=?",
                [(QUEUED, REQUEUE_ORDER_SHIFT, job_id, IN_PROGRESS) for job_id in orphaned],
            )
            db.executemany("DELETE FROM claims WHERE job_id=?", [(job_id,) for job_id in orphaned])
        return len(orphaned)

    def insert(self, kind: str, name: str, request: dict) -> Job:
        now = time.time()
        with self._lock:
            (queued,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", (QUEUED, IN_PROGRESS)
            ).fetchone()
            if queued >= self.max_queued:
                raise LimitExceededException(LIMIT_MESSAGE)
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

    def _all(self, sql: str, params: tuple) -> list[Any]:  # sqlite3.Rows
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def claim_next(self) -> Job | None:
        """Mark the oldest QUEUED job IN_PROGRESS, owned by this process, and return it. One write
        transaction (BEGIN IMMEDIATE), so two processes on the same file never claim the same job."""
        with self._write() as db:
            now = time.time()
            row = db.execute(
                "SELECT * FROM jobs WHERE status=? AND (retry_at IS NULL OR retry_at<=?) "
                "ORDER BY queue_order, id LIMIT 1",
                (QUEUED, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status=?, start_time=? WHERE id=? AND status=?",
                (IN_PROGRESS, now, row["id"], QUEUED),
            )
            db.execute("INSERT OR REPLACE INTO claims (job_id, owner) VALUES (?, ?)", (row["id"], self.owner))
        job = Job.from_row(row)
        job.status, job.start_time = IN_PROGRESS, now
        return job

    def _record_end(self, job_id: int, status: str, outcome: tuple) -> bool:
        """The end of a job that is still IN_PROGRESS; False if it was deleted meanwhile."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status=?, completion_time=?, failure_reason=?, transcript_uri=?, "
                "clinical_document_uri=?, "
                "media_format=COALESCE(?, media_format), media_sample_rate=COALESCE(?, media_sample_rate), "
                "internal_failures=internal_failures+?, retry_at=NULL "
                "WHERE id=? AND status=?",
                (status, time.time(), *outcome, job_id, IN_PROGRESS),
            )
            return cursor.rowcount == 1

    def retry_later(self, job_id: int, delay_s: float) -> bool:
        """Queue an IN_PROGRESS job again (its place in the order kept) to be claimed after ``delay_s``,
        counting one more internal failure; False if it was deleted meanwhile."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET status=?, start_time=NULL, retry_at=?, "
                "internal_failures=internal_failures+1 WHERE id=? AND status=?",
                (QUEUED, time.time() + delay_s, job_id, IN_PROGRESS),
            )
            db.execute("DELETE FROM claims WHERE job_id=?", (job_id,))
        return cursor.rowcount == 1

    def set_tags(self, kind: str, name: str, tags: Tags) -> None:
        """Replace the Tags of a job's stored request (an empty list removes them)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, request FROM jobs WHERE kind=? AND name=?", (kind, name)
            ).fetchone()
            if row is None:
                return
            request = tagged(json.loads(row["request"]), tags)
            self._db.execute("UPDATE jobs SET request=? WHERE id=?", (json.dumps(request), row["id"]))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}
