"""The night's ``discover`` manifest: each shard's part written, the parts merged, the recordings read back.

Tasks pass the manifest's key and counts through XCom, never the per-recording lists
(``medscribe.manifests``).
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any

log = logging.getLogger(__name__)


def save_discovery(ledger, night: str, recordings: list, rejected: list) -> dict[str, Any]:
    """
    Write discovery's lists to the night's ``discover`` manifest; what the discover task returns.

    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifest).
    :param night: the night.
    :param recordings: ``discover.Recording`` values.
    :param rejected: ``discover.Rejected`` values.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}``.
    """
    from medscribe.manifests import manifest_key, write_manifest

    key = write_manifest(
        ledger.s3,
        ledger.bucket,
        manifest_key(ledger.prefix, night, "discover"),
        {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]},
    )
    return {"manifest": key, "recordings": len(recordings), "rejected": len(rejected)}


def save_discovery_part(ledger, night: str, shard: int, recordings: list, rejected: list) -> dict[str, Any]:
    """
    Write one discovery shard's lists to its own part of the night's ``discover`` manifest.

    :param ledger: the :class:`medscribe.ledger.Ledger` (its bucket and prefix hold the manifest).
    :param night: the night.
    :param shard: the shard's number (``discover.discover_night``'s ``shard``).
    :param recordings: ``discover.Recording`` values.
    :param rejected: ``discover.Rejected`` values.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}`` (one small XCom per shard).
    """
    from medscribe.manifests import manifest_key, write_manifest

    key = write_manifest(
        ledger.s3,
        ledger.bucket,
        manifest_key(ledger.prefix, night, f"discover/{shard:04d}"),
        {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]},
    )
    return {"manifest": key, "recordings": len(recordings), "rejected": len(rejected)}


def merge_discovery(ledger, night: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """
    The night's ``discover`` manifest from its shards' parts; what the ``discover`` task returns.

    A rerun with fewer shards leaves no stale part behind. Each recording comes from exactly one shard
    (``keys.shard_of``); one found in two parts fails the night rather than being submitted twice.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param night: the night.
    :param parts: what :func:`save_discovery_part` returned for every shard.
    :return: ``{"manifest": key, "recordings": n, "rejected": n}``, as :func:`save_discovery`.
    :raises ValueError: a recording id in two parts.
    """
    from medscribe.manifests import delete_stale, manifest_key, read_manifest, write_manifest

    merged: dict[str, list[dict[str, Any]]] = {"recordings": [], "rejected": []}
    for part in parts:
        manifest = read_manifest(ledger.s3, ledger.bucket, part["manifest"])
        for name in merged:
            merged[name] += manifest[name]
    ids = [entry["recording_id"] for name in merged for entry in merged[name]]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{len(ids) - len(set(ids))} recordings of {night} were found by two shards")
    key = write_manifest(ledger.s3, ledger.bucket, manifest_key(ledger.prefix, night, "discover"), merged)
    folder = posixpath.dirname(manifest_key(ledger.prefix, night, "discover/0")) + "/"
    delete_stale(ledger.s3, ledger.bucket, folder, {part["manifest"] for part in parts})
    log.info(
        "Night %s discovered by %d shards: %d recordings valid, %d quarantined",
        night,
        len(parts),
        len(merged["recordings"]),
        len(merged["rejected"]),
    )
    return {"manifest": key, "recordings": len(merged["recordings"]), "rejected": len(merged["rejected"])}


def night_recordings(ledger, discovery: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The valid recordings (``Recording.to_dict()`` values) of a discover task's result.

    :param ledger: the :class:`medscribe.ledger.Ledger`.
    :param discovery: what :func:`save_discovery` or :func:`merge_discovery` returned.
    """
    from medscribe.manifests import read_manifest

    return read_manifest(ledger.s3, ledger.bucket, discovery["manifest"])["recordings"]
