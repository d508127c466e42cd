"""What every vocabulary filter store holds and answers: the filter row, and the store's interface with
what is the same in the SQLite store (one data directory) and the PostgreSQL store (the job store's
database, shared by replicas on many hosts); each implements ``update``.
:func:`medscribe_engine.store.open_resource_stores` picks one."""

from __future__ import annotations

import builtins
import json
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medscribe_engine.resource_store import ResourceStoreBase
from medscribe_engine.store_model import Tags
from medscribe_engine.store_sql import page, page_query

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


class VocabularyFilterStoreBase(ResourceStoreBase):
    """The vocabulary filter table the service, the workers and tagging use; safe to share between
    threads. ``data_dir`` is this process's data directory (the NextToken key). Words arrive checked.

    Raises ConflictException (a name in use) and LimitExceededException (past :data:`MAX_FILTERS`) with
    AWS's messages.
    """

    TABLE, QUOTA = "vocabulary_filters", MAX_FILTERS
    LIMIT_MESSAGE, EXISTS_MESSAGE = FILTER_LIMIT, FILTER_EXISTS

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
        row = self._insert(
            {
                "name": name,
                "language_code": language_code,
                "words": json.dumps(words),
                "file_uri": file_uri,
                "tags": json.dumps(tags or []),
                "data_access_role": role_arn,
            }
        )
        return VocabularyFilter.from_row(row)

    def get(self, name: str) -> VocabularyFilter | None:
        row = self._named(name)
        return VocabularyFilter.from_row(row) if row else None

    @abstractmethod
    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        """New words (and file URI; the role unless None); None when there is no filter of that name."""

    def list(
        self, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[VocabularyFilter], bool]:
        """Newest first; the page and whether more follow."""
        query = page_query(self.DIALECT, "vocabulary_filters", {}, name_contains, after_id, limit)
        return page(self._all(*query), limit, VocabularyFilter.from_row)
