"""S3 access: media URIs in, output objects out (the pipeline's, and the service layer's checks of them).

The S3 endpoint comes from ``AWS_ENDPOINT_URL_S3`` (moto in the local stack); without it, AWS's
regional endpoint is used. Keys and URIs handled here are never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

DEFAULT_REGION = "us-east-1"
MAX_KEY_BYTES = 1024  # S3's limit on an object key


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


def parse_media_uri(uri: str) -> S3Location | None:
    """Bucket and key of ``s3://bucket/key``, ``https://host/bucket/key`` (path style) or
    ``https://bucket.s3[.region].amazonaws.com/key`` (virtual-hosted style); None when it is neither.

    An ``s3://`` URI is not a URL: its key is the rest of the string, verbatim (``?``, ``#`` and ``%``
    included). In an ``https://`` URL the key is percent-encoded; one with a query or a fragment is
    refused (None), since dropping either would name another object.
    """
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
    else:
        if "?" in uri or "#" in uri:
            return None
        try:
            parts = urlsplit(uri)
        except ValueError:  # e.g. an unbalanced '[' in the host
            return None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        host = parts.hostname or ""
        path = unquote(parts.path.lstrip("/"))
        if ".s3." in host and host.endswith(".amazonaws.com") and not host.startswith("s3."):
            bucket, key = host.split(".s3.", 1)[0], path
        else:
            bucket, _, key = path.partition("/")
    if not bucket or not key or not _is_utf8(bucket + key):
        return None
    return S3Location(bucket, key)


def _is_utf8(text: str) -> bool:
    """False for strings S3 cannot carry: lone surrogates (JSON's ``\\ud800``) have no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def object_key_problem(key: str) -> str | None:
    """Why S3 (or a client reading the object's URL) would not take ``key`` as an object key, else None:
    over 1,024 bytes of UTF-8, or a ``.`` / ``..`` path segment (URL clients resolve those to another
    object)."""
    if not _is_utf8(key):
        return "is not valid UTF-8"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"is longer than the {MAX_KEY_BYTES} bytes S3 allows for an object key"
    if any(segment in (".", "..") for segment in key.split("/")):
        return "contains a '.' or '..' path segment"
    return None


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
