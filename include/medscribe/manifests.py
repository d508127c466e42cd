"""Night manifests: the per-recording lists the nightly tasks hand each other, kept in S3 instead of XCom.

A manifest is one JSON object under the ledger prefix, one per night and step::

    s3://<recordings bucket>/<ledger prefix>/_manifests/<night>/discover.json
    s3://<recordings bucket>/<ledger prefix>/_manifests/<night>/batches/0000.json    (job requests)
    s3://<recordings bucket>/<ledger prefix>/_manifests/<night>/outcomes/0000.json   (their outcomes)

XCom carries only manifest keys and counts, so its size does not grow with the number of recordings
(the batch keys are one short string per batch). Manifests hold recording ids, job names, staged
(content-addressed) media URIs and reasons, never original keys or transcript text. ``_manifests``
sits beside the night folders of the ledger, so a night's ledger listing never sees it.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

MANIFEST_DIR = "_manifests"


def manifest_key(ledger_prefix: str, night: str, step: str) -> str:
    """
    The key of one step's manifest of one night.

    :param ledger_prefix: the ledger's prefix in the recordings bucket.
    :param night: the night, YYYY-MM-DD.
    :param step: the step's name, e.g. ``discover`` or ``batches/0003``.
    """
    return posixpath.join(ledger_prefix.strip("/"), MANIFEST_DIR, night, f"{step}.json")


def outcomes_key(batch_key: str) -> str:
    """The key of the outcomes manifest of a batch manifest (``.../batches/N.json`` → ``.../outcomes/N.json``)."""
    folder, name = posixpath.split(batch_key)
    return posixpath.join(posixpath.dirname(folder), "outcomes", name)


def write_manifest(s3_client, bucket: str, key: str, payload: Any) -> str:
    """
    Write one manifest (replacing an earlier run's) and return its key.

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param key: from :func:`manifest_key`.
    :param payload: any JSON value.
    """
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(payload, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return key


def read_manifest(s3_client, bucket: str, key: str) -> Any:
    """
    One manifest's JSON value.

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param key: the manifest's key (as passed through XCom).
    """
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def delete_stale(s3_client, bucket: str, folder: str, keep: set[str]) -> int:
    """
    Delete the manifests under ``folder`` that this run did not write (a rerun with fewer batches).

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param folder: the folder's key prefix, ending with ``/``.
    :param keep: keys written by this run.
    :return: how many were deleted.
    """
    stale = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        stale += [item["Key"] for item in page.get("Contents", []) if item["Key"] not in keep]
    for key in stale:
        s3_client.delete_object(Bucket=bucket, Key=key)
    return len(stale)


def save_batch_outcomes(s3_client, bucket: str, batch_key: str, result: dict[str, Any]) -> dict[str, Any]:
    """
    Write a batch's job outcomes next to its manifest; what the batch task returns instead of them.

    :param s3_client: a boto3 S3 client.
    :param bucket: the recordings bucket.
    :param batch_key: the batch manifest's key.
    :param result: the batch operator's result, ``{"jobs": {name: outcome}, "counts": {status: n}}``.
    :return: ``{"outcomes": <key of the outcomes manifest>, "counts": {status: n}}``.
    """
    key = write_manifest(s3_client, bucket, outcomes_key(batch_key), result["jobs"])
    return {"outcomes": key, "counts": result["counts"]}
