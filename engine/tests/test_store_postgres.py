"""The PostgreSQL job store against a real server: migrations, claims by exactly one replica (SKIP
LOCKED), leases that keep a live replica's jobs, the requeue of an expired lease's jobs, the fence on a
replica that lost its lease, a restarted replica resuming at once, the service operations, and the
vocabularies and vocabulary filters (with their tags) that every replica shares."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest
from postgres_helpers import fresh_database, start_postgres, stop_postgres

from medscribe_engine import store_migrations
from medscribe_engine.exceptions import (
    BadRequestException,
    ConflictException,
    LimitExceededException,
    NotFoundException,
)
from medscribe_engine.pagination import KEY_FILE, decode_token, encode_token
from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.store import (
    COMPLETED,
    IN_PROGRESS,
    QUEUED,
    SCRIBE,
    TRANSCRIPTION,
    open_resource_stores,
    open_store,
)
from medscribe_engine.store_migrations import LATEST_VERSION, SchemaVersionError, migrate
from medscribe_engine.store_postgres import PostgresJobStore
from medscribe_engine.tagging import TagService
from medscribe_engine.vocabularies import FAILED, PENDING, READY, VocabularyBackend
from medscribe_engine.vocabulary_filter_store_postgres import PostgresVocabularyFilterStore
from medscribe_engine.vocabulary_filters import VocabularyFilterBackend
from medscribe_engine.vocabulary_store import MAX_VOCABULARIES
from medscribe_engine.vocabulary_store_postgres import PostgresVocabularyStore

LEASE = {"lease_s": 1.0, "renew_s": 0.25}  # short, so expiry is seen in seconds

CLAIM_ALL = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from medscribe_engine.store_postgres import PostgresJobStore
    store = PostgresJobStore(sys.argv[1], Path(sys.argv[2]))
    Path(sys.argv[4]).touch()  # ready: imported and connected
    while not Path(sys.argv[3]).exists():  # start together
        time.sleep(0.01)
    claimed = []
    while (job := store.claim_next()) is not None:
        claimed.append(job.id)
    print(json.dumps(claimed))
""")

CLAIM_ONE_AND_DIE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from medscribe_engine.store_postgres import PostgresJobStore
    store = PostgresJobStore(sys.argv[1], Path(sys.argv[2]), lease_s=1.0, renew_s=0.25)
    job = store.claim_next()
    print(job.id, store.owner, flush=True)
    os._exit(0)  # like a crash (SIGKILL): no close(), the lease is simply no longer renewed
