"""The PostgreSQL vocabulary filter store: the ``vocabulary_filters`` table of the job store's database
(migration 3 of :mod:`medscribe_engine.store_migrations`), so every replica on every host sees the same
filters. It runs on the job store's connection (:meth:`PostgresJobStore.session`); the quota check and
the insert are one step under an advisory lock. Times are the database's clock, as for jobs."""

from __future__ import annotations

import builtins
import json
from typing import Any

import psycopg
from psycopg.rows import DictRow

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.store_postgres import NOW, PostgresJobStore, value_of
from medscribe_engine.vocabulary_filter_store import (
    FILTER_EXISTS,
    FILTER_LIMIT,
    MAX_FILTERS,
    VocabularyFilter,
    VocabularyFilterStoreBase,
)
from medscribe_engine.vocabulary_store import Tags, tags_of

QUOTA_LOCK = 0x76666C74  # pg_advisory_xact_lock key of the filter quota ("vflt")


class PostgresVocabularyFilterStore(VocabularyFilterStoreBase):
    """The filter table in the PostgreSQL job store's database; safe to share between threads.

    :param jobs: the open job store whose connection (and migrated schema) this store uses.
    """

    def __init__(self, jobs: PostgresJobStore):
        self.jobs = jobs
        self.data_dir = jobs.data_dir

    def _one(self, sql: str, params: tuple) -> DictRow | None:
        with self.jobs.session() as db:
            return db.execute(sql, params).fetchone()

    def insert(
        self,
        name: str,
        language_code: str,
        words: builtins.list[str],
        file_uri: str | None,
        tags: Tags | None,
        role_arn: str | None,
    ) -> VocabularyFilter:
        try:
            with self.jobs.session() as db, db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))
                if value_of(db, "SELECT COUNT(*) FROM vocabulary_filters", ()) >= MAX_FILTERS:
                    raise LimitExceededException(FILTER_LIMIT)
                row = db.execute(
                    "INSERT INTO vocabulary_filters "
                    "(name, language_code, words, file_uri, last_modified_time, tags, data_access_role) "
                    f"VALUES (%s, %s, %s, %s, {NOW}, %s, %s) RETURNING *",
                    (name, language_code, json.dumps(words), file_uri, json.dumps(tags or []), role_arn),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConflictException(FILTER_EXISTS) from None
        assert row is not None  # RETURNING answers the inserted row
        return VocabularyFilter.from_row(row)

    def get(self, name: str) -> VocabularyFilter | None:
        row = self._one("SELECT * FROM vocabulary_filters WHERE name=%s", (name,))
        return VocabularyFilter.from_row(row) if row else None

    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        row = self._one(
            f"UPDATE vocabulary_filters SET words=%s, file_uri=%s, last_modified_time={NOW}, "
            "data_access_role=coalesce(%s, data_access_role) WHERE name=%s RETURNING *",
            (json.dumps(words), file_uri, role_arn, name),
        )
        return VocabularyFilter.from_row(row) if row else None

    def delete(self, name: str) -> bool:
        with self.jobs.session() as db:
            return db.execute("DELETE FROM vocabulary_filters WHERE name=%s", (name,)).rowcount == 1

    def list(
        self, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[VocabularyFilter], bool]:
        clauses: builtins.list[str] = ["TRUE"]
        params: builtins.list[Any] = []
        if name_contains:
            clauses.append("strpos(lower(name), lower(%s)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<%s")
            params.append(after_id)
        query = f"SELECT * FROM vocabulary_filters WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT %s"
        with self.jobs.session() as db:
            rows = db.execute(query, (*params, limit + 1)).fetchall()
        return [VocabularyFilter.from_row(row) for row in rows[:limit]], len(rows) > limit

    def get_tags(self, name: str) -> Tags | None:
        return tags_of(self._one("SELECT tags FROM vocabulary_filters WHERE name=%s", (name,)))

    def set_tags(self, name: str, tags: Tags) -> None:
        with self.jobs.session() as db:
            db.execute("UPDATE vocabulary_filters SET tags=%s WHERE name=%s", (json.dumps(tags), name))
