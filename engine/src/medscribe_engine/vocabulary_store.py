"""What every vocabulary store holds and answers: the vocabulary row, its states, and the store's
interface with what is the same in the SQLite store (one data directory) and the PostgreSQL store (the
job store's database, shared by replicas on many hosts); each implements ``update`` and ``finish``'s
statement. :func:`medscribe_engine.store.open_resource_stores` picks one."""

from __future__ import annotations

import builtins
import json
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.resource_store import ResourceStoreBase
from medscribe_engine.store_model import Tags
from medscribe_engine.store_sql import page, page_query

PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
MAX_VOCABULARIES = 100
VOCABULARY_NOT_FOUND = (
    "The requested vocabulary couldn't be found. Check the vocabulary name and try your request again."
)
VOCABULARY_EXISTS = "The requested vocabulary name already exists. Use a different vocabulary name."
VOCABULARY_BUSY = (
    "The vocabulary is being processed. Wait until it is READY or FAILED and try your request again."
)
VOCABULARY_LIMIT = (
    f"You have reached the limit of {MAX_VOCABULARIES} custom vocabularies. Delete one and try your "
    "request again."
)


@dataclass
class Vocabulary:
    """One row of the vocabulary table."""

    id: int
    name: str
    language_code: str
    file_uri: str
    state: str
    last_modified_time: float
    failure_reason: str | None
    entries: list[VocabularyEntry]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Vocabulary:
        """A vocabulary from a row of either store (sqlite3.Row or a psycopg dict row)."""
        entries = [VocabularyEntry(**entry) for entry in json.loads(row["entries"] or "[]")]
        return cls(
            row["id"],
            row["name"],
            row["language_code"],
            row["file_uri"],
            row["state"],
            row["last_modified_time"],
            row["failure_reason"],
            entries,
        )


def entries_json(entries: list[VocabularyEntry] | None) -> str | None:
    """The ``entries`` column: the parsed entries as JSON (None: not processed yet, or FAILED)."""
    return json.dumps([asdict(entry) for entry in entries]) if entries is not None else None


class VocabularyStoreBase(ResourceStoreBase):
    """The vocabulary table the service, the processing thread and tagging use; safe to share between
    threads. ``data_dir`` is this process's data directory (the NextToken key).

    Raises ConflictException (a name in use, an update of a PENDING vocabulary) and
    LimitExceededException (past :data:`MAX_VOCABULARIES`) with AWS's messages.
    """

    TABLE, QUOTA = "vocabularies", MAX_VOCABULARIES
    LIMIT_MESSAGE, EXISTS_MESSAGE = VOCABULARY_LIMIT, VOCABULARY_EXISTS

    def insert(self, name: str, language_code: str, file_uri: str, tags: Tags | None) -> Vocabulary:
        """A new PENDING vocabulary."""
        values = {"name": name, "language_code": language_code, "file_uri": file_uri, "state": PENDING}
        return Vocabulary.from_row(self._insert({**values, "tags": json.dumps(tags or [])}))

    def get(self, name: str) -> Vocabulary | None:
        row = self._named(name)
        return Vocabulary.from_row(row) if row else None

    def get_by_id(self, vocabulary_id: int) -> Vocabulary | None:
        row = self._row(f"SELECT * FROM vocabularies WHERE id={self.DIALECT.param}", (vocabulary_id,))
        return Vocabulary.from_row(row) if row else None

    @abstractmethod
    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary | None:
        """The vocabulary PENDING again with a new file; None when there is none of that name."""

    def finish(
        self,
        vocabulary_id: int,
        file_uri: str,
        state: str,
        *,
        entries: builtins.list[VocabularyEntry] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Record the outcome of processing ``file_uri``; False if the vocabulary was deleted, updated or
        already finished meanwhile."""
        return self._record_end(vocabulary_id, file_uri, state, reason, entries_json(entries))

    @abstractmethod
    def _record_end(
        self, vocabulary_id: int, file_uri: str, state: str, reason: str | None, entries: str | None
    ) -> bool:
        """:meth:`finish`, with the entries as their column's JSON."""

    def list(
        self, state: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[Vocabulary], bool]:
        """Newest first; the page and whether more follow."""
        equal = {"state": state or None}
        query = page_query(self.DIALECT, "vocabularies", equal, name_contains, after_id, limit)
        return page(self._all(*query), limit, Vocabulary.from_row)

    def pending(self) -> builtins.list[Vocabulary]:
        """The PENDING vocabularies, oldest first (left so by a stopped run, or being processed)."""
        rows = self._all(
            f"SELECT * FROM vocabularies WHERE state={self.DIALECT.param} ORDER BY id", (PENDING,)
        )
        return [Vocabulary.from_row(row) for row in rows]
