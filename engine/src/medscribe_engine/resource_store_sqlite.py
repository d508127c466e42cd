"""The SQLite side of the vocabulary and vocabulary filter stores: ``<data-dir>/vocabularies.sqlite3``
(one per data directory, whatever file ``--store`` names for jobs), one connection and one lock per
store, and the insert under the quota (:class:`~medscribe_engine.resource_store.ResourceStoreBase`)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from medscribe_engine.exceptions import ConflictException, LimitExceededException
from medscribe_engine.resource_store import ResourceStoreBase
from medscribe_engine.store_sql import SQLITE

DATABASE_FILE = "vocabularies.sqlite3"


def connect(data_dir: Path) -> sqlite3.Connection:
    """A connection to ``<data_dir>/vocabularies.sqlite3`` (created if missing), in WAL mode."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / DATABASE_FILE, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    return db


class SqliteResourceStore(ResourceStoreBase):
    """A table of ``<data_dir>/vocabularies.sqlite3``, made by ``SCHEMA`` if missing; safe to share
    between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

    DIALECT = SQLITE
    SCHEMA: ClassVar[str]  # CREATE TABLE IF NOT EXISTS, run on opening

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._db = connect(data_dir)
        with self._lock:
            self._db.executescript(self.SCHEMA)

    def _row(self, sql: str, params: tuple) -> Any:  # a sqlite3.Row, or None
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple) -> list[Any]:  # sqlite3.Rows
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def _insert(self, values: Mapping[str, Any]) -> Any:  # a sqlite3.Row
        columns = [*values, "last_modified_time"]
        with self._lock:
            (count,) = self._db.execute(f"SELECT COUNT(*) FROM {self.TABLE}").fetchone()
            if count >= self.QUOTA:
                raise LimitExceededException(self.LIMIT_MESSAGE)
            try:
                cursor = self._db.execute(
                    f"INSERT INTO {self.TABLE} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    (*values.values(), time.time()),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(self.EXISTS_MESSAGE) from None
            return self._db.execute(f"SELECT * FROM {self.TABLE} WHERE id=?", (cursor.lastrowid,)).fetchone()
