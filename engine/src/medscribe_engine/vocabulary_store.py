"""What every vocabulary store holds and answers: the vocabulary row, its states, and the interface that
the SQLite store (one data directory) and the PostgreSQL store (the job store's database, shared by
replicas on many hosts) both implement. :func:`medscribe_engine.store.open_resource_stores` picks one."""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.store_model import Tags

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


def tags_of(row: Mapping[str, Any] | None) -> Tags | None:
    """The Tags of a row's ``tags`` column; None when there is no row."""
    return None if row is None else json.loads(row["tags"] or "[]")


class VocabularyStoreBase(ABC):
    """The vocabulary table the service, the processing thread and tagging use; safe to share between
    threads. ``data_dir`` is this process's data directory (the NextToken key).

    Raises ConflictException (a name in use, an update of a PENDING vocabulary) and
    LimitExceededException (past :data:`MAX_VOCABULARIES`) with AWS's messages.
    """

    data_dir: Path

    @abstractmethod
    def insert(self, name: str, language_code: str, file_uri: str, tags: Tags | None) -> Vocabulary:
        """A new PENDING vocabulary."""

    @abstractmethod
    def get(self, name: str) -> Vocabulary | None: ...

    @abstractmethod
    def get_by_id(self, vocabulary_id: int) -> Vocabulary | None: ...

    @abstractmethod
    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary | None:
        """The vocabulary PENDING again with a new file; None when there is none of that name."""

    @abstractmethod
    def finish(
        self,
        vocabulary_id: int,
        file_uri: str,
        state: str,
        *,
        entries: list[VocabularyEntry] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Record the outcome of processing ``file_uri``; False if the vocabulary was deleted, updated or
        already finished meanwhile."""

    @abstractmethod
    def delete(self, name: str) -> bool:
        """Remove a vocabulary; False if there was none."""

    @abstractmethod
    def get_tags(self, name: str) -> Tags | None:
        """The vocabulary's Tags; None when there is no vocabulary of that name."""

    @abstractmethod
    def set_tags(self, name: str, tags: Tags) -> None: ...

    @abstractmethod
    def list(
        self, state: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[builtins.list[Vocabulary], bool]:
        """Newest first; the page and whether more follow."""

    @abstractmethod
    def pending(self) -> builtins.list[Vocabulary]:
        """The PENDING vocabularies, oldest first (left so by a stopped run, or being processed)."""
