"""The PostgreSQL vocabulary store: the ``vocabularies`` table of the job store's database (migration 3
of :mod:`medscribe_engine.store_migrations`), so every replica on every host sees the same vocabularies.

It runs on the job store's connection (:meth:`PostgresJobStore.session`): one connection, one lock,
reconnected the same way. The quota check and the insert are one step under an advisory lock, and an
update locks its row, so two replicas never both pass the limit or both restart a PENDING vocabulary.
Times are the database's clock, as for jobs.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

import psycopg
from psycopg.rows import DictRow

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.store_postgres import NOW, PostgresJobStore, value_of
from medscribe_engine.vocabulary_store import (
    MAX_VOCABULARIES,
    PENDING,
    VOCABULARY_BUSY,
    VOCABULARY_EXISTS,
    VOCABULARY_LIMIT,
    Tags,
    Vocabulary,
    VocabularyStoreBase,
    entries_json,
    tags_of,
)

QUOTA_LOCK = 0x766F6361  # pg_advisory_xact_lock key of the vocabulary quota ("voca")


class PostgresVocabularyStore(VocabularyStoreBase):
    """The vocabulary table in the PostgreSQL job store's database; safe to share between threads.

    :param jobs: the open job store whose connection (and migrated schema) this store uses.
    """

    def __init__(self, jobs: PostgresJobStore):
        self.jobs = jobs
        self.data_dir = jobs.data_dir

    def _one(self, sql: str, params: tuple) -> DictRow | None:
        with self.jobs.session() as db:
            return db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple) -> builtins.list[DictRow]:
        with self.jobs.session() as db:
            return db.execute(sql, params).fetchall()

    def insert(self, name: str, language_code: str, file_uri: str, tags: Tags | None) -> Vocabulary:
        try:
            with self.jobs.session() as db, db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))
                if value_of(db, "SELECT COUNT(*) FROM vocabularies", ()) >= MAX_VOCABULARIES:
                    raise LimitExceededException(VOCABULARY_LIMIT)
                row = db.execute(
                    "INSERT INTO vocabularies (name, language_code, file_uri, state, last_modified_time, tags) "
                    f"VALUES (%s, %s, %s, %s, {NOW}, %s) RETURNING *",
                    (name, language_code, file_uri, PENDING, json.dumps(tags or [])),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise ConflictException(VOCABULARY_EXISTS) from None
        assert row is not None  # RETURNING answers the inserted row
        return Vocabulary.from_row(row)

    def get(self, name: str) -> Vocabulary | None:
        row = self._one("SELECT * FROM vocabularies WHERE name=%s", (name,))
        return Vocabulary.from_row(row) if row else None

    def get_by_id(self, vocabulary_id: int) -> Vocabulary | None:
        row = self._one("SELECT * FROM vocabularies WHERE id=%s", (vocabulary_id,))
        return Vocabulary.from_row(row) if row else None

    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary | None:
        with self.jobs.session() as db, db.transaction():
            row = db.execute("SELECT state FROM vocabularies WHERE name=%s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return None
            if row["state"] == PENDING:
                raise ConflictException(VOCABULARY_BUSY)
            row = db.execute(
                f"UPDATE vocabularies SET language_code=%s, file_uri=%s, state=%s, last_modified_time={NOW}, "
                "failure_reason=NULL, entries=NULL WHERE name=%s RETURNING *",
                (language_code, file_uri, PENDING, name),
            ).fetchone()
        assert row is not None  # the row is locked: it is still there
        return Vocabulary.from_row(row)

    def finish(
        self,
        vocabulary_id: int,
        file_uri: str,
        state: str,
        *,
        entries: builtins.list[VocabularyEntry] | None = None,
        reason: str | None = None,
    ) -> bool:
        with self.jobs.session() as db:
            cursor = db.execute(
                f"UPDATE vocabularies SET state=%s, failure_reason=%s, entries=%s, last_modified_time={NOW} "
                "WHERE id=%s AND file_uri=%s AND state=%s",
                (state, reason, entries_json(entries), vocabulary_id, file_uri, PENDING),
            )
            return cursor.rowcount == 1

    def delete(self, name: str) -> bool:
        with self.jobs.session() as db:
            return db.execute("DELETE FROM vocabularies WHERE name=%s", (name,)).rowcount == 1

    def get_tags(self, name: str) -> Tags | None:
        return tags_of(self._one("SELECT tags FROM vocabularies WHERE name=%s", (name,)))

    def set_tags(self, name: str, tags: Tags) -> None:
        with self.jobs.session() as db:
            db.execute("UPDATE vocabularies SET tags=%s WHERE name=%s", (json.dumps(tags), name))

    def list(
        self, state: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[Vocabulary], bool]:
        clauses: builtins.list[str] = ["TRUE"]
        params: builtins.list[Any] = []
        if state:
            clauses.append("state=%s")
            params.append(state)
        if name_contains:
            clauses.append("strpos(lower(name), lower(%s)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<%s")
            params.append(after_id)
        query = f"SELECT * FROM vocabularies WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT %s"
        rows = self._all(query, (*params, limit + 1))
        return [Vocabulary.from_row(row) for row in rows[:limit]], len(rows) > limit

    def pending(self) -> builtins.list[Vocabulary]:
        rows = self._all("SELECT * FROM vocabularies WHERE state=%s ORDER BY id", (PENDING,))
        return [Vocabulary.from_row(row) for row in rows]
