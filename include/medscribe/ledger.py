"""The per-recording ledger: one JSON object per (night, recording) in S3, where any worker can write it.

States: ``discovered`` → ``submitted`` → ``succeeded`` | ``failed`` (with a reason), or ``quarantined``
(with a reason) straight from discovery. After every run each discovered recording is in exactly one
final state; the night's entries are exported as the ``recordings`` Parquet table.

Each recording belongs to one night and to one batch, so one writer at a time updates an entry
(read-modify-write of a single object). Entries carry ids, names, sizes and reasons, never keys.
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

STATES = ("discovered", "submitted", "succeeded", "failed", "quarantined")
FINAL_STATES = ("succeeded", "failed", "quarantined")


def now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """
    Ledger entries under ``s3://<bucket>/<prefix>/<night>/<recording_id>.json``.

    :param s3_client: a boto3 S3 client.
    :param bucket: the bucket holding the ledger.
    :param prefix: the ledger's prefix.
    """

    def __init__(self, s3_client, bucket: str, prefix: str = "ledger"):
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, night: str, recording_id: str) -> str:
        return posixpath.join(self.prefix, night, f"{recording_id}.json")

    def get(self, night: str, recording_id: str) -> dict[str, Any] | None:
        """The entry of one recording and night, or None."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(night, recording_id))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def put(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write an entry whole (``night`` and ``recording_id`` locate it)."""
        if entry["state"] not in STATES:
            raise ValueError(f"unknown ledger state {entry['state']!r}")
        if entry["state"] in FINAL_STATES and not entry.get("finished_at"):
            entry["finished_at"] = now().isoformat()
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self._key(entry["night"], entry["recording_id"]),
            Body=json.dumps(entry, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return entry

    def update(self, night: str, recording_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of an existing entry; a move to a non-final state clears ``finished_at``."""
        entry = self.get(night, recording_id)
        if entry is None:
            raise KeyError(f"no ledger entry for recording {recording_id} on {night}")
        entry.update(changes)
        if entry["state"] not in FINAL_STATES:
            entry["finished_at"] = None
        return self.put(entry)

    def night(self, night: str) -> list[dict[str, Any]]:
        """Every entry of one night, ordered by recording id."""
        entries = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=posixpath.join(self.prefix, night) + "/"):
            for item in page.get("Contents", []):
                entries.append(
                    json.loads(self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read())
                )
        return sorted(entries, key=lambda e: e["recording_id"])


def recordings_table(entries: list[dict[str, Any]]) -> pa.Table:
    """The night's ledger entries as the ``recordings`` table."""
    from medscribe.lake.schemas import TABLES

    schema = TABLES["recordings"]

    def timestamp(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    rows = [
        {
            **{name: entry.get(name) for name in schema.names},
            "discovered_at": timestamp(entry.get("discovered_at")),
            "finished_at": timestamp(entry.get("finished_at")),
        }
        for entry in entries
    ]
    return pa.Table.from_pylist(rows, schema=schema)
