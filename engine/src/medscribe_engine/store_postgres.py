"""The PostgreSQL job store: one database shared by engine replicas on many hosts (``--store postgresql://``).

Each replica keeps its own local data directory (scratch, the NextToken key file) and claims jobs from
the shared table: the claim is one ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)``, so a
queued job goes to exactly one replica and replicas never wait on each other's claims.

A replica is alive while its lease in ``replicas`` is current: it renews it every RENEW_S, and on the
same beat queues again the IN_PROGRESS jobs of replicas whose lease expired (a crashed replica's jobs
are back in the queue within LEASE_S + RENEW_S). A job's end is recorded only by the replica that holds
it, so a replica that lost its lease cannot overwrite the run of the replica that took the job over.
Times (job times, leases, retry delays) are the database's clock, so the hosts' clocks may differ.

A replica is named by its data directory (``replica-id``, locked while the process lives): a restarted
replica revokes its previous incarnation's lease at once and resumes that one's jobs first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from medscribe_engine.exceptions import JOB_NAME_EXISTS, ConflictException, LimitExceededException
from medscribe_engine.pagination import KEY_BYTES, KEY_FILE
from medscribe_engine.store_migrations import migrate
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
from medscribe_engine.store_sql import POSTGRES

log = logging.getLogger("medscribe_engine")

LEASE_S = 15.0  # a replica not heard from for this long is gone (3 missed renewals)
RENEW_S = 5.0  # lease renewal and expired-lease scan: a crashed replica's jobs are queued again within 20 s
FORGET_REPLICA_S = 3600.0  # an expired lease row with no jobs is kept this long, for the operator to see
CONNECT_TIMEOUT_S = 10
QUOTA_LOCK = 0x71756F74  # pg_advisory_xact_lock key that makes the quota check and the insert one step
NOW = "extract(epoch from clock_timestamp())"  # the database's clock, in seconds like the job times
REPLICA_ID_FILE, REPLICA_LOCK_FILE = "replica-id", "replica.lock"
PAGINATION_SETTING = "pagination_key"


def _replica_identity(data_dir: Path):
    """This data directory's replica id and the open file whose lock says its process lives; a fresh id
    (and no lock) when another live process already uses the directory."""
    lock = open(data_dir / REPLICA_LOCK_FILE, "a")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return uuid.uuid4().hex[:16], None
    path = data_dir / REPLICA_ID_FILE
    replica = path.read_text().strip() if path.exists() else ""
    if not re.fullmatch(r"[0-9a-f]{16}", replica):
        replica = uuid.uuid4().hex[:16]
        path.write_text(replica + "\n")
    return replica, lock


def value_of(connection: psycopg.Connection[DictRow], sql: str, params: tuple) -> Any:
    """The one value of a query that always answers one row (a count, a setting that exists)."""
    row = connection.execute(sql, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


class PostgresJobStore(JobStoreBase):
    """The job table in a PostgreSQL database shared by replicas; safe to share between threads.

    :param url: ``postgresql://user:password@host:port/database`` (never logged: it carries a password).
    :param data_dir: this replica's local data directory (created if missing).
    :param max_queued: how many jobs may be QUEUED or IN_PROGRESS at once, over all replicas.
    :param lease_s: how long a replica counts as alive after its last renewal.
    :param renew_s: how often the lease is renewed and expired leases are looked for.
    """

    DIALECT = POSTGRES

    def __init__(
        self,
        url: str,
        data_dir: Path,
        max_queued: int = MAX_QUEUED_JOBS,
        lease_s: float = LEASE_S,
        renew_s: float = RENEW_S,
    ):
        self.url, self.max_queued, self.lease_s, self.renew_s = url, max_queued, lease_s, renew_s
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._db = self._connect()
        migrate(self._db)
        self.replica, self._replica_lock = _replica_identity(data_dir)
        self.owner = f"{self.replica}.{uuid.uuid4().hex[:8]}"
        self._resumed = 0
        with self._lock:
            self._renew(self._db)
            if self._replica_lock is not None:  # earlier processes of this replica are gone
                self._resumed = self._revoke_earlier_processes(self._db)
        self._share_pagination_key()
        self._stopping = threading.Event()
        self._lease_db = self._connect()  # its own connection: a renewal never waits behind a long query
        self._lease_thread = threading.Thread(target=self._keep_lease, name="engine-lease", daemon=True)
        self._lease_thread.start()

    # -- connections, leases ------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[DictRow]:
        return psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="medscribe-engine",
        )

    def _connection(self) -> psycopg.Connection[DictRow]:
        """The shared connection, opened again if the server dropped it (call with ``_lock`` held)."""
        if self._db.closed or self._db.broken:
            self._db = self._connect()
        return self._db

    @contextlib.contextmanager
    def session(self) -> Iterator[psycopg.Connection[DictRow]]:
        """The shared connection, this thread's alone for the block: how the vocabulary and filter
        stores on this database (:mod:`medscribe_engine.vocabulary_store_postgres`,
        :mod:`medscribe_engine.vocabulary_filter_store_postgres`) run their statements."""
        with self._lock:
            yield self._connection()

    def _renew(self, connection) -> None:
        connection.execute(
            f"INSERT INTO replicas (owner, host, started, lease_expires) VALUES (%s, %s, {NOW}, {NOW} + %s) "
            "ON CONFLICT (owner) DO UPDATE SET lease_expires = EXCLUDED.lease_expires",
            (self.owner, socket.gethostname()[:255], self.lease_s),
        )

    def _revoke_earlier_processes(self, connection) -> int:
        """End the leases of this replica's earlier processes and queue their jobs again, first; their
        count. Safe because this process holds the data directory's lock: they have exited."""
        earlier = (f"{self.replica}.%", self.owner)
        connection.execute("DELETE FROM replicas WHERE owner LIKE %s AND owner <> %s", earlier)
        rows = connection.execute(
            "UPDATE jobs SET status=%s, start_time=NULL, owner=NULL, queue_order=queue_order-%s "
            "WHERE status=%s AND owner LIKE %s AND owner <> %s RETURNING id",
            (QUEUED, REQUEUE_ORDER_SHIFT, IN_PROGRESS, *earlier),
        ).fetchall()
        return len(rows)

    def _requeue_expired(self, connection) -> list[int]:
        """Queue again, first, the IN_PROGRESS jobs whose owner holds no current lease. A job started less
        than a lease ago is left alone: its claimer may have registered after this statement began."""
        rows = connection.execute(
            f"UPDATE jobs SET status=%s, start_time=NULL, owner=NULL, queue_order=queue_order-%s "
            f"WHERE status=%s AND start_time < {NOW} - %s AND NOT EXISTS "
            f"(SELECT 1 FROM replicas r WHERE r.owner = jobs.owner AND r.lease_expires > {NOW}) RETURNING id",
            (QUEUED, REQUEUE_ORDER_SHIFT, IN_PROGRESS, self.lease_s),
        ).fetchall()
        return [row["id"] for row in rows]

    def _keep_lease(self) -> None:
        while not self._stopping.wait(self.renew_s):
            try:
                if self._lease_db.closed or self._lease_db.broken:
                    self._lease_db = self._connect()
                self._renew(self._lease_db)
                requeued = self._requeue_expired(self._lease_db)
                if requeued:
                    log.info("queued again %d job(s) of replicas whose lease expired", len(requeued))
            except psycopg.Error as error:  # the database is away: keep trying (the message may hold its URL)
                log.warning("job store lease renewal failed (%s); retrying", type(error).__name__)

    def close(self) -> None:
        """Stop renewing and give the lease up: this process's unfinished jobs are queued again."""
        self._stopping.set()
        self._lease_thread.join(timeout=self.renew_s + CONNECT_TIMEOUT_S)
        with self._lock, contextlib.suppress(psycopg.Error):
            self._connection().execute("DELETE FROM replicas WHERE owner=%s", (self.owner,))
        for connection in (self._db, self._lease_db):
            connection.close()
        if self._replica_lock is not None:
            self._replica_lock.close()

    def owner_alive(self, owner: str) -> bool:
        if owner == self.owner:
            return True
        with self._lock:
            row = (
                self._connection()
                .execute(f"SELECT 1 FROM replicas WHERE owner=%s AND lease_expires > {NOW}", (owner,))
                .fetchone()
            )
        return row is not None

    def prune_owners(self) -> None:
        with self._lock:
            self._connection().execute(
                f"DELETE FROM replicas r WHERE lease_expires < {NOW} - %s AND NOT EXISTS "
                "(SELECT 1 FROM jobs WHERE jobs.owner = r.owner AND jobs.status = %s)",
                (FORGET_REPLICA_S, IN_PROGRESS),
            )

    def recover(self) -> int:
        with self._lock:
            requeued = len(self._requeue_expired(self._connection())) + self._resumed
            self._resumed = 0
        return requeued

    def _share_pagination_key(self) -> None:
        """Make ``<data_dir>/pagination.key`` the store's key, so every replica accepts the NextTokens of
        the others (the key is made once, by whichever replica comes first)."""
        with self._lock:
            db = self._connection()
            db.execute(
                "INSERT INTO settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (PAGINATION_SETTING, secrets.token_bytes(KEY_BYTES)),
            )
            key = bytes(value_of(db, "SELECT value FROM settings WHERE name=%s", (PAGINATION_SETTING,)))
        path = self.data_dir / KEY_FILE
        if path.exists() and path.read_bytes() == key:
            return
        draft = self.data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(draft, path)

    # -- jobs ---------------------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple) -> Job | None:
        with self._lock:
            row = self._connection().execute(sql, params).fetchone()
        return Job.from_row(row) if row else None

    def insert(self, kind: str, name: str, request: dict) -> Job:
        try:
            with self._lock:
                db = self._connection()
                with db.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))
                    queued = value_of(
                        db, "SELECT COUNT(*) FROM jobs WHERE status IN (%s, %s)", (QUEUED, IN_PROGRESS)
                    )
                    if queued >= self.max_queued:
                        raise LimitExceededException(LIMIT_MESSAGE)
                    row = db.execute(
                        "INSERT INTO jobs (kind, name, request, status, queue_order, creation_time) "
                        f"VALUES (%s, %s, %s, %s, {NOW}, {NOW}) RETURNING *",
                        (kind, name, json.dumps(request), QUEUED),
                    ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConflictException(JOB_NAME_EXISTS) from None
        assert row is not None  # RETURNING answers the inserted row
        return Job.from_row(row)

    def get(self, kind: str, name: str) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE kind=%s AND name=%s", (kind, name))

    def get_by_id(self, job_id: int) -> Job | None:
        return self._one("SELECT * FROM jobs WHERE id=%s", (job_id,))

    def delete(self, kind: str, name: str) -> Job | None:
        return self._one("DELETE FROM jobs WHERE kind=%s AND name=%s RETURNING *", (kind, name))

    def _all(self, sql: str, params: tuple) -> list[DictRow]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def claim_next(self) -> Job | None:
        """One statement: the oldest claimable QUEUED job, locked with SKIP LOCKED (rows another replica
        is claiming are passed over, not waited for), becomes IN_PROGRESS under this replica."""
        return self._one(
            f"UPDATE jobs SET status=%s, start_time={NOW}, owner=%s WHERE status=%s AND id = ("
            f"SELECT id FROM jobs WHERE status=%s AND (retry_at IS NULL OR retry_at <= {NOW}) "
            "ORDER BY queue_order, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
            (IN_PROGRESS, self.owner, QUEUED, QUEUED),
        )

    def _record_end(self, job_id: int, status: str, outcome: tuple) -> bool:
        with self._lock:
            cursor = self._connection().execute(
                f"UPDATE jobs SET status=%s, completion_time={NOW}, failure_reason=%s, transcript_uri=%s, "
                "clinical_document_uri=%s, media_format=COALESCE(%s, media_format), "
                "media_sample_rate=COALESCE(%s, media_sample_rate), "
                "internal_failures=internal_failures+%s, retry_at=NULL "
                "WHERE id=%s AND status=%s AND owner=%s",
                (status, *outcome, job_id, IN_PROGRESS, self.owner),
            )
            return cursor.rowcount == 1

    def retry_later(self, job_id: int, delay_s: float) -> bool:
        with self._lock:
            cursor = self._connection().execute(
                f"UPDATE jobs SET status=%s, start_time=NULL, owner=NULL, retry_at={NOW} + %s, "
                "internal_failures=internal_failures+1 WHERE id=%s AND status=%s AND owner=%s",
                (QUEUED, delay_s, job_id, IN_PROGRESS, self.owner),
            )
            return cursor.rowcount == 1

    def set_tags(self, kind: str, name: str, tags: Tags) -> None:
        with self._lock:
            db = self._connection()
            with db.transaction():
                row = db.execute(
                    "SELECT id, request FROM jobs WHERE kind=%s AND name=%s FOR UPDATE", (kind, name)
                ).fetchone()
                if row is not None:
                    request = tagged(json.loads(row["request"]), tags)
                    db.execute("UPDATE jobs SET request=%s WHERE id=%s", (json.dumps(request), row["id"]))

    def count_by_status(self) -> dict[str, int]:
        with self._lock:
            rows = (
                self._connection()
                .execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
                .fetchall()
            )
        return {row["status"]: row["n"] for row in rows}
