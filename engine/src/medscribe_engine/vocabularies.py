"""Custom medical vocabularies: the file format and the service operations over a vocabulary store.

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

Vocabularies live where ``--store`` says (:func:`medscribe_engine.store.open_resource_stores`): in
``<data-dir>/vocabularies.sqlite3`` beside a SQLite job store, in the shared database beside a PostgreSQL
one. Any replica may process a PENDING vocabulary; the first outcome recorded for a file wins.
"""

from __future__ import annotations

import builtins
import logging
import queue
import re
import threading
import time

from medscribe_engine.exceptions import BadRequestException, NotFoundException
from medscribe_engine.pagination import decode_token, encode_token
from medscribe_engine.pipeline.document import VocabularyEntry
from medscribe_engine.pipeline.s3 import parse_media_uri
from medscribe_engine.vocabulary_store import (
    FAILED,
    PENDING,
    READY,
    VOCABULARY_NOT_FOUND,
    Vocabulary,
    VocabularyStoreBase,
)

log = logging.getLogger("medscribe_engine")

COLUMNS = ("Phrase", "IPA", "SoundsLike", "DisplayAs")
MAX_FILE_BYTES = 50 * 1024
MAX_ENTRY_CHARS = 256
DEFAULT_MAX_RESULTS = 5
PHRASE_RE = re.compile(r"[A-Za-z'.\-]+")


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


def read_vocabulary_file(s3_client, file_uri: str) -> list[VocabularyEntry]:
    """Fetch and parse the file at ``file_uri``; :class:`VocabularyFormatError` on any problem."""
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

    :param store: the vocabulary store (SQLite or PostgreSQL: :func:`medscribe_engine.store.open_resource_stores`).
    :param s3_client_factory: makes the S3 client the processing thread reads files with.
    """

    def __init__(self, store: VocabularyStoreBase, s3_client_factory):
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
        if vocabulary is None:
            raise NotFoundException(VOCABULARY_NOT_FOUND)
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
