"""Custom medical vocabularies: the file format, a durable store, and the service operations.

A vocabulary file is read from S3 (``VocabularyFileUri``) right after Create/Update, in a background
thread: PENDING -> READY, or FAILED with a FailureReason (the file can't be read, is too large, is not
UTF-8, or breaks the format). Two formats are accepted:

* AWS's table: a header row naming the four columns ``Phrase``, ``IPA``, ``SoundsLike``, ``DisplayAs``
  (any order), then one row per entry, columns separated by a single tab. ``Phrase`` is required; words
  of a phrase are joined by hyphens (``blood-pressure``); ``IPA`` and ``SoundsLike`` exclude each other.
* A list: one phrase per line (no tabs).

Phrases and SoundsLike use AWS's Transcribe Medical character set (a-z, A-Z, apostrophe, hyphen,
period); entries are shorter than 256 characters and the file at most 50 KB. Only names, states, counts
and sizes are logged: never phrases, keys or URIs.
"""

from __future__ import annotations

import builtins
import json
import logging
import queue
import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from medscribe_engine.exceptions import BadRequestException, ConflictException, NotFoundException
from medscribe_engine.pipeline.document import VocabularyEntry

log = logging.getLogger("medscribe_engine")

PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
COLUMNS = ("Phrase", "IPA", "SoundsLike", "DisplayAs")
MAX_FILE_BYTES = 50 * 1024
MAX_ENTRY_CHARS = 256
MAX_VOCABULARIES = 100
DEFAULT_MAX_RESULTS = 5
PHRASE_RE = re.compile(r"[A-Za-z'.\-]+")
VOCABULARY_NOT_FOUND = (
    "The requested vocabulary couldn't be found. Check the vocabulary name and try your request again."
)
VOCABULARY_EXISTS = "The requested vocabulary name already exists. Use a different vocabulary name."

SCHEMA = """
CREATE TABLE IF NOT EXISTS vocabularies (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    language_code      TEXT NOT NULL,
    file_uri           TEXT NOT NULL,
    state              TEXT NOT NULL,
    last_modified_time REAL NOT NULL,
    failure_reason     TEXT,
    entries            TEXT,
    tags               TEXT
);
"""


