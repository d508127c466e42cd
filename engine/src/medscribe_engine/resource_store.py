"""What the vocabulary and vocabulary filter stores share, in either dialect: a table of resources with a
unique ``name``, their ``tags`` and a ``last_modified_time``, counted against a quota.

:class:`ResourceStoreBase` runs the statements that are the same for both tables and both dialects; the
SQLite and PostgreSQL stores (:mod:`medscribe_engine.resource_store_sqlite`,
:mod:`medscribe_engine.resource_store_postgres`) say how a statement runs and how a row is inserted.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from medscribe_engine.store_model import Tags
from medscribe_engine.store_sql import Dialect

Row = Mapping[str, Any]  # a sqlite3.Row or a psycopg dict row


def tags_of(row: Row | None) -> Tags | None:
    """The Tags of a row's ``tags`` column; None when there is no row."""
    return None if row is None else json.loads(row["tags"] or "[]")


class ResourceStoreBase(ABC):
    """A table of named, tagged resources; safe to share between threads. ``data_dir`` is this process's
    data directory (the NextToken key). The vocabulary and filter stores name the ``TABLE``, quota and
    AWS messages; the SQLite and PostgreSQL ones the ``DIALECT`` and how a statement runs.
    """

    data_dir: Path
    DIALECT: ClassVar[Dialect]
    TABLE: ClassVar[str]
    QUOTA: ClassVar[int]
    LIMIT_MESSAGE: ClassVar[str]  # LimitExceededException's, past the quota
    EXISTS_MESSAGE: ClassVar[str]  # ConflictException's, for a name in use

    @abstractmethod
    def _row(self, sql: str, params: tuple) -> Any:
        """The first row the query answers (a :data:`Row`), or None."""

    @abstractmethod
    def _all(self, sql: str, params: tuple) -> list[Any]:
        """The rows the query answers."""

    @abstractmethod
    def _run(self, sql: str, params: tuple) -> int:
        """Run a statement that changes rows; how many it changed."""

    @abstractmethod
    def _insert(self, values: Mapping[str, Any]) -> Row:
        """Insert a row of ``values``, modified now; the row as stored. ConflictException for a name in
        use, LimitExceededException past the quota (the count and the insert are one step)."""

    def _named(self, name: str) -> Row | None:
        """The row of that name, or None."""
        return self._row(f"SELECT * FROM {self.TABLE} WHERE name={self.DIALECT.param}", (name,))

    def delete(self, name: str) -> bool:
        """Remove the resource; False if there was none."""
        return self._run(f"DELETE FROM {self.TABLE} WHERE name={self.DIALECT.param}", (name,)) == 1

    def get_tags(self, name: str) -> Tags | None:
        """The resource's Tags; None when there is none of that name."""
        p = self.DIALECT.param
        return tags_of(self._row(f"SELECT tags FROM {self.TABLE} WHERE name={p}", (name,)))

    def set_tags(self, name: str, tags: Tags) -> None:
        p = self.DIALECT.param
        self._run(f"UPDATE {self.TABLE} SET tags={p} WHERE name={p}", (json.dumps(tags), name))
