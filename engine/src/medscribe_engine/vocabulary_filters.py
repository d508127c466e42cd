"""Custom vocabulary filters: words to remove, mask or tag in HealthScribe transcripts.

``CreateVocabularyFilter`` / ``UpdateVocabularyFilter`` take the words inline (``Words``) or from a text
file in S3 (``VocabularyFilterFileUri``, one word per line, UTF-8, at most 50 KB) - exactly one of the two.
Unlike vocabularies, filters have no state: the file is read during the request, and a file that can't
be read or used is a ``BadRequestException``. Words use the Transcribe character set for en-US (letters,
apostrophe, hyphen, period), one word each, shorter than 256 characters. They are stored where
``--store`` says (:func:`medscribe_engine.store.open_resource_stores`: ``<data-dir>/vocabularies.sqlite3``
beside a SQLite job store, the shared database beside a PostgreSQL one), with the request's
``DataAccessRoleArn`` (kept and returned by GetVocabularyFilter; the file is read with the engine's own S3
credentials, the role is not assumed). Only names and counts are logged, never the words.
"""

from __future__ import annotations

import builtins
import logging
import re

from medscribe_engine.exceptions import BadRequestException, NotFoundException
from medscribe_engine.pagination import decode_token, encode_token
from medscribe_engine.pipeline.s3 import parse_media_uri
from medscribe_engine.vocabulary_filter_store import (
    FILTER_NOT_FOUND,
    VocabularyFilter,
    VocabularyFilterStoreBase,
)

log = logging.getLogger("medscribe_engine")

MAX_FILE_BYTES = 50 * 1024
DEFAULT_MAX_RESULTS = 5
WORD_RE = re.compile(r"[A-Za-z'.\-]{1,255}")


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
    """The five vocabulary filter operations over a filter store.

    :param store: the filter store (SQLite or PostgreSQL: :func:`medscribe_engine.store.open_resource_stores`).
    :param s3_client_factory: makes the S3 client filter files are read with.
    """

    def __init__(self, store: VocabularyFilterStoreBase, s3_client_factory):
        self.store = store
        self._s3_factory = s3_client_factory
        self._s3 = None

    def _words(self, words: list[str] | None, file_uri: str | None) -> list[str]:
        if words and not file_uri:
            return check_words(words)
        if file_uri and not words:
            if self._s3 is None:
                self._s3 = self._s3_factory()
            return read_filter_file(self._s3, file_uri)
        raise BadRequestException("Specify either Words or VocabularyFilterFileUri, but not both.")

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
        created = self.store.insert(name, language_code, checked, file_uri, tags, role_arn)
        log.info("vocabulary filter %s created: %d words", name, len(checked))
        return created

    def update(self, name, words, file_uri, role_arn=None) -> VocabularyFilter:
        """New words for an existing filter.

        :param name: VocabularyFilterName.
        :param words: Words, or None.
        :param file_uri: VocabularyFilterFileUri, or None.
        :param role_arn: DataAccessRoleArn, or None to keep the stored one.
        """
        if self.store.get(name) is None:
            raise NotFoundException(FILTER_NOT_FOUND)
        checked = self._words(words, file_uri)
        updated = self.store.update(name, checked, file_uri, role_arn)
        if updated is None:
            raise NotFoundException(FILTER_NOT_FOUND)
        log.info("vocabulary filter %s updated: %d words", name, len(checked))
        return updated

    def get(self, name: str) -> VocabularyFilter:
        found = self.store.get(name)
        if found is None:
            raise NotFoundException(FILTER_NOT_FOUND)
        return found

    def delete(self, name: str) -> None:
        if not self.store.delete(name):
            raise NotFoundException(FILTER_NOT_FOUND)
        log.info("vocabulary filter %s deleted", name)

    def list(self, name_contains, next_token, max_results) -> tuple[list[VocabularyFilter], str | None]:
        listing, data_dir = ("vocabulary-filters", name_contains), self.store.data_dir
        after = decode_token(next_token, listing, data_dir) if next_token else None
        items, more = self.store.list(name_contains, after, max_results or DEFAULT_MAX_RESULTS)
        return items, (encode_token(items[-1].id, listing, data_dir) if more and items else None)

    def words_of(self, name: str) -> builtins.list[str]:
        """The words of an existing filter; BadRequestException when it does not exist."""
        found = self.store.get(name)
        if found is None:
            raise BadRequestException(FILTER_NOT_FOUND)
        return found.words