class VocabularyFormatError(Exception):
    """The vocabulary file can't be used; ``reason`` becomes the FailureReason (no file content)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _check_phrase(value: str, column: str, line: int) -> None:
    if len(value) >= MAX_ENTRY_CHARS:
        raise VocabularyFormatError(
            f"The vocabulary file has an entry of {MAX_ENTRY_CHARS} characters or more on line {line}. "
            "Shorten it and try your request again."
        )
    if not PHRASE_RE.fullmatch(value):
        raise VocabularyFormatError(
            f"The {column} on line {line} of the vocabulary file has characters outside the character set "
            "for Amazon Transcribe Medical (a-z, A-Z, apostrophe, hyphen, period). Spell out numbers and "
            "use hyphens between words."
        )


def parse_vocabulary(data: bytes) -> list[VocabularyEntry]:
    """The entries of a vocabulary file (table or list); :class:`VocabularyFormatError` when unusable."""
    if len(data) > MAX_FILE_BYTES:
        raise VocabularyFormatError(
            f"The vocabulary file is larger than {MAX_FILE_BYTES // 1024} KB. Make it smaller and try your "
            "request again."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VocabularyFormatError(
            "The vocabulary file isn't valid UTF-8 text. Save it as UTF-8 and try your request again."
        ) from None
    lines = [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), 1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    if not lines:
        raise VocabularyFormatError("The vocabulary file is empty. Add at least one phrase and try again.")
    first = lines[0][1]
    entries = _parse_table(lines) if "\t" in first or first.strip() in COLUMNS else _parse_list(lines)
    if not entries:
        raise VocabularyFormatError(
            "The vocabulary file has no entries. Add at least one phrase and try again."
        )
    return entries


def _parse_table(lines: list[tuple[int, str]]) -> list[VocabularyEntry]:
    header = lines[0][1].split("\t")
    if sorted(header) != sorted(COLUMNS):
        raise VocabularyFormatError(
            "The vocabulary file's header row must name the four columns Phrase, IPA, SoundsLike and "
            "DisplayAs, separated by single tab characters."
        )
    entries: list[VocabularyEntry] = []
    for number, line in lines[1:]:
        values = line.split("\t")
        if len(values) != len(header):
            raise VocabularyFormatError(
                f"Line {number} of the vocabulary file doesn't have exactly four tab-separated columns. "
                "Separate the columns with a single tab character and keep empty columns."
            )
        row = dict(zip(header, values, strict=True))
        if any(value != value.strip() for value in row.values()):
            raise VocabularyFormatError(
                f"Line {number} of the vocabulary file has spaces around a value. Remove them and try again."
            )
        phrase = row["Phrase"]
        if not phrase:
            raise VocabularyFormatError(f"Line {number} of the vocabulary file has no Phrase.")
        _check_phrase(phrase, "Phrase", number)
        if row["SoundsLike"]:
            _check_phrase(row["SoundsLike"], "SoundsLike", number)
        if row["IPA"] and row["SoundsLike"]:
            raise VocabularyFormatError(
                f"Line {number} of the vocabulary file has both IPA and SoundsLike. Use one of them."
            )
        if len(row["DisplayAs"]) >= MAX_ENTRY_CHARS or len(row["IPA"]) >= MAX_ENTRY_CHARS:
            raise VocabularyFormatError(
                f"The vocabulary file has an entry of {MAX_ENTRY_CHARS} characters or more on line {number}."
            )
        entries.append(
            VocabularyEntry(phrase, row["IPA"] or None, row["SoundsLike"] or None, row["DisplayAs"] or None)
        )
    return entries


def _parse_list(lines: list[tuple[int, str]]) -> list[VocabularyEntry]:
    entries = []
    for number, line in lines:
        phrase = line.strip()
        _check_phrase(phrase, "phrase", number)
        entries.append(VocabularyEntry(phrase))
    return entries


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
    def from_row(cls, row: sqlite3.Row) -> Vocabulary:
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


class VocabularyStore:
    """The vocabulary table in ``<data_dir>/vocabularies.sqlite3``; safe to share between threads.

    :param data_dir: the engine's data directory.
    """

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            data_dir / "vocabularies.sqlite3", check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def insert(self, name: str, language_code: str, file_uri: str, tags: list | None) -> Vocabulary:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM vocabularies").fetchone()
            if count >= MAX_VOCABULARIES:
                from medscribe_engine.exceptions import LimitExceededException

                raise LimitExceededException(
                    f"You have reached the limit of {MAX_VOCABULARIES} custom vocabularies. Delete one and "
                    "try your request again."
                )
            try:
                cursor = self._db.execute(
                    "INSERT INTO vocabularies (name, language_code, file_uri, state, last_modified_time, tags) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (name, language_code, file_uri, PENDING, time.time(), json.dumps(tags or [])),
                )
            except sqlite3.IntegrityError:
                raise ConflictException(VOCABULARY_EXISTS) from None
            row = self._db.execute("SELECT * FROM vocabularies WHERE id=?", (cursor.lastrowid,)).fetchone()
        return Vocabulary.from_row(row)

    def get(self, name: str) -> Vocabulary | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM vocabularies WHERE name=?", (name,)).fetchone()
        return Vocabulary.from_row(row) if row else None

    def get_by_id(self, vocabulary_id: int) -> Vocabulary | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM vocabularies WHERE id=?", (vocabulary_id,)).fetchone()
        return Vocabulary.from_row(row) if row else None

    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary:
        with self._lock:
            row = self._db.execute("SELECT * FROM vocabularies WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundException(VOCABULARY_NOT_FOUND)
            if row["state"] == PENDING:
                raise ConflictException(
                    "The vocabulary is being processed. Wait until it is READY or FAILED and try your "
                    "request again."
                )
            self._db.execute(
                "UPDATE vocabularies SET language_code=?, file_uri=?, state=?, last_modified_time=?, "
                "failure_reason=NULL, entries=NULL WHERE id=?",
                (language_code, file_uri, PENDING, time.time(), row["id"]),
            )
            row = self._db.execute("SELECT * FROM vocabularies WHERE id=?", (row["id"],)).fetchone()
        return Vocabulary.from_row(row)

    def finish(self, vocabulary_id: int, file_uri: str, state: str, *, entries=None, reason=None) -> bool:
        """Record the outcome of processing, unless the vocabulary was deleted or updated meanwhile."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE vocabularies SET state=?, failure_reason=?, entries=?, last_modified_time=? "
                "WHERE id=? AND file_uri=? AND state=?",
                (
                    state,
                    reason,
                    json.dumps([asdict(entry) for entry in entries]) if entries is not None else None,
                    time.time(),
                    vocabulary_id,
                    file_uri,
                    PENDING,
                ),
            )
            return cursor.rowcount == 1

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM vocabularies WHERE name=?", (name,)).rowcount == 1

    def get_tags(self, name: str) -> list[dict] | None:
        with self._lock:
            row = self._db.execute("SELECT tags FROM vocabularies WHERE name=?", (name,)).fetchone()
        return None if row is None else json.loads(row["tags"] or "[]")

    def set_tags(self, name: str, tags: list[dict]) -> None:
        with self._lock:
            self._db.execute("UPDATE vocabularies SET tags=? WHERE name=?", (json.dumps(tags), name))

    def list(
        self, state: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> tuple[list[Vocabulary], bool]:
        """Newest first; the page and whether more follow."""
        clauses, params = ["1=1"], builtins.list[str | int]()
        if state:
            clauses.append("state=?")
            params.append(state)
        if name_contains:
            clauses.append("instr(lower(name), lower(?)) > 0")
            params.append(name_contains)
        if after_id is not None:
            clauses.append("id<?")
            params.append(after_id)
        query = f"SELECT * FROM vocabularies WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit + 1)).fetchall()
        return [Vocabulary.from_row(row) for row in rows[:limit]], len(rows) > limit

    def pending(self) -> builtins.list[Vocabulary]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM vocabularies WHERE state=? ORDER BY id", (PENDING,)
            ).fetchall()
        return [Vocabulary.from_row(row) for row in rows]


