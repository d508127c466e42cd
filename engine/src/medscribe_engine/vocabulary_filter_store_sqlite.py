"""The SQLite vocabulary filter store: the ``vocabulary_filters`` table of
``<data-dir>/vocabularies.sqlite3``, beside the vocabularies (the store of ``--store sqlite:///…``)."""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.vocabulary_filter_store import (
    FILTER_EXISTS,
    FILTER_LIMIT,
    MAX_FILTERS,
    VocabularyFilter,
    VocabularyFilterStoreBase,
)
from medscribe_engine.vocabulary_store import Tags, tags_of
from medscribe_engine.vocabulary_store_sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS vocabulary_filters (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    language_code      TEXT NOT NULL,
    words              TEXT NOT NULL,
    file_uri           TEXT,
    last_modified_time REAL NOT NULL,
    tags               TEXT,
    data_access_role   TEXT
);
"""
# data dirs made before the column existed
MIGRATIONS = {"data_access_role": "ALTER TABLE vocabulary_filters ADD COLUMN data_access_role TEXT"}


class SqliteVocabularyFilterStore(VocabularyFilterStoreBase):
    """The filter table in ``<data_dir>/vocabularies.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._db = connect(data_dir)
        with self._lock:
            self._db.executescript(SCHEMA)
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(vocabulary_filters)")}
            for column, statement in MIGRATIONS.items():
                if column not in columns:
                    self._db.execute(statement)

    def _row(self, name: str) -> Any:  # a sqlite3.Row, or None
        return self._db.execute("SELECT * FROM vocabulary_filters WHERE name=?", (name,)).fetchone()

    def insert(
        self,
        name: str,
        language_code: str,
        words: builtins.list[str],
        file_uri: str | None,
        tags: Tags | None,
        role_arn: str | None,
    ) -> VocabularyFilter:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM vocabulary_filters").fetchone()
            if count >= MAX_FILTERS:
                raise LimitExceededException(FILTER_LIMIT)
            try:
                self._db.execute(
                    "INSERT INTO vocabulary_filters "
                    "(name, language_code, words, file_uri, last_modified_time, tags, data_access_role) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        language_code,
                        json.dumps(words),
                        file_uri,
                        time.time(),
                        json.dumps(tags or []),
                        role_arn,
                    ),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(FILTER_EXISTS) from None
            row = self._row(name)
        assert row is not None  # inserted under the lock
        return VocabularyFilter.from_row(row)

    def get(self, name: str) -> VocabularyFilter | None:
        with self._lock:
            row = self._row(name)
        return VocabularyFilter.from_row(row) if row else None

    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE vocabulary_filters SET words=?, file_uri=?, last_modified_time=?, "
                "data_access_role=coalesce(?, data_access_role) WHERE name=?",
                (json.dumps(words), file_uri, time.time(), role_arn, name),
            )
            row = self._row(name) if cursor.rowcount == 1 else None
        return VocabularyFilter.from_row(row) if row else None

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM vocabulary_filters WHERE name=?", (name,)).rowcount == 1

    def list(
        self, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[VocabularyFilter], bool]:
        clauses: builtins.list[str] = ["1=1"]
        params: builtins.list[Any] = []
        if name_contains:
            clauses.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<?")
            params.append(after_id)
        query = f"SELECT * FROM vocabulary_filters WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        return [VocabularyFilter.from_row(row) for row in rows[:limit]], len(rows) > limit

    def get_tags(self, name: str) -> Tags | None:
        with self._lock:
            return tags_of(self._row(name))

    def set_tags(self, name: str, tags: Tags) -> None:
        with self._lock:
            self._db.execute("UPDATE vocabulary_filters SET tags=? WHERE name=?", (json.dumps(tags), name))