""")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield running
    stop_postgres(running)


@pytest.fixture
def url(server):
    return fresh_database(server)


@pytest.fixture
def stores(url, tmp_path):
    """Open stores on ``url``, each with its own data directory (replicas on different hosts)."""
    opened = []

    def make(name: str = "a", **options) -> PostgresJobStore:
        store = PostgresJobStore(url, tmp_path / name, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if not store._stopping.is_set():
            store.close()


def queue(store, count: int) -> list[int]:
    return [store.insert(SCRIBE, f"job-{n:04d}", {"n": n}).id for n in range(count)]


def wait_for(predicate, timeout: float = 10.0) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_migrations_are_applied_once_and_a_newer_schema_is_refused(url, stores):
    stores("a")
    stores("b")  # a second replica starting: nothing left to apply
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [row[0] for row in rows] == list(range(1, LATEST_VERSION + 1))
        assert migrate(db) == []
        db.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, 'future')", (99,))
        with pytest.raises(SchemaVersionError, match="version 99"):
            migrate(db)


def test_two_processes_never_claim_the_same_job(url, stores, tmp_path):
    ids = queue(stores("seed"), 200)
    go, ready = tmp_path / "go", [tmp_path / f"ready-{n}" for n in range(2)]
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_ALL, url, str(tmp_path / f"r{n}"), str(go), str(flag)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, flag in enumerate(ready)
    ]
    wait_for(lambda: all(flag.exists() for flag in ready), timeout=60)
    go.touch()
    claims = [json.loads(p.communicate(timeout=60)[0]) for p in replicas]
    assert all(p.returncode == 0 for p in replicas)
    first, second = (set(c) for c in claims)
    assert len(claims[0]) + len(claims[1]) == 200
    assert first.isdisjoint(second) and first | second == set(ids)
    assert first and second, "one process claimed everything: the race was not exercised"


def test_a_dead_replicas_jobs_are_queued_again_and_a_live_ones_are_not(url, stores, tmp_path):
    live = stores("live", **LEASE)
    queue(live, 3)
    running = live.claim_next()
    died = subprocess.run(
        [sys.executable, "-c", CLAIM_ONE_AND_DIE, url, str(tmp_path / "dead")],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_id, dead_owner = int(died.stdout.split()[0]), died.stdout.split()[1]
    assert live.get_by_id(dead_id).status == IN_PROGRESS
    seconds = wait_for(lambda: live.get_by_id(dead_id).status == QUEUED)  # by the lease thread, unasked
    assert seconds < LEASE["lease_s"] + 3 * LEASE["renew_s"] + 2
    assert not live.owner_alive(dead_owner)
    assert live.get_by_id(running.id).status == IN_PROGRESS  # the live replica's job stays its own
    assert live.claim_next().id == dead_id  # queued again ahead of the queued job
    time.sleep(3 * LEASE["lease_s"])  # many renewals later the live replica still holds both
    assert {live.get_by_id(i).status for i in (running.id, dead_id)} == {IN_PROGRESS}


def test_a_replica_that_lost_its_lease_cannot_record_the_end_of_a_job_taken_over(stores):
    paused, other = stores("paused", **LEASE), stores("other", **LEASE)
    (job_id,) = queue(paused, 1)
    assert paused.claim_next().id == job_id
    paused._stopping.set()  # a replica that stops renewing (a long pause, a network partition)
    paused._lease_thread.join()
    wait_for(lambda: other.get_by_id(job_id).status == QUEUED)
    assert other.claim_next().id == job_id
    assert paused.finish(job_id, COMPLETED, transcript_uri="s3://out/stale.json") is False
    assert paused.retry_later(job_id, 1.0) is False
    assert other.finish(job_id, COMPLETED, transcript_uri="s3://out/visit.json") is True
    job = other.get_by_id(job_id)
    assert (job.status, job.transcript_uri) == (COMPLETED, "s3://out/visit.json")
    paused._db.close()
    paused._lease_db.close()


def test_a_restarted_replica_resumes_its_jobs_at_once(url, stores, tmp_path):
    seed = stores("seed")
    (job_id,) = queue(seed, 1)
    died = subprocess.run(
        [sys.executable, "-c", CLAIM_ONE_AND_DIE, url, str(tmp_path / "replica")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(died.stdout.split()[0]) == job_id
    restarted = stores("replica")  # same data directory: the same replica, a new process
    assert restarted.owner.split(".")[0] == died.stdout.split()[1].split(".")[0]
    assert restarted.recover() == 1  # without waiting for the old lease to run out
    assert restarted.claim_next().id == job_id
    assert restarted.recover() == 0


def test_a_closed_store_gives_its_lease_up(stores):
    first, second = stores("first", **LEASE), stores("second", **LEASE)
    (job_id,) = queue(first, 1)
    first.claim_next()
    first.close()  # SIGTERM mid-job: the engine stops, the job stays IN_PROGRESS
    assert not second.owner_alive(first.owner)
    wait_for(lambda: second.get_by_id(job_id).status == QUEUED)
    assert second.claim_next().id == job_id


def test_service_operations(url, stores, tmp_path):
    store = stores("a", max_queued=3)
    first = store.insert(TRANSCRIPTION, "visit-Alpha", {"Tags": [{"Key": "k", "Value": "v"}]})
    assert (first.status, first.request["Tags"]) == (QUEUED, [{"Key": "k", "Value": "v"}])
    with pytest.raises(ConflictException):
        store.insert(TRANSCRIPTION, "visit-Alpha", {})
    store.insert(SCRIBE, "visit-Alpha", {})  # same name, other kind: allowed
    store.insert(TRANSCRIPTION, "visit-beta", {})
    with pytest.raises(LimitExceededException):
        store.insert(TRANSCRIPTION, "visit-gamma", {})
    page, more = store.list(TRANSCRIPTION, None, "ALPHA", None, 5)
    assert [job.name for job in page] == ["visit-Alpha"] and not more
    page, more = store.list(TRANSCRIPTION, QUEUED, None, None, 1)
    assert [job.name for job in page] == ["visit-beta"] and more
    page, more = store.list(TRANSCRIPTION, QUEUED, None, page[-1].id, 1)
    assert [job.name for job in page] == ["visit-Alpha"] and not more
    store.set_tags(TRANSCRIPTION, "visit-Alpha", [])
    assert "Tags" not in store.get(TRANSCRIPTION, "visit-Alpha").request
    claimed = store.claim_next()
    assert claimed.name == "visit-Alpha" and claimed.kind == TRANSCRIPTION
    assert store.retry_later(claimed.id, 30.0)
    again = store.get_by_id(claimed.id)
    assert (again.status, again.internal_failures, again.start_time) == (QUEUED, 1, None)
    assert store.claim_next().name == "visit-Alpha"  # the next one: the retry waits 30 s
    assert store.count_by_status() == {QUEUED: 2, IN_PROGRESS: 1}
    assert store.delete(SCRIBE, "visit-Alpha").name == "visit-Alpha"
    assert store.delete(SCRIBE, "visit-Alpha") is None and store.get(SCRIBE, "visit-Alpha") is None
    # a NextToken of one replica is accepted by another (the key is the store's, not the host's)
    other = open_store(url, tmp_path / "b")
    try:
        assert (tmp_path / "a" / KEY_FILE).read_bytes() == (tmp_path / "b" / KEY_FILE).read_bytes()
        token = encode_token(7, ("jobs",), tmp_path / "a")
        assert decode_token(token, ("jobs",), tmp_path / "b") == 7
    finally:
        other.close()


def test_a_dropped_connection_is_opened_again(url, stores):
    store, other = stores("a", **LEASE), stores("b", **LEASE)
    (job_id,) = queue(store, 1)
    sessions = [store._db.info.backend_pid, store._lease_db.info.backend_pid]
    with psycopg.connect(url, autocommit=True) as admin:  # the server ends both sessions of the store
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (sessions,))
    with pytest.raises(psycopg.OperationalError):
        store.get_by_id(job_id)  # the call that finds the connection gone fails (the worker retries)
    assert store.get_by_id(job_id).status == QUEUED  # the next one reconnects
    time.sleep(2 * LEASE["lease_s"])  # longer than a lease: alive only if the lease thread reconnected
    assert other.owner_alive(store.owner)
    assert store.claim_next().id == job_id


# -- vocabularies and vocabulary filters, shared by the replicas ----------------------------------------

ARN = "arn:aws:transcribe:us-east-1:123456789012:{}/{}"
VOCABULARY_FILE = b"Phrase\tIPA\tSoundsLike\tDisplayAs\nmetoprolol-succinate\t\t\tMetoprolol succinate\n"


class FakeS3:
    """The two calls the vocabulary and filter readers make, over files kept in memory."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def head_object(self, Bucket: str, Key: str) -> dict:
        return {"ContentLength": len(self.files[f"s3://{Bucket}/{Key}"])}

    def get_object(self, Bucket: str, Key: str) -> dict:
        return {"Body": io.BytesIO(self.files[f"s3://{Bucket}/{Key}"])}


