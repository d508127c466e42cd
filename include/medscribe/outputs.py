"""The services' output files in S3: their URIs split into bucket and key, their bytes and JSON read."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse


def split_output_uri(uri: str) -> tuple[str, str]:
    """
    Bucket and key of an output URI: ``s3://b/k``, path style ``https://host/b/k`` (what AWS and the
    engine return), or virtual-hosted ``https://b.s3.<region>.amazonaws.com/k``.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        return parsed.netloc, parsed.path.lstrip("/")
    host = parsed.netloc
    if ".s3." in host and not host.startswith("s3."):
        return host.split(".s3.", 1)[0], parsed.path.lstrip("/")
    bucket, _, key = parsed.path.lstrip("/").partition("/")
    if not bucket or not key:
        raise ValueError("output URI has no bucket and key")
    return bucket, key


def read_object_bytes(s3_client, uri: str) -> bytes:
    """Download one output file, unparsed."""
    bucket, key = split_output_uri(uri)
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_json_object(s3_client, uri: str) -> dict[str, Any]:
    """Download and parse one output file."""
    return json.loads(read_object_bytes(s3_client, uri))
