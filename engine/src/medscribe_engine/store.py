"""The store: which one ``--store`` names, and the names the service and the workers use.

``sqlite:///PATH`` (the default, ``<data-dir>/jobs.sqlite3``): replicas on one host share the file
(:mod:`medscribe_engine.store_sqlite`). ``postgresql://USER:PASSWORD@HOST:PORT/DB``: replicas on many
hosts share the database, each with its own data directory (:mod:`medscribe_engine.store_postgres`).
Both implement :class:`~medscribe_engine.store_model.JobStoreBase`.

Vocabularies and vocabulary filters (with their tags) follow the job store (:func:`open_resource_stores`):
beside a SQLite job store they stay in ``<data-dir>/vocabularies.sqlite3``, as they always were; beside a
PostgreSQL one they are tables of the same database, on the job store's connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from medscribe_engine.pipeline.document import SCRIBE, TRANSCRIPTION
from medscribe_engine.store_model import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    MAX_QUEUED_JOBS,
    QUEUED,
    Job,
    JobStoreBase,
)
from medscribe_engine.store_postgres import PostgresJobStore
from medscribe_engine.store_sqlite import SCHEMA_VERSION, SqliteJobStore
from medscribe_engine.vocabulary_filter_store import VocabularyFilterStoreBase
from medscribe_engine.vocabulary_filter_store_postgres import PostgresVocabularyFilterStore
from medscribe_engine.vocabulary_filter_store_sqlite import SqliteVocabularyFilterStore
from medscribe_engine.vocabulary_store import VocabularyStoreBase
from medscribe_engine.vocabulary_store_postgres import PostgresVocabularyStore
from medscribe_engine.vocabulary_store_sqlite import SqliteVocabularyStore

__all__ = [
    "COMPLETED",
    "FAILED",
    "IN_PROGRESS",
    "MAX_QUEUED_JOBS",
    "QUEUED",
    "SCHEMA_VERSION",
    "SCRIBE",
    "STORE_ENV",
    "TRANSCRIPTION",
    "Job",
    "JobStore",
    "JobStoreBase",
    "PostgresJobStore",
    "ResourceStores",
    "SqliteJobStore",
    "describe_store",
    "open_resource_stores",
    "open_store",
    "redact",
    "store_url",
]

JobStore = SqliteJobStore  # the default store, by the name the engine has always used
STORE_ENV = "MEDSCRIBE_ENGINE_STORE"  # the store's URL when --store is not given
SCHEMES = ("sqlite", "postgresql", "postgres")


def store_url(value: str) -> str:
    """``value`` checked as a store URL (for argparse): ``sqlite:///PATH`` or ``postgresql://...``."""
    parts = urlsplit(value.strip())
    if parts.scheme not in SCHEMES:
        raise ValueError("expected sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    if parts.scheme == "sqlite" and (parts.netloc or not parts.path or parts.path.endswith("/")):
        raise ValueError("expected sqlite:///PATH: an absolute path to the database file")
    return value.strip()


def describe_store(url: str) -> str:
    """The store for a log line: scheme, host, port and database; never the user or the password."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"sqlite {parts.path}"
    return f"postgresql {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


def redact(url: str | None, text: str) -> str:
    """``text`` (an error message) with the store URL's password blanked out."""
    password = urlsplit(url).password if url else None
    return text.replace(password, "***") if password else text


def open_store(url: str | None, data_dir: Path, max_queued: int = MAX_QUEUED_JOBS) -> JobStoreBase:
    """The store ``url`` names (None: SQLite in ``data_dir``).

    :param url: ``sqlite:///PATH``, ``postgresql://...``, or None.
    :param data_dir: this process's data directory (scratch, the NextToken key).
    :param max_queued: the quota of QUEUED + IN_PROGRESS jobs.
    """
    if not url:
        return SqliteJobStore(data_dir, max_queued=max_queued)
    url = store_url(url)
    if url.startswith("sqlite:"):
        path = Path("/" + urlsplit(url).path.lstrip("/"))  # sqlite:///tmp/j.db and sqlite:////tmp/j.db alike
        return SqliteJobStore(data_dir, max_queued=max_queued, path=path)
    return PostgresJobStore(url, data_dir, max_queued=max_queued)


class ResourceStores(NamedTuple):
    """The stores of the resources other than jobs, beside a job store."""

    vocabularies: VocabularyStoreBase
    filters: VocabularyFilterStoreBase


def open_resource_stores(job_store: JobStoreBase) -> ResourceStores:
    """The vocabulary and vocabulary filter stores that go with ``job_store``: tables of its PostgreSQL
    database (on its connection, so close only the job store), else ``<data-dir>/vocabularies.sqlite3``.

    :param job_store: the open job store (:func:`open_store`).
    """
    if isinstance(job_store, PostgresJobStore):
        return ResourceStores(PostgresVocabularyStore(job_store), PostgresVocabularyFilterStore(job_store))
    return ResourceStores(
        SqliteVocabularyStore(job_store.data_dir), SqliteVocabularyFilterStore(job_store.data_dir)
    )
