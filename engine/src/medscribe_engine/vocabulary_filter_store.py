"""What every vocabulary filter store holds and answers: the filter row and the interface that the
SQLite store (one data directory) and the PostgreSQL store (the job store's database, shared by replicas
on many hosts) both implement. :func:`medscribe_engine.store.open_resource_stores` picks one."""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medscribe_engine.vocabulary_store import Tags

MAX_FILTERS = 100
FILTER_NOT_FOUND = (
    "The requested vocabulary filter couldn't be found. Check the vocabulary filter name and try your "
    "request again."
)
FILTER_EXISTS = "The requested vocabulary filter name already exists. Use a different name."
FILTER_LIMIT = f"You have reached the limit of {MAX_FILTERS} vocabulary filters. Delete one and try again."


@dataclass
class VocabularyFilter:
    """One row of the vocabulary filter table."""

    id: int
    name: str
    language_code: str
    words: list[str]
    file_uri: str | None
    last_modified_time: float
    data_access_role_arn: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VocabularyFilter:
        """A filter from a row of either store (sqlite3.Row or a psycopg dict row)."""
        return cls(
            row["id"],
            row["name"],
            row["language_code"],
            json.loads(row["words"]),
            row["file_uri"],
            row["last_modified_time"],
            row["data_access_role"],
        )


class VocabularyFilterStoreBase(ABC):
    """The vocabulary filter table the service, the workers and tagging use; safe to share between
    threads. ``data_dir`` is this process's data directory (the NextToken key). Words arrive checked.

    Raises ConflictException (a name in use) and LimitExceededException (past :data:`MAX_FILTERS`) with
    AWS's messages.
    """

    data_dir: Path

    @abstractmethod
    def insert(
        self,
        name: str,
        language_code: str,
        words: builtins.list[str],
        file_uri: str | None,
        tags: Tags | None,
        role_arn: str | None,
    ) -> VocabularyFilter:
        """A new filter."""

    @abstractmethod
    def get(self, name: str) -> VocabularyFilter | None: ...

    @abstractmethod
    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        """New words (and file URI; the role unless None); None when there is no filter of that name."""

    @abstractmethod
    def delete(self, name: str) -> bool:
        """Remove a filter; False if there was none."""

    @abstractmethod
    def list(
        self, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[VocabularyFilter], bool]:
        """Newest first; the page and whether more follow."""

    @abstractmethod
    def get_tags(self, name: str) -> Tags | None:
        """The filter's Tags; None when there is no filter of that name."""

    @abstractmethod
    def set_tags(self, name: str, tags: Tags) -> None: ...