def read_vocabulary_file(s3_client, file_uri: str) -> list[VocabularyEntry]:
    """Fetch and parse the file at ``file_uri``; :class:`VocabularyFormatError` on any problem."""
    from medscribe_engine.pipeline.s3 import parse_media_uri

    location = parse_media_uri(file_uri)
    if location is None:
        raise VocabularyFormatError("The VocabularyFileUri is not a valid Amazon S3 URI.")
    try:
        head = s3_client.head_object(Bucket=location.bucket, Key=location.key)
        if head.get("ContentLength", 0) > MAX_FILE_BYTES:
            raise VocabularyFormatError(
                f"The vocabulary file is larger than {MAX_FILE_BYTES // 1024} KB. Make it smaller and try "
                "your request again."
            )
        data = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    except VocabularyFormatError:
        raise
    except Exception:
        raise VocabularyFormatError(
            "The vocabulary file can't be accessed. Check the VocabularyFileUri and that the file exists, "
            "then try your request again."
        ) from None
    return parse_vocabulary(data)


class VocabularyBackend:
    """The vocabulary operations, and the thread that processes PENDING vocabularies.

    :param store: the :class:`VocabularyStore`.
    :param s3_client_factory: makes the S3 client the processing thread reads files with.
    """

    def __init__(self, store: VocabularyStore, s3_client_factory):
        self.store = store
        self._s3_factory = s3_client_factory
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for vocabulary in self.store.pending():  # left PENDING by a stopped run
            self._queue.put(vocabulary.id)
        self._thread = threading.Thread(target=self._loop, name="engine-vocabularies", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def _loop(self) -> None:
        s3_client = self._s3_factory()
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._process(item, s3_client)
            except Exception as error:
                log.error("vocabulary processing failed with an internal %s", type(error).__name__)

    def _process(self, vocabulary_id: int, s3_client) -> None:
        vocabulary = self.store.get_by_id(vocabulary_id)
        if vocabulary is None or vocabulary.state != PENDING:
            return
        started = time.monotonic()
        try:
            entries = read_vocabulary_file(s3_client, vocabulary.file_uri)
        except VocabularyFormatError as error:
            self.store.finish(vocabulary.id, vocabulary.file_uri, FAILED, reason=error.reason)
            log.info("vocabulary %s FAILED after %.2fs", vocabulary.name, time.monotonic() - started)
            return
        self.store.finish(vocabulary.id, vocabulary.file_uri, READY, entries=entries)
        log.info(
            "vocabulary %s READY in %.2fs: %d entries",
            vocabulary.name,
            time.monotonic() - started,
            len(entries),
        )

    def _check(self, language_code: str, file_uri: str) -> None:
        from medscribe_engine.pipeline.s3 import parse_media_uri

        if language_code != "en-US":
            raise BadRequestException("Amazon Transcribe Medical supports only the en-US language code.")
        if parse_media_uri(file_uri) is None:
            raise BadRequestException(
                "The VocabularyFileUri is not valid: use s3://<bucket>/<key> or https://<host>/<bucket>/<key>."
            )

    def create(self, name: str, language_code: str, file_uri: str, tags: list | None) -> Vocabulary:
        self._check(language_code, file_uri)
        vocabulary = self.store.insert(name, language_code, file_uri, tags)
        self._queue.put(vocabulary.id)
        log.info("vocabulary %s created", name)
        return vocabulary

    def update(self, name: str, language_code: str, file_uri: str) -> Vocabulary:
        self._check(language_code, file_uri)
        vocabulary = self.store.update(name, language_code, file_uri)
        self._queue.put(vocabulary.id)
        log.info("vocabulary %s updated", name)
        return vocabulary

    def get(self, name: str) -> Vocabulary:
        vocabulary = self.store.get(name)
        if vocabulary is None:
            raise NotFoundException(VOCABULARY_NOT_FOUND)
        return vocabulary

    def delete(self, name: str) -> None:
        if not self.store.delete(name):
            raise NotFoundException(VOCABULARY_NOT_FOUND)
        log.info("vocabulary %s deleted", name)

    def list(self, state, name_contains, next_token, max_results) -> tuple[list[Vocabulary], str | None]:
        from medscribe_engine.pagination import decode_token, encode_token

        listing, data_dir = ("vocabularies", state, name_contains), self.store.data_dir
        after = decode_token(next_token, listing, data_dir) if next_token else None
        items, more = self.store.list(state, name_contains, after, max_results or DEFAULT_MAX_RESULTS)
        return items, (encode_token(items[-1].id, listing, data_dir) if more and items else None)

    def ready_entries(self, name: str) -> builtins.list[VocabularyEntry]:
        """The entries of a READY vocabulary; BadRequestException when it is missing or not ready."""
        vocabulary = self.store.get(name)
        if vocabulary is None:
            raise BadRequestException(
                "The requested vocabulary couldn't be found. Check the vocabulary name and try your request "
                "again."
            )
        if vocabulary.state != READY:
            raise BadRequestException(
                f"The vocabulary {name} is not ready (its state is {vocabulary.state}). Use a vocabulary "
                "in the READY state."
            )
        return vocabulary.entries