def test_a_database_of_an_older_engine_gains_the_vocabulary_tables(url, monkeypatch):
    monkeypatch.setattr(store_migrations, "MIGRATIONS", store_migrations.MIGRATIONS[:2])
    monkeypatch.setattr(store_migrations, "LATEST_VERSION", 2)
    with psycopg.connect(url, autocommit=True) as db:
        assert migrate(db) == [1, 2]  # the schema an engine before vocabularies in the store made
        db.execute(
            "INSERT INTO jobs (kind, name, request, status, queue_order, creation_time) "
            "VALUES ('scribe', 'visit-old', '{}', 'QUEUED', 1, 1)"
        )
        monkeypatch.undo()
        assert migrate(db) == [3]
        assert db.execute("SELECT name FROM jobs").fetchall() == [("visit-old",)]
        assert db.execute("SELECT COUNT(*) FROM vocabularies").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM vocabulary_filters").fetchone() == (0,)


def test_a_vocabulary_made_on_one_replica_is_seen_tagged_and_deleted_on_another(stores):
    first, second = stores("a"), stores("b")
    files = {"s3://vocab/cardiology.txt": VOCABULARY_FILE, "s3://vocab/broken.txt": b"two words\n"}
    here, there = open_resource_stores(first), open_resource_stores(second)
    assert isinstance(here.vocabularies, PostgresVocabularyStore)
    vocabularies_a = VocabularyBackend(here.vocabularies, lambda: FakeS3(files))
    vocabularies_b = VocabularyBackend(there.vocabularies, lambda: FakeS3(files))
    tags_a = TagService(first, here.vocabularies, here.filters)
    tags_b = TagService(second, there.vocabularies, there.filters)
    vocabularies_a.start()  # replica a processes what it is asked to create
    try:
        created = vocabularies_a.create(
            "cardiology", "en-US", "s3://vocab/cardiology.txt", [{"Key": "team", "Value": "cardio"}]
        )
        assert created.state == PENDING
        wait_for(lambda: there.vocabularies.get("cardiology").state == READY)  # seen by replica b
        seen = vocabularies_b.get("cardiology")
        assert (seen.id, seen.language_code, seen.file_uri) == (
            created.id,
            "en-US",
            "s3://vocab/cardiology.txt",
        )
        assert vocabularies_b.ready_entries("cardiology") == [
            VocabularyEntry("metoprolol-succinate", None, None, "Metoprolol succinate")
        ]
        with pytest.raises(ConflictException):  # one name over all replicas
            vocabularies_b.create("cardiology", "en-US", "s3://vocab/cardiology.txt", None)
        vocabularies_b.create("renal", "en-US", "s3://vocab/broken.txt", None)  # b's thread is not running
        with pytest.raises(ConflictException):  # PENDING on b, so a may not update it either
            vocabularies_a.update("renal", "en-US", "s3://vocab/cardiology.txt")
        # listing on b, paged with a token made on a
        page, token = vocabularies_b.list(None, "CARDIO", None, 5)
        assert [v.name for v in page] == ["cardiology"] and token is None
        page, token = vocabularies_a.list(None, None, None, 1)
        assert [v.name for v in page] == ["renal"] and token
        page, token = vocabularies_b.list(None, None, token, 1)
        assert [v.name for v in page] == ["cardiology"] and token is None
        assert [v.name for v in vocabularies_b.list(READY, None, None, 5)[0]] == ["cardiology"]
        assert [v.name for v in there.vocabularies.pending()] == ["renal"]  # any replica may resume it
        # tags written on b are read on a, and the other way round
        arn = ARN.format("medical-vocabulary", "cardiology")
        tags_b.tag(arn, [{"Key": "site", "Value": "north"}])
        assert tags_a.list(arn) == [{"Key": "team", "Value": "cardio"}, {"Key": "site", "Value": "north"}]
        tags_a.untag(arn, ["team"])
        assert tags_b.list(arn) == [{"Key": "site", "Value": "north"}]
        # updated on a with a file that breaks the format: b sees the outcome
        vocabularies_a.update("cardiology", "en-US", "s3://vocab/broken.txt")
        wait_for(lambda: vocabularies_b.get("cardiology").state == FAILED)
        failed = vocabularies_b.get("cardiology")
        assert "character set" in failed.failure_reason and failed.entries == []
        # deleted on b: gone for a
        vocabularies_b.delete("cardiology")
        assert (
            here.vocabularies.get("cardiology") is None and here.vocabularies.get_tags("cardiology") is None
        )
        with pytest.raises(NotFoundException):
            vocabularies_a.get("cardiology")
        with pytest.raises(BadRequestException):
            vocabularies_a.ready_entries("cardiology")
        with pytest.raises(NotFoundException):
            tags_a.list(arn)
        with pytest.raises(NotFoundException):
            vocabularies_a.delete("cardiology")
        assert [v.name for v in vocabularies_a.list(None, None, None, 5)[0]] == ["renal"]
    finally:
        vocabularies_a.stop()


