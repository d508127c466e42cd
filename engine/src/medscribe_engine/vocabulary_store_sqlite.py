"""The SQLite vocabulary store: ``<data-dir>/vocabularies.sqlite3``, one per data directory (the store of
``--store sqlite:///…``, the default). Vocabulary filters live in the same file
(:mod:`medscribe_engine.vocabulary_filter_store_sqlite`)."""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.pipeline.document import VocabularyEntry
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

DATABASE_FILE = "vocabularies.sqlite3"  # in the data directory, whatever file --store names for jobs

SCHEMA = """
CREATE TABLE IF NOT EXISTS vocabularies (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    language_code      TEXT NOT NULL,
    file_uri           TEXT NOT NULL,
    state              TEXT NOT NULL,
    last_modified_time REAL NOT NULL,
    failure_reason     TEXT,
    entries            TEXT,
    tags               TEXT
);
"""


def connect(data_dir: Path) -> sqlite3.Connection:
    """A connection to ``<data_dir>/vocabularies.sqlite3`` (created if missing), in WAL mode."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / DATABASE_FILE, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    return db


class SqliteVocabularyStore(VocabularyStoreBase):
    """The vocabulary table in ``<data_dir>/vocabularies.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._db = connect(data_dir)
        with self._lock:
            self._db.executescript(SCHEMA)

    def _row(self, sql: str, params: tuple) -> Any:  # a sqlite3.Row, or None
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def insert(self, name: str, language_code: str, file_uri: str, tags: Tags | None) -> Vocabulary:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM vocabularies").fetchone()
            if count >= MAX_VOCABULARIES:
                raise LimitExceededException(VOCABULARY_LIMIT)
            try:
                cursor = self._db.execute(
                    "INSERT INTO vocabularies (name, language_code, file_uri, state, last_modified_time, tags) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (name, language_code, file_uri, PENDING, time.time(), json.dumps(tags or [])),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(VOCABULARY_EXISTS) from None
            row = self._db.execute("SELECT * FROM vocabularies WHERE id=?", (cursor.lastrowid,)).fetchone()
        return Vocabulary.from_row(row)

    def get(self, name: str) -> Vocabulary | None:
        row = self._row("SELECT * FROM vocabularies WHERE name=?", (name,))
        return Vocabulary.from_row(row) if row else None

    def get_by_id(self, vocabulary_id: int) -> Vocabulary | None:
        row = self._row("SELECT * FROM vocabularies WHERE id=?", (vocabulary_id,))
        return Vocabulary.from_row(row) if row else None

    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM vocabularies WHERE name=?", (name,)).fetchone()
            if row is None:
                return None
            if row["state"] == PENDING:
                raise ConflictException(VOCABULARY_BUSY)
            self._db.execute(
                "UPDATE vocabularies SET language_code=?, file_uri=?, state=?, last_modified_time=?, "
                "failure_reason=NULL, entries=NULL WHERE id=?",
                (language_code, file_uri, PENDING, time.time(), row["id"]),
            )
            row = self._db.execute("SELECT * FROM vocabularies WHERE id=?", (row["id"],)).fetchone()
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
        with self._lock:
            cursor = self._db.execute(
                "UPDATE vocabularies SET state=?, failure_reason=?, entries=?, last_modified_time=? "
                "WHERE id=? AND file_uri=? AND state=?",
                (state, reason, entries_json(entries), time.time(), vocabulary_id, file_uri, PENDING),
            )
            return cursor.rowcount == 1

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM vocabularies WHERE name=?", (name,)).rowcount == 1

    def get_tags(self, name: str) -> Tags | None:
        return tags_of(self._row("SELECT tags FROM vocabularies WHERE name=?", (name,)))

    def set_tags(self, name: str, tags: Tags) -> None:
        with self._lock:
            self._db.execute("UPDATE vocabularies SET tags=? WHERE name=?", (json.dumps(tags), name))

    def list(
        self, state: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[Vocabulary], bool]:
        clauses, params = ["1=1"], builtins.list[str | int]()
        if state:
            clauses.append("state=?")
            params.append(state)
        if name_contains:
            clauses.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<?")
            params.append(after_id)
        query = f"SELECT * FROM vocabularies WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        return [Vocabulary.from_row(row) for row in rows[:limit]], len(rows) > limit

    def pending(self) -> builtins.list[Vocabulary]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM vocabularies WHERE state=? ORDER BY id", (PENDING,)
            ).fetchall()
        return [Vocabulary.from_row(row) for row in rows]
