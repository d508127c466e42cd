"""The SQLite vocabulary filter store: the ``vocabulary_filters`` table of
``<data-dir>/vocabularies.sqlite3``, beside the vocabularies (the store of ``--store sqlite:///…``)."""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path

from medscribe_engine.resource_store_sqlite import SqliteResourceStore
from medscribe_engine.vocabulary_filter_store import VocabularyFilter, VocabularyFilterStoreBase

# data dirs made before the column existed
MIGRATIONS = {"data_access_role": "ALTER TABLE vocabulary_filters ADD COLUMN data_access_role TEXT"}


class SqliteVocabularyFilterStore(SqliteResourceStore, VocabularyFilterStoreBase):
    """The filter table in ``<data_dir>/vocabularies.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

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

    def __init__(self, data_dir: Path):
        super().__init__(data_dir)
        with self._lock:
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(vocabulary_filters)")}
            for column, statement in MIGRATIONS.items():
                if column not in columns:
                    self._db.execute(statement)

    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE vocabulary_filters SET words=?, file_uri=?, last_modified_time=?, "
                "data_access_role=coalesce(?, data_access_role) WHERE name=?",
                (json.dumps(words), file_uri, time.time(), role_arn, name),
            )
            if cursor.rowcount != 1:
                return None
            row = self._db.execute("SELECT * FROM vocabulary_filters WHERE name=?", (name,)).fetchone()
        return VocabularyFilter.from_row(row) if row else None