def test_the_vocabulary_quota_counts_every_replicas_vocabularies(stores):
    first, second = open_resource_stores(stores("a")), open_resource_stores(stores("b"))
    for n in range(MAX_VOCABULARIES):
        (first if n % 2 else second).vocabularies.insert(f"v{n:03d}", "en-US", "s3://vocab/v.txt", None)
    with pytest.raises(LimitExceededException):
        first.vocabularies.insert("one-too-many", "en-US", "s3://vocab/v.txt", None)
    assert second.vocabularies.delete("v000")
    assert first.vocabularies.insert("one-more", "en-US", "s3://vocab/v.txt", None).state == PENDING


def test_a_filter_made_on_one_replica_is_used_tagged_and_deleted_on_another(stores):
    first, second = stores("a"), stores("b")
    here, there = open_resource_stores(first), open_resource_stores(second)
    assert isinstance(there.filters, PostgresVocabularyFilterStore)
    files = {"s3://filters/words.txt": b"darn\nheck\n"}
    filters_a = VocabularyFilterBackend(here.filters, lambda: FakeS3(files))
    filters_b = VocabularyFilterBackend(there.filters, lambda: FakeS3(files))
    tags_a = TagService(first, here.vocabularies, here.filters)
    tags_b = TagService(second, there.vocabularies, there.filters)
    role = "arn:aws:iam::123456789012:role/filter-reader"
    made = filters_a.create("profanity", "en-US", ["shoot", "dang"], None, [{"Key": "k", "Value": "v"}], role)
    seen = filters_b.get("profanity")
    assert (seen.id, seen.words, seen.file_uri, seen.data_access_role_arn) == (
        made.id,
        ["shoot", "dang"],
        None,
        role,
    )
    assert filters_b.words_of("profanity") == ["shoot", "dang"]
    with pytest.raises(ConflictException):
        filters_b.create("profanity", "en-US", ["other"], None, None)
    filters_b.create("mild", "en-US", None, "s3://filters/words.txt", None)
    # an update on b, seen on a (the role kept when the update names none)
    filters_b.update("profanity", None, "s3://filters/words.txt")
    updated = filters_a.get("profanity")
    assert (updated.words, updated.file_uri, updated.data_access_role_arn) == (
        ["darn", "heck"],
        "s3://filters/words.txt",
        role,
    )
    # listing on a, paged with a token made on b
    page, token = filters_b.list(None, None, 1)
    assert [f.name for f in page] == ["mild"] and token
    page, token = filters_a.list(None, token, 1)
    assert [f.name for f in page] == ["profanity"] and token is None
    assert [f.name for f in filters_a.list("PROF", None, 5)[0]] == ["profanity"]
    # tags
    arn = ARN.format("vocabulary-filter", "profanity")
    tags_b.tag(arn, [{"Key": "k", "Value": "new"}, {"Key": "site", "Value": "north"}])
    assert tags_a.list(arn) == [{"Key": "k", "Value": "new"}, {"Key": "site", "Value": "north"}]
    tags_a.untag(arn, ["k"])
    assert there.filters.get_tags("profanity") == [{"Key": "site", "Value": "north"}]
    # deleted on a: gone for b
    filters_a.delete("profanity")
    with pytest.raises(NotFoundException):
        filters_b.get("profanity")
    with pytest.raises(BadRequestException):
        filters_b.words_of("profanity")
    with pytest.raises(NotFoundException):
        filters_b.update("profanity", ["x"], None)
    with pytest.raises(NotFoundException):
        tags_b.list(arn)
    assert [f.name for f in filters_b.list(None, None, 5)[0]] == ["mild"]


def test_the_vocabularies_use_the_job_stores_connection_through_a_drop(url, stores):
    store = stores("a")
    resources = open_resource_stores(store)
    resources.filters.insert("kept", "en-US", ["word"], None, None, None)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store._db.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        resources.filters.get("kept")  # the call that finds the connection gone fails
    assert resources.filters.get("kept").words == ["word"]  # the next one reconnects
    assert resources.vocabularies.list(None, None, None, 5) == ([], False)
