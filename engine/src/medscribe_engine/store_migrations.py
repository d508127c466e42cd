"""Versioned schema of the PostgreSQL job store: numbered migrations, applied once each, in order.

``schema_migrations`` records each version applied (and when). Replicas starting together apply them
under one advisory lock, so exactly one does the work; a database migrated by a newer engine (a version
this one does not know) is refused rather than written with the wrong schema. A migration is only ever
added, never edited: a change to a released table is a new, higher version.
"""

from __future__ import annotations

import logging

from psycopg.rows import tuple_row

log = logging.getLogger("medscribe_engine")

MIGRATION_LOCK = 0x6D656473  # pg_advisory_xact_lock key of schema changes ("meds")

# (version, what it does, SQL); times are seconds since the epoch on the database's clock
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "jobs, and the leases of the replicas that claim them",
        """
        CREATE TABLE jobs (
            id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind                  TEXT NOT NULL,
            name                  TEXT NOT NULL,
            request               TEXT NOT NULL,
            status                TEXT NOT NULL,
            queue_order           DOUBLE PRECISION NOT NULL,
            creation_time         DOUBLE PRECISION NOT NULL,
            start_time            DOUBLE PRECISION,
            completion_time       DOUBLE PRECISION,
            failure_reason        TEXT,
            transcript_uri        TEXT,
            clinical_document_uri TEXT,
            media_format          TEXT,
            media_sample_rate     INTEGER,
            internal_failures     INTEGER NOT NULL DEFAULT 0,
            retry_at              DOUBLE PRECISION,
            owner                 TEXT,
            UNIQUE (kind, name)
        );
        CREATE INDEX jobs_queue ON jobs (status, queue_order, id);
        CREATE INDEX jobs_owner ON jobs (owner) WHERE status = 'IN_PROGRESS';
        CREATE TABLE replicas (
            owner         TEXT PRIMARY KEY,
            host          TEXT NOT NULL,
            started       DOUBLE PRECISION NOT NULL,
            lease_expires DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    (
        2,
        "settings shared by the replicas (the NextToken key)",
        "CREATE TABLE settings (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
    ),
    (
        3,
        "custom vocabularies and vocabulary filters, with their tags",
        """
        CREATE TABLE vocabularies (
            id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name               TEXT NOT NULL UNIQUE,
            language_code      TEXT NOT NULL,
            file_uri           TEXT NOT NULL,
            state              TEXT NOT NULL,
            last_modified_time DOUBLE PRECISION NOT NULL,
            failure_reason     TEXT,
            entries            TEXT,
            tags               TEXT
        );
        CREATE INDEX vocabularies_pending ON vocabularies (id) WHERE state = 'PENDING';
        CREATE TABLE vocabulary_filters (
            id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name               TEXT NOT NULL UNIQUE,
            language_code      TEXT NOT NULL,
            words              TEXT NOT NULL,
            file_uri           TEXT,
            last_modified_time DOUBLE PRECISION NOT NULL,
            tags               TEXT,
            data_access_role   TEXT
        );
        """,
    ),
)
LATEST_VERSION = MIGRATIONS[-1][0]


class SchemaVersionError(RuntimeError):
    """The database was migrated by a newer engine than this one."""


def migrate(connection) -> list[int]:
    """Apply the migrations ``connection``'s database lacks, in one transaction; the versions applied.

    :param connection: a psycopg connection in autocommit mode.
    """
    with connection.transaction(), connection.cursor(row_factory=tuple_row) as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in cursor.execute("SELECT version FROM schema_migrations")}
        if applied and max(applied) > LATEST_VERSION:
            raise SchemaVersionError(
                f"the job store's schema is at version {max(applied)}, newer than this engine's "
                f"{LATEST_VERSION}: upgrade the engine"
            )
        done = []
        for version, description, sql in MIGRATIONS:
            if version in applied:
                continue
            cursor.execute(sql)
            cursor.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)", (version, description)
            )
            done.append(version)
    if done:
        log.info("job store schema migrated to version %d (applied %s)", LATEST_VERSION, done)
    return done
