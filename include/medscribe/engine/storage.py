"""S3 access for the engine: media URIs in, output objects out.

The S3 endpoint comes from ``AWS_ENDPOINT_URL_S3`` (moto in the local stack); without it, AWS's
regional endpoint is used. Keys and URIs handled here are never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


def parse_media_uri(uri: str) -> S3Location | None:
    """Bucket and key of ``s3://bucket/key``, ``https://host/bucket/key`` (path style) or
    ``https://bucket.s3[.region].amazonaws.com/key`` (virtual-hosted style); None when it is neither."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    elif parts.scheme in ("http", "https") and parts.netloc:
        host = parts.hostname or ""
        path = unquote(parts.path.lstrip("/"))
        if ".s3." in host and host.endswith(".amazonaws.com") and not host.startswith("s3."):
            bucket, key = host.split(".s3.", 1)[0], path
        else:
            bucket, _, key = path.partition("/")
    else:
        return None
    if not bucket or not key:
        return None
    return S3Location(bucket, key)


def s3_endpoint() -> str:
    """The base URL output URIs are expressed against (path style, like AWS's regional form)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        return endpoint.rstrip("/")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    return f"https://s3.{region}.amazonaws.com"


def object_url(bucket: str, key: str) -> str:
    """``<endpoint>/<bucket>/<key>``, the form of TranscriptFileUri."""
    return f"{s3_endpoint()}/{bucket}/{quote(key, safe='/!*()-_.~')}"


def make_s3_client():
    """A boto3 S3 client on the configured endpoint, path-style addressing, a few retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )
