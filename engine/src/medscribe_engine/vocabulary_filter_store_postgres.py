"""The PostgreSQL vocabulary filter store: the ``vocabulary_filters`` table of the job store's database,
on its connection (:mod:`medscribe_engine.resource_store_postgres`). Times are the database's clock, as
for jobs."""

from __future__ import annotations

import builtins
import json

from medscribe_engine.resource_store_postgres import PostgresResourceStore
from medscribe_engine.store_postgres import NOW
from medscribe_engine.vocabulary_filter_store import VocabularyFilter, VocabularyFilterStoreBase


class PostgresVocabularyFilterStore(PostgresResourceStore, VocabularyFilterStoreBase):
    """The filter table in the PostgreSQL job store's database; safe to share between threads.

    :param jobs: the open job store whose connection (and migrated schema) this store uses.
    """

    QUOTA_LOCK = 0x76666C74  # pg_advisory_xact_lock key of the filter quota ("vflt")

    def update(
        self, name: str, words: builtins.list[str], file_uri: str | None, role_arn: str | None
    ) -> VocabularyFilter | None:
        row = self._row(
            f"UPDATE vocabulary_filters SET words=%s, file_uri=%s, last_modified_time={NOW}, "
            "data_access_role=coalesce(%s, data_access_role) WHERE name=%s RETURNING *",
            (json.dumps(words), file_uri, role_arn, name),
        )
        return VocabularyFilter.from_row(row) if row else None
