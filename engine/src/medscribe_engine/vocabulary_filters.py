"""Custom vocabulary filters: words to remove, mask or tag in HealthScribe transcripts.

``CreateVocabularyFilter`` / ``UpdateVocabularyFilter`` take the words inline (``Words``) or from a text
file in S3 (``VocabularyFilterFileUri``, one word per line, UTF-8, at most 50 KB) - exactly one of the two.
Unlike vocabularies, filters have no state: the file is read during the request, and a file that can't
be read or used is a ``BadRequestException``. Words use the Transcribe character set for en-US (letters,
apostrophe, hyphen, period), one word each, shorter than 256 characters. They are stored in
``<data-dir>/vocabularies.sqlite3``, with the request's ``DataAccessRoleArn`` (kept and returned by
GetVocabularyFilter; the file is read with the engine's own S3 credentials, the role is not assumed).
Only names and counts are logged, never the words.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from medscribe_engine.exceptions import (
    BadRequestException,
    ConflictException,
    LimitExceededException,
    NotFoundException,
)

log = logging.getLogger("medscribe_engine")

MAX_FILE_BYTES = 50 * 1024
MAX_FILTERS = 100
DEFAULT_MAX_RESULTS = 5
WORD_RE = re.compile(r"[A-Za-z'.\-]{1,255}")
FILTER_NOT_FOUND = (
    "The requested vocabulary filter couldn't be found. Check the vocabulary filter name and try your "
    "request again."
)
FILTER_EXISTS = "The requested vocabulary filter name already exists. Use a different name."

SCHEMA = """
CREATE TABLE IF NOT EXISTS vocabulary_filters (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    language_code      TEXT NOT NULL,
    words              TEXT NOT NULL,
    file_uri           TEXT,
    last_modified_time REAL NOT NULL,
    tags               TEXT,
    data_access_role   TEXT
);
"""
# data dirs made before the column existed
MIGRATIONS = {"data_access_role": "ALTER TABLE vocabulary_filters ADD COLUMN data_access_role TEXT"}


@dataclass
class VocabularyFilter:
    id: int
    name: str
    language_code: str
    words: list[str]
    file_uri: str | None
    last_modified_time: float
    data_access_role_arn: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> VocabularyFilter:
        return cls(
            row["id"],
            row["name"],
            row["language_code"],
            json.loads(row["words"]),
            row["file_uri"],
            row["last_modified_time"],
            row["data_access_role"],
        )


def check_words(words: list[str]) -> list[str]:
    """The words, stripped and de-duplicated; BadRequestException for one outside the character set."""
    cleaned: list[str] = []
    for word in words:
        word = word.strip()
        if not word:
            continue
        if not WORD_RE.fullmatch(word):
            raise BadRequestException(
                "A word of the vocabulary filter has characters outside the character set for en-US "
                "(a-z, A-Z, apostrophe, hyphen, period), contains a space, or is 256 characters or longer."
            )
        if word not in cleaned:
            cleaned.append(word)
    if not cleaned:
        raise BadRequestException("The vocabulary filter has no words. Add at least one word.")
    return cleaned


def read_filter_file(s3_client, file_uri: str) -> list[str]:
    from medscribe_engine.pipeline.s3 import parse_media_uri

    location = parse_media_uri(file_uri)
    if location is None:
        raise BadRequestException("The VocabularyFilterFileUri is not a valid Amazon S3 URI.")
    try:
        data = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read(MAX_FILE_BYTES + 1)
    except Exception:
        raise BadRequestException(
            "The vocabulary filter file can't be accessed. Check the VocabularyFilterFileUri and that the file "
            "exists, then try your request again."
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise BadRequestException("The vocabulary filter file is larger than 50 KB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequestException("The vocabulary filter file isn't valid UTF-8 text.") from None
    return check_words(text.splitlines())


class VocabularyFilterBackend:
    """The five vocabulary filter operations over a SQLite table.

    :param data_dir: the engine's data directory.
    :param s3_client_factory: makes the S3 client filter files are read with.
    """

    def __init__(self, data_dir: Path, s3_client_factory):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._s3_factory = s3_client_factory
        self._s3 = None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            data_dir / "vocabularies.sqlite3", check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(vocabulary_filters)")}
            for column, statement in MIGRATIONS.items():
                if column not in columns:
                    self._db.execute(statement)

    def _words(self, words: list[str] | None, file_uri: str | None) -> list[str]:
        if words and not file_uri:
            return check_words(words)
        if file_uri and not words:
            if self._s3 is None:
                self._s3 = self._s3_factory()
            return read_filter_file(self._s3, file_uri)
        raise BadRequestException("Specify either Words or VocabularyFilterFileUri, but not both.")

    def _row(self, name: str):
        return self._db.execute("SELECT * FROM vocabulary_filters WHERE name=?", (name,)).fetchone()

    def create(self, name, language_code, words, file_uri, tags, role_arn=None) -> VocabularyFilter:
        """A new filter.

        :param name: VocabularyFilterName.
        :param language_code: LanguageCode (en-US only).
        :param words: Words, or None.
        :param file_uri: VocabularyFilterFileUri, or None.
        :param tags: Tags, or None.
        :param role_arn: DataAccessRoleArn, or None: stored and returned by Get, not assumed.
        """
        if language_code != "en-US":
            raise BadRequestException("The engine supports vocabulary filters for en-US only.")
        checked = self._words(words, file_uri)
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM vocabulary_filters").fetchone()
            if count >= MAX_FILTERS:
                raise LimitExceededException(
                    f"You have reached the limit of {MAX_FILTERS} vocabulary filters. Delete one and try again."
                )
            try:
                self._db.execute(
                    "INSERT INTO vocabulary_filters "
                    "(name, language_code, words, file_uri, last_modified_time, tags, data_access_role) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        language_code,
                        json.dumps(checked),
                        file_uri,
                        time.time(),
                        json.dumps(tags or []),
                        role_arn,
                    ),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(FILTER_EXISTS) from None
            row = self._row(name)
        log.info("vocabulary filter %s created: %d words", name, len(checked))
        return VocabularyFilter.from_row(row)

    def update(self, name, words, file_uri, role_arn=None) -> VocabularyFilter:
        """New words for an existing filter.

        :param name: VocabularyFilterName.
        :param words: Words, or None.
        :param file_uri: VocabularyFilterFileUri, or None.
        :param role_arn: DataAccessRoleArn, or None to keep the stored one.
        """
        with self._lock:
            if self._row(name) is None:
                raise NotFoundException(FILTER_NOT_FOUND)
        checked = self._words(words, file_uri)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE vocabulary_filters SET words=?, file_uri=?, last_modified_time=?, "
                "data_access_role=coalesce(?, data_access_role) WHERE name=?",
                (json.dumps(checked), file_uri, time.time(), role_arn, name),
            )
            if cursor.rowcount != 1:
                raise NotFoundException(FILTER_NOT_FOUND)
            row = self._row(name)
        log.info("vocabulary filter %s updated: %d words", name, len(checked))
        return VocabularyFilter.from_row(row)

    def get(self, name: str) -> VocabularyFilter:
        with self._lock:
            row = self._row(name)
        if row is None:
            raise NotFoundException(FILTER_NOT_FOUND)
        return VocabularyFilter.from_row(row)

    def delete(self, name: str) -> None:
        with self._lock:
            deleted = self._db.execute("DELETE FROM vocabulary_filters WHERE name=?", (name,)).rowcount
        if not deleted:
            raise NotFoundException(FILTER_NOT_FOUND)
        log.info("vocabulary filter %s deleted", name)

    def list(self, name_contains, next_token, max_results) -> tuple[list[VocabularyFilter], str | None]:
        from medscribe_engine.pagination import decode_token, encode_token

        listing = ("vocabulary-filters", name_contains)
        after = decode_token(next_token, listing, self.data_dir) if next_token else None
        clauses, params = ["1=1"], []
        if name_contains:
            clauses.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        if after is not None:
            clauses.append("id<?")
            params.append(after)
        limit = max_results or DEFAULT_MAX_RESULTS
        query = f"SELECT * FROM vocabulary_filters WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        items = [VocabularyFilter.from_row(row) for row in rows[:limit]]
        more = len(rows) > limit and items
        return items, (encode_token(items[-1].id, listing, self.data_dir) if more else None)

    def get_tags(self, name: str) -> builtins.list[dict] | None:
        with self._lock:
            row = self._row(name)
        return None if row is None else json.loads(row["tags"] or "[]")

    def set_tags(self, name: str, tags: builtins.list[dict]) -> None:
        with self._lock:
            self._db.execute("UPDATE vocabulary_filters SET tags=? WHERE name=?", (json.dumps(tags), name))

    def words_of(self, name: str) -> builtins.list[str]:
        """The words of an existing filter; BadRequestException when it does not exist."""
        with self._lock:
            row = self._row(name)
        if row is None:
            raise BadRequestException(FILTER_NOT_FOUND)
        return json.loads(row["words"])
