"""``--store`` and ``$MEDSCRIBE_ENGINE_STORE``: which store a URL opens, what is refused, and that the
log's description of a store never carries its user or password."""

from __future__ import annotations

import pytest

from medscribe_engine.server import parse_args
from medscribe_engine.store import (
    STORE_ENV,
    describe_store,
    open_resource_stores,
    open_store,
    redact,
    store_url,
)
from medscribe_engine.store_sqlite import SqliteJobStore
from medscribe_engine.vocabulary_filter_store_sqlite import SqliteVocabularyFilterStore
from medscribe_engine.vocabulary_store_sqlite import SqliteVocabularyStore

SECRET_URL = "postgresql://engine:s3cret-pw@db.example:6432/medscribe_engine"


def test_the_default_store_is_sqlite_in_the_data_dir(tmp_path):
    store = open_store(None, tmp_path / "data")
    assert isinstance(store, SqliteJobStore) and store.path == tmp_path / "data" / "jobs.sqlite3"
    assert store.insert("scribe", "visit-1", {}).status == "QUEUED"


def test_a_sqlite_url_names_the_database_file(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/shared/engine.db", tmp_path / "data")
    store.insert("scribe", "visit-1", {})
    assert (tmp_path / "shared" / "engine.db").exists() and not (tmp_path / "data" / "jobs.sqlite3").exists()
    assert store.owners_dir == tmp_path / "shared" / "owners"  # liveness beside the database it guards
    assert store.data_dir == tmp_path / "data"  # scratch and the NextToken key stay local


def test_beside_a_sqlite_store_vocabularies_and_filters_stay_in_the_data_dir(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/shared/engine.db", tmp_path / "data")
    vocabularies, filters = open_resource_stores(store)
    assert isinstance(vocabularies, SqliteVocabularyStore) and isinstance(
        filters, SqliteVocabularyFilterStore
    )
    vocabularies.insert("cardiology", "en-US", "s3://vocab/c.txt", [{"Key": "k", "Value": "v"}])
    filters.insert("profanity", "en-US", ["darn"], None, None, None)
    again_vocabularies, again_filters = open_resource_stores(open_store(None, tmp_path / "data"))
    assert again_vocabularies.get_tags("cardiology") == [{"Key": "k", "Value": "v"}]
    assert again_filters.get("profanity").words == ["darn"]
    assert (tmp_path / "data" / "vocabularies.sqlite3").exists()
    assert not (tmp_path / "shared" / "vocabularies.sqlite3").exists()


@pytest.mark.parametrize("bad", ["mysql://x/y", "sqlite://relative/db", "sqlite:///dir/", "jobs.sqlite3"])
def test_other_urls_are_refused(bad):
    with pytest.raises(ValueError):
        store_url(bad)
    with pytest.raises(SystemExit):
        parse_args(["--port", "1", "--data-dir", "d", "--store", bad])


def test_the_option_falls_back_to_the_environment(monkeypatch):
    assert (
        parse_args(["--port", "1", "--data-dir", "d"]).store is None or STORE_ENV in __import__("os").environ
    )
    monkeypatch.setenv(STORE_ENV, SECRET_URL)
    assert parse_args(["--port", "1", "--data-dir", "d"]).store == SECRET_URL
    assert parse_args(["--port", "1", "--data-dir", "d", "--store", "sqlite:///tmp/j.db"]).store == (
        "sqlite:///tmp/j.db"
    )


def test_the_description_and_errors_carry_no_credentials():
    assert describe_store(SECRET_URL) == "postgresql db.example:6432/medscribe_engine"
    assert (
        redact(SECRET_URL, 'password for "engine" s3cret-pw refused') == 'password for "engine" *** refused'
    )
