"""Resource tags: ``TagResource``, ``UntagResource``, ``ListTagsForResource`` over jobs, vocabularies
and vocabulary filters.

Resources are named by ARN, ``arn:aws:transcribe:<region>:<account>:<type>/<name>``, with the types
AWS uses: ``medical-transcription-job``, ``medical-scribe-job``, ``medical-vocabulary`` and
``vocabulary-filter``; any region and account are accepted. A job's tags live in its stored request (so
Get*Job shows them), a vocabulary's or filter's in its row: all in the store ``--store`` names, so with
PostgreSQL every replica reads and writes the same tags. Tagging merges by key (a key given again
takes the new value); at most 200 tags per resource. Tag values are never logged.
"""

from __future__ import annotations

import builtins
import re

from medscribe_engine.exceptions import BadRequestException, NotFoundException
from medscribe_engine.pipeline.document import SCRIBE, TRANSCRIPTION

ARN_RE = re.compile(
    r"arn:aws(-[^:]+)?:transcribe:[a-zA-Z0-9-]*:[0-9]{12}:(?P<type>[a-zA-Z-]*)/(?P<name>[0-9a-zA-Z._-]+)"
)
MAX_TAGS = 200
RESOURCE_NOT_FOUND = (
    "The requested resource couldn't be found. Check the resource ARN and try your request again."
)
TYPES = ("medical-transcription-job", "medical-scribe-job", "medical-vocabulary", "vocabulary-filter")


def parse_arn(arn: str) -> tuple[str, str]:
    match = ARN_RE.fullmatch(arn)
    if not match or match["type"] not in TYPES:
        raise BadRequestException(
            "The ResourceArn is not valid: use arn:aws:transcribe:<region>:<account>:<type>/<name> with a type "
            f"of {', '.join(TYPES)}."
        )
    return match["type"], match["name"]


def merge_tags(current: list[dict], new: list[dict]) -> list[dict]:
    merged = {tag["Key"]: tag["Value"] for tag in current}
    for tag in new:
        merged[tag["Key"]] = tag["Value"]
    if len(merged) > MAX_TAGS:
        raise BadRequestException(f"A resource can have at most {MAX_TAGS} tags.")
    return [{"Key": key, "Value": value} for key, value in merged.items()]


def remove_tags(current: list[dict], keys: list[str]) -> list[dict]:
    return [tag for tag in current if tag["Key"] not in set(keys)]


class TagService:
    """Reads and writes the tags of the engine's resources.

    :param job_store: the job store (:class:`~medscribe_engine.store_model.JobStoreBase`).
    :param vocabulary_store: the vocabulary store
        (:class:`~medscribe_engine.vocabulary_store.VocabularyStoreBase`), or None.
    :param filters: the vocabulary filter store
        (:class:`~medscribe_engine.vocabulary_filter_store.VocabularyFilterStoreBase`), or None.
    """

    def __init__(self, job_store, vocabulary_store=None, filters=None):
        self.stores = {
            "medical-transcription-job": _JobTags(job_store, TRANSCRIPTION),
            "medical-scribe-job": _JobTags(job_store, SCRIBE),
        }
        if vocabulary_store is not None:
            self.stores["medical-vocabulary"] = vocabulary_store
        if filters is not None:
            self.stores["vocabulary-filter"] = filters

    def _store(self, arn: str):
        kind, name = parse_arn(arn)
        store = self.stores.get(kind)
        if store is None:
            raise BadRequestException(f"Tags on {kind} resources are not available in this engine.")
        return store, name

    def list(self, arn: str) -> list[dict]:
        store, name = self._store(arn)
        tags = store.get_tags(name)
        if tags is None:
            raise NotFoundException(RESOURCE_NOT_FOUND)
        return tags

    def tag(self, arn: str, tags: builtins.list[dict]) -> None:
        store, name = self._store(arn)
        current = store.get_tags(name)
        if current is None:
            raise NotFoundException(RESOURCE_NOT_FOUND)
        store.set_tags(name, merge_tags(current, tags))

    def untag(self, arn: str, keys: builtins.list[str]) -> None:
        store, name = self._store(arn)
        current = store.get_tags(name)
        if current is None:
            raise NotFoundException(RESOURCE_NOT_FOUND)
        store.set_tags(name, remove_tags(current, keys))


class _JobTags:
    def __init__(self, store, kind: str):
        self.store, self.kind = store, kind

    def get_tags(self, name: str) -> list[dict] | None:
        job = self.store.get(self.kind, name)
        return None if job is None else list(job.request.get("Tags") or [])

    def set_tags(self, name: str, tags: list[dict]) -> None:
        self.store.set_tags(self.kind, name, tags)
