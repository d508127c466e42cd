"""The PostgreSQL vocabulary store: the ``vocabularies`` table of the job store's database, on its
connection (:mod:`medscribe_engine.resource_store_postgres`). An update locks its row, so two replicas
never both restart a PENDING vocabulary. Times are the database's clock, as for jobs."""

from __future__ import annotations

from medscribe_engine.exceptions import ConflictException
from medscribe_engine.resource_store_postgres import PostgresResourceStore
from medscribe_engine.store_postgres import NOW
from medscribe_engine.vocabulary_store import PENDING, VOCABULARY_BUSY, Vocabulary, VocabularyStoreBase


class PostgresVocabularyStore(PostgresResourceStore, VocabularyStoreBase):
    """The vocabulary table in the PostgreSQL job store's database; safe to share between threads.

    :param jobs: the open job store whose connection (and migrated schema) this store uses.
    """

    QUOTA_LOCK = 0x766F6361  # pg_advisory_xact_lock key of the vocabulary quota ("voca")

    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary | None:
        with self.jobs.session() as db, db.transaction():
            row = db.execute("SELECT state FROM vocabularies WHERE name=%s FOR UPDATE", (name,)).fetchone()
            if row is None:
                return None
            if row["state"] == PENDING:
                raise ConflictException(VOCABULARY_BUSY)
            row = db.execute(
                f"UPDATE vocabularies SET language_code=%s, file_uri=%s, state=%s, last_modified_time={NOW}, "
                "failure_reason=NULL, entries=NULL WHERE name=%s RETURNING *",
                (language_code, file_uri, PENDING, name),
            ).fetchone()
        assert row is not None  # the row is locked: it is still there
        return Vocabulary.from_row(row)

    def _record_end(
        self, vocabulary_id: int, file_uri: str, state: str, reason: str | None, entries: str | None
    ) -> bool:
        changed = self._run(
            f"UPDATE vocabularies SET state=%s, failure_reason=%s, entries=%s, last_modified_time={NOW} "
            "WHERE id=%s AND file_uri=%s AND state=%s",
            (state, reason, entries, vocabulary_id, file_uri, PENDING),
        )
        return changed == 1
