"""The SQLite vocabulary store: the ``vocabularies`` table of ``<data-dir>/vocabularies.sqlite3`` (the
store of ``--store sqlite:///…``, the default). Vocabulary filters live in the same file
(:mod:`medscribe_engine.vocabulary_filter_store_sqlite`)."""

from __future__ import annotations

import time

from medscribe_engine.exceptions import ConflictException
from medscribe_engine.resource_store_sqlite import SqliteResourceStore
from medscribe_engine.vocabulary_store import PENDING, VOCABULARY_BUSY, Vocabulary, VocabularyStoreBase


class SqliteVocabularyStore(SqliteResourceStore, VocabularyStoreBase):
    """The vocabulary table in ``<data_dir>/vocabularies.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

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

    def _record_end(
        self, vocabulary_id: int, file_uri: str, state: str, reason: str | None, entries: str | None
    ) -> bool:
        changed = self._run(
            "UPDATE vocabularies SET state=?, failure_reason=?, entries=?, last_modified_time=? "
            "WHERE id=? AND file_uri=? AND state=?",
            (state, reason, entries, time.time(), vocabulary_id, file_uri, PENDING),
        )
        return changed == 1
