"""The night's keys in S3: listed, split into audio and sidecars, and into shards.

Layout (documented in README.md)::

    s3://<bucket>/<prefix>/<YYYY-MM-DD>/<anything>/<recording>.<ext>
    s3://<bucket>/<prefix>/<YYYY-MM-DD>/<anything>/<recording>.<ext>.json   (optional sidecar)

Parallel discovery: the nightly DAG maps one task per shard of the night's keys (``shard``/``shards``,
a fixed count): dynamic task mapping over a bounded list is how Airflow fans work out across workers
(retried, logged and seen per shard, one XCom per shard), where a thread pool would hide it inside one
worker slot. A key's shard comes from its object's size (:func:`shard_of`), so the same bytes under two
keys always meet in one shard: each recording id is handled, and its ledger entry written, by exactly one
shard, and the first-key rule for duplicates holds as in one pass.
"""

from __future__ import annotations

import hashlib
import posixpath


def night_prefix(prefix: str, night: str) -> str:
    """The S3 prefix holding one night's recordings."""
    return posixpath.join(prefix.strip("/"), night) + "/"


def night_objects(s3_client, bucket: str, prefix: str, night: str) -> dict[str, int]:
    """The night's objects (folder markers left out) and their sizes, from the listing alone."""
    objects: dict[str, int] = {}
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=night_prefix(prefix, night)):
        objects.update(
            (item["Key"], item["Size"]) for item in page.get("Contents", []) if not item["Key"].endswith("/")
        )
    return objects


def shard_of(size_bytes: int, shards: int) -> int:
    """
    The shard (``0 <= shard < shards``) that discovers an object of ``size_bytes``.

    Identical bytes have the same size, so duplicates (and a sidecar equal to an audio file) never
    straddle two shards; the size is hashed because audio sizes share factors (PCM16 sizes are even).
    """
    digest = hashlib.sha256(str(size_bytes).encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def list_recording_keys(
    s3_client, bucket: str, prefix: str, night: str
) -> tuple[list[str], dict[str, str], list[str]]:
    """
    Keys of the night's recordings and of their sidecars.

    :return: (audio keys sorted, {audio key: sidecar key}, sidecar keys without their audio, sorted)
    """
    return split_keys(night_objects(s3_client, bucket, prefix, night))


def split_keys(keys) -> tuple[list[str], dict[str, str], list[str]]:
    """
    Audio keys, their sidecars, and sidecars without their audio, of the night's keys.

    :param keys: the night's keys (any iterable; a :func:`night_objects` dict is fine).
    :return: (audio keys sorted, {audio key: sidecar key}, sidecar keys without their audio, sorted)
    """
    keys = list(keys)
    key_set = set(keys)
    audio = sorted(key for key in keys if not key.endswith(".json"))
    sidecars = {key: f"{key}.json" for key in audio if f"{key}.json" in key_set}
    orphans = sorted(key for key in keys if key.endswith(".json") and key[: -len(".json")] not in sidecars)
    return audio, sidecars, orphans
