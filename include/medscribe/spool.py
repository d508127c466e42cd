"""Read a recording out of S3 as a stream: its SHA-256, and a bounded spool the audio checks read.

A recording is never held whole in memory. Its body is read in chunks, hashed on the way (unless S3
holds a full-object SHA-256 of it, which botocore then checks while the body is read) and written to
a spool that stays in memory up to ``MEMORY_SPOOL_BYTES`` and becomes a temporary file (under
``TMPDIR``) beyond that; the spool is deleted when the recording is done.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from typing import IO

CHUNK_BYTES = 1 << 20  # 1 MiB per read: few calls per recording, a small constant footprint
MEMORY_SPOOL_BYTES = 8 << 20  # short visits stay in memory; anything longer goes to a temporary file


def full_object_sha256(response: dict) -> str | None:
    """
    The object's SHA-256 (hex) from S3's checksum, when S3 holds one computed over the whole object.

    A COMPOSITE checksum (multipart uploads: a hash of the parts' hashes) is not the content's hash,
    so only ``ChecksumType`` FULL_OBJECT counts; a response without ``ChecksumType`` counts as none.

    :param response: a head_object or get_object response, requested with ``ChecksumMode="ENABLED"``.
    """
    if response.get("ChecksumType") != "FULL_OBJECT" or not response.get("ChecksumSHA256"):
        return None
    return base64.b64decode(response["ChecksumSHA256"]).hex()


class S3Object:
    """
    One S3 object, downloaded at most once and only when its bytes are needed; use it as a context
    manager so that its spool is deleted.

    :param s3_client: a boto3 S3 client.
    :param bucket: the object's bucket.
    :param key: the object's key.
    :param spool_limit: objects larger than this are hashed as they stream by but not spooled (the
        caller refuses them by size and never opens them).
    """

    def __init__(self, s3_client, bucket: str, key: str, *, spool_limit: int) -> None:
        self._s3, self._bucket, self._key, self._spool_limit = s3_client, bucket, key, spool_limit
        head = s3_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        self.size_bytes: int = head["ContentLength"]
        self._etag: str = head["ETag"]  # the GET must read the very object the head described
        self._sha256 = full_object_sha256(head)
        self._spool: IO[bytes] | None = None

    def __enter__(self) -> S3Object:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    @property
    def sha256(self) -> str:
        """The SHA-256 (hex) of the object's bytes: S3's full-object checksum, or read from the stream."""
        if self._sha256 is None:
            self._download()
        assert self._sha256 is not None  # _download sets it
        return self._sha256

    def open(self) -> IO[bytes]:
        """The object's bytes as a seekable file at its start (read from S3 on the first call).

        :raises ValueError: the object is over ``spool_limit``.
        """
        if self.size_bytes > self._spool_limit:
            raise ValueError(
                f"object of {self.size_bytes} bytes is over the spool limit ({self._spool_limit})"
            )
        if self._spool is None:
            self._download()
        assert self._spool is not None  # _download sets it
        self._spool.seek(0)
        return self._spool

    def _download(self) -> None:
        """Stream the body once: hash it (unless S3's checksum is known) and spool it (unless too large)."""
        digest = hashlib.sha256() if self._sha256 is None else None
        # ChecksumMode: botocore checks a full-object checksum against the bytes as they are read.
        response = self._s3.get_object(
            Bucket=self._bucket, Key=self._key, IfMatch=self._etag, ChecksumMode="ENABLED"
        )
        body = response["Body"]
        spool = None
        if self.size_bytes <= self._spool_limit:
            spool = tempfile.SpooledTemporaryFile(MEMORY_SPOOL_BYTES)  # noqa: SIM115 (closed in __exit__)
        try:
            for chunk in body.iter_chunks(CHUNK_BYTES):
                if digest is not None:
                    digest.update(chunk)
                if spool is not None:
                    spool.write(chunk)
        except BaseException:
            if spool is not None:
                spool.close()
            raise
        finally:
            body.close()
        if digest is not None:
            self._sha256 = digest.hexdigest()
        self._spool = spool
