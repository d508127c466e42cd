"""The PostgreSQL side of the vocabulary and vocabulary filter stores: their tables in the job store's
database (migration 3 of :mod:`medscribe_engine.store_migrations`), so every replica on every host sees
the same ones, run on the job store's connection (:meth:`PostgresJobStore.session`: one connection, one
lock, reconnected the same way).

The quota check and the insert are one step under an advisory lock, so two replicas never both pass the
limit. Times are the database's clock, as for jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import psycopg
from psycopg.rows import DictRow

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.resource_store import ResourceStoreBase
from medscribe_engine.store_postgres import NOW, PostgresJobStore, value_of
from medscribe_engine.store_sql import POSTGRES


class PostgresResourceStore(ResourceStoreBase):
    """A table of the PostgreSQL job store's database; safe to share between threads.

    :param jobs: the open job store whose connection (and migrated schema) this store uses.
    """

    DIALECT = POSTGRES
    QUOTA_LOCK: ClassVar[int]  # pg_advisory_xact_lock key that makes the quota check and the insert one step

    def __init__(self, jobs: PostgresJobStore):
        self.jobs = jobs
        self.data_dir = jobs.data_dir

    def _row(self, sql: str, params: tuple) -> DictRow | None:
        with self.jobs.session() as db:
            return db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple) -> list[DictRow]:
        with self.jobs.session() as db:
            return db.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple) -> int:
        with self.jobs.session() as db:
            return db.execute(sql, params).rowcount

    def _insert(self, values: Mapping[str, Any]) -> DictRow:
        columns = ", ".join([*values, "last_modified_time"])
        try:
            with self.jobs.session() as db, db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (self.QUOTA_LOCK,))
                if value_of(db, f"SELECT COUNT(*) FROM {self.TABLE}", ()) >= self.QUOTA:
                    raise LimitExceededException(self.LIMIT_MESSAGE)
                row = db.execute(
                    f"INSERT INTO {self.TABLE} ({columns}) VALUES ({'%s, ' * len(values)}{NOW}) RETURNING *",
                    tuple(values.values()),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConflictException(self.EXISTS_MESSAGE) from None
        assert row is not None  # RETURNING answers the inserted row
        return row
