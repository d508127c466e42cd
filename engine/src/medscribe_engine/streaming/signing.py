"""SigV4 of a stream: the request's headers, then every event chunk signed in turn.

The request is checked with the batch API's :class:`~medscribe_engine.auth.SigV4Verifier` (key, scope,
date skew, signed headers) and the streaming payload hash ``STREAMING-AWS4-HMAC-SHA256-EVENTS`` in
place of a body hash. Each message of the body then wraps one
event: headers ``:date`` (timestamp) and ``:chunk-signature`` (32 bytes), the event's encoded message as
payload. Its signature is SigV4's HMAC chain over::

    AWS4-HMAC-SHA256-PAYLOAD
    <the :date as YYYYMMDDTHHMMSSZ>
    <YYYYMMDD>/<region>/transcribe/aws4_request
    <the previous signature, hex: the request's for the first chunk>
    <sha256 hex of the encoded :date header>
    <sha256 hex of the payload>

with the signing key of the chunk's own date, as the AWS SDKs sign it (``signEvent`` of
``@smithy/signature-v4``). An empty payload ends the stream. The WebSocket form is the same, except that
the request is a presigned URL (:func:`verify_presigned`), whose signature seeds the chain. Nothing of a request, and no key, is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from datetime import UTC, datetime
from urllib.parse import quote

from medscribe_engine.auth import ALGORITHM, SERVICE, SIGNATURE_MISMATCH, SignedHeaders, SigV4Verifier
from medscribe_engine.exceptions import InvalidSignatureException
from medscribe_engine.streaming.eventstream import Message

STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"
EVENT_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
MAX_PRESIGNED_S = 300
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")


def request_signature(canonical: str, signed: SignedHeaders, region: str) -> str:
    """SigV4's signature (hex) of a canonical request, with the key and date ``signed`` names."""
    scope = f"{signed.amz_date[:8]}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join([ALGORITHM, signed.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(signed.secret, signed.amz_date[:8], region)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_request(verifier: SigV4Verifier, method: str, path: str, headers: dict[str, str]) -> SignedHeaders:
    """The checked headers of a correctly signed stream request; the AWS error otherwise.

    The key, scope, date and the presence of the signed headers are checked by the batch API's
    :meth:`~medscribe_engine.auth.SigV4Verifier.check_headers`. The canonical request is built here:
    over HTTP/2 the SDKs sign the ``:authority`` pseudo-header instead of ``host`` (which botocore's
    signer would add), and the payload hash is :data:`STREAMING_PAYLOAD`.

    :param verifier: the engine's verifier (its keys, region and clock).
    :param method: the HTTP method.
    :param path: the request path (no query: the stream operations have none).
    :param headers: the request headers, lower-cased names; ``:authority`` for HTTP/2 requests.
    """
    signed, names = checked_headers(verifier, headers)
    if headers.get("x-amz-content-sha256") != STREAMING_PAYLOAD:
        raise InvalidSignatureException(
            f"A stream must be signed with the payload hash {STREAMING_PAYLOAD} (header x-amz-content-sha256)."
        )
    check_request_signature(verifier, signed, names, headers, method, path, "", STREAMING_PAYLOAD)
    return signed


def checked_headers(verifier: SigV4Verifier, headers: dict[str, str]) -> tuple[SignedHeaders, list[str]]:
    """A header-signed request's key, scope, date and signed headers, checked by the batch API's
    :meth:`~medscribe_engine.auth.SigV4Verifier.check_headers`, and the names of the headers it signed.
    Over HTTP/2 the SDKs sign the ``:authority`` pseudo-header instead of ``host``.

    :param headers: the request headers, lower-cased names; ``:authority`` for HTTP/2 requests.
    """
    checked = dict(headers)
    authorization = headers.get("authorization", "")
    match = _SIGNED_HEADERS.search(authorization)
    names = match.group(1).split(";") if match else []
    if match is not None and ":authority" in names:  # HTTP/2: the host is signed as :authority
        host_names = ";".join("host" if name == ":authority" else name for name in names)
        checked["authorization"] = authorization.replace(match.group(0), f"SignedHeaders={host_names}")
        checked["host"] = headers.get(":authority", "")
    return verifier.check_headers(checked), names


def check_request_signature(
    verifier: SigV4Verifier,
    signed: SignedHeaders,
    names: list[str],
    headers: dict[str, str],
    method: str,
    path: str,
    canonical_query: str,
    payload_hash: str,
) -> None:
    """Nothing when ``signed``'s signature is that of the canonical request of these parts (the headers
    ``names`` signed, in sorted order); InvalidSignatureException otherwise."""
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names)
    canonical = "\n".join(
        [method, quote(path, safe="/~"), canonical_query, canonical_headers, ";".join(names), payload_hash]
    )
    expected = request_signature(canonical, signed, verifier.region)
    if names != sorted(names) or not hmac.compare_digest(expected, signed.signature):
        raise InvalidSignatureException(SIGNATURE_MISMATCH)


EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()  # a presigned WebSocket URL signs an empty body


def verify_presigned(verifier: SigV4Verifier, path: str, query: dict[str, str], host: str) -> SignedHeaders:
    """The checked signature of a presigned WebSocket URL (``GET``, query authentication: ``X-Amz-*``
    parameters, only ``host`` signed, the empty body's hash), as the AWS SDKs' ``presign`` makes it; the
    AWS error otherwise. Key, scope and date skew are checked as for a header-signed request, and the URL
    must not have expired (``X-Amz-Expires``, at most 300 s as AWS allows for streams).

    :param verifier: the engine's verifier (its keys, region and clock).
    :param path: the URL's path.
    :param query: its query parameters, decoded.
    :param host: the Host header.
    """
    credential, signature = query.get("X-Amz-Credential", ""), query.get("X-Amz-Signature", "")
    if query.get("X-Amz-Algorithm") != ALGORITHM or not credential or not signature:
        raise InvalidSignatureException(
            "A WebSocket stream needs a presigned URL: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, "
            "X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature."
        )
    if query.get("X-Amz-SignedHeaders") != "host":
        raise InvalidSignatureException("A presigned stream URL must sign the host header only.")
    expires = query.get("X-Amz-Expires", "")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGNED_S:
        raise InvalidSignatureException(f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_S} seconds.")
    amz_date = query.get("X-Amz-Date", "")
    authorization = (
        f"{ALGORITHM} Credential={credential}, SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    signed = verifier.check_headers({"authorization": authorization, "x-amz-date": amz_date, "host": host})
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if (verifier.now() - signed_at).total_seconds() > int(expires):
        raise InvalidSignatureException("The presigned URL has expired.")
    canonical_query = "&".join(
        sorted(
            f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
            for name, value in query.items()
            if name != "X-Amz-Signature"
        )
    )
    canonical = "\n".join(
        ["GET", quote(path, safe="/~"), canonical_query, f"host:{host.strip()}\n", "host", EMPTY_PAYLOAD]
    )
    expected = request_signature(canonical, signed, verifier.region)
    if not hmac.compare_digest(expected, signature):
        raise InvalidSignatureException(SIGNATURE_MISMATCH)
    return signed


class ChunkVerifier:
    """Checks the chain of event chunk signatures of one stream.

    :param signed: the request's checked headers (its signature seeds the chain).
    :param verifier: the engine's verifier (region, clock and allowed skew).
    """

    def __init__(self, signed: SignedHeaders, verifier: SigV4Verifier):
        self.secret = signed.secret
        self.prior = signed.signature
        self.region = verifier.region
        self.verifier = verifier

    def open(self, message: Message) -> bytes:
        """The payload of a correctly signed chunk (the next in the chain); InvalidSignatureException
        otherwise."""
        date = message.headers.get(":date")
        signature = message.headers.get(":chunk-signature")
        if not isinstance(date, int) or not isinstance(signature, bytes | bytearray) or len(signature) != 32:
            raise InvalidSignatureException("Each event must carry the :date and :chunk-signature headers.")
        signed_at = datetime.fromtimestamp(date / 1000, UTC)
        if abs(self.verifier.now() - signed_at) > self.verifier.max_skew:
            raise InvalidSignatureException("Signature expired: the event's :date is more than 15 min. away.")
        long_date = signed_at.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{long_date[:8]}/{self.region}/{SERVICE}/aws4_request"
        date_header = struct.pack("!B", 5) + b":date" + b"\x08" + struct.pack("!q", date)
        to_sign = "\n".join(
            [
                EVENT_ALGORITHM,
                long_date,
                scope,
                self.prior,
                hashlib.sha256(date_header).hexdigest(),
                hashlib.sha256(message.payload).hexdigest(),
            ]
        )
        key = signing_key(self.secret, long_date[:8], self.region)
        expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, bytes(signature).hex()):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        self.prior = expected
        return message.payload


def signing_key(secret: str, short_date: str, region: str) -> bytes:
    """SigV4's derived key for ``short_date`` (YYYYMMDD), ``region`` and the transcribe service."""
    key = f"AWS4{secret}".encode()
    for part in (short_date, region, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


__all__ = [
    "ALGORITHM",
    "STREAMING_PAYLOAD",
    "ChunkVerifier",
    "signing_key",
    "verify_presigned",
    "verify_request",
]
