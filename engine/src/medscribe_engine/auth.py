"""Request authentication: AWS Signature Version 4, checked with botocore's own signer.

Every request except ``GET /health`` must be signed (``Authorization: AWS4-HMAC-SHA256 ...``) for the
``transcribe`` service with a key the engine knows. The check rebuilds a botocore ``AWSRequest`` from
the incoming method, URL, the headers named in ``SignedHeaders`` and the body, computes
:class:`botocore.auth.SigV4Auth`'s signature at the request's own ``X-Amz-Date`` and compares it with
:func:`hmac.compare_digest`. Refusals use AWS's codes:

====================================  ======================================================
``MissingAuthenticationTokenException``  no ``Authorization`` header (an unsigned request)
``IncompleteSignatureException``         a header that is not a SigV4 authorization
``UnrecognizedClientException``          an access key id the engine does not know
``InvalidSignatureException``            a wrong signature, a wrong scope (service, or a region
                                         other than the engine's), or a date more than
                                         15 minutes away from the engine's clock
====================================  ======================================================

:meth:`SigV4Verifier.check_headers` checks everything the headers alone can show, so a request that
cannot pass is refused before its body is read; :meth:`SigV4Verifier.check_signature` then checks the
signature over the body.

Nothing of a request, and no key, is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from medscribe_engine.exceptions import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from medscribe_engine.pipeline.s3 import DEFAULT_REGION

SERVICE = "transcribe"
ALGORITHM = "AWS4-HMAC-SHA256"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
ACCESS_KEY_ENV = "MEDSCRIBE_ENGINE_ACCESS_KEY_ID"
SECRET_KEY_ENV = "MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY"
# the local stack's credentials (medscribe_harness.devstack.LOCAL_ACCESS_KEY_ID / LOCAL_SECRET_ACCESS_KEY)
DEFAULT_ACCESS_KEY_ID = "medscribe-local"
DEFAULT_SECRET_ACCESS_KEY = "medscribe-local-secret"

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class SigningKey:
    """An access key id and its secret."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_env(cls, access_key_id: str | None = None, secret_access_key: str | None = None) -> SigningKey:
        """The engine's key: the arguments, else ``MEDSCRIBE_ENGINE_ACCESS_KEY_ID`` /
        ``MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY``, else the local stack's ``medscribe-local`` pair."""
        return cls(
            access_key_id or os.environ.get(ACCESS_KEY_ENV) or DEFAULT_ACCESS_KEY_ID,
            secret_access_key or os.environ.get(SECRET_KEY_ENV) or DEFAULT_SECRET_ACCESS_KEY,
        )


def _parse_amz_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def engine_region() -> str:
    """The region the engine serves: ``AWS_DEFAULT_REGION``, else ``AWS_REGION``, else us-east-1 (as the
    engine's S3 client; the local stack sets ``AWS_DEFAULT_REGION``)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION


@dataclass(frozen=True)
class SignedHeaders:
    """What :meth:`SigV4Verifier.check_headers` read from a request's headers."""

    access_key_id: str
    secret: str
    amz_date: str
    signed_names: list[str]
    signature: str
    lowered: dict[str, str]


class SigV4Verifier:
    """Checks the SigV4 signature of incoming requests.

    :param keys: the keys requests may be signed with.
    :param max_skew: how far a request's date may be from the engine's clock.
    :param now: the clock (tests replace it).
    :param region: the region credentials must be scoped to (default: :func:`engine_region`).
    """

    def __init__(
        self, keys: list[SigningKey], max_skew: timedelta = MAX_SKEW, now=None, region: str | None = None
    ):
        self.secrets = {key.access_key_id: key.secret_access_key for key in keys}
        self.max_skew = max_skew
        self.now = now or (lambda: datetime.now(UTC))
        self.region = region or engine_region()

    def verify(self, method: str, url: str, headers: dict[str, str], body: bytes) -> str:
        """Return the access key id of a correctly signed request; raise the AWS error otherwise.

        :param method: the HTTP method.
        :param url: the full URL as the client addressed it (``http://<Host header><path>[?query]``).
        :param headers: the request headers (any case).
        :param body: the raw body.
        """
        return self.check_signature(self.check_headers(headers), method, url, body)

    def check_headers(self, headers: dict[str, str]) -> SignedHeaders:
        """Everything but the signature itself: the Authorization header's shape, the key, the scope
        (date, region, service), the date's skew and the signed headers. Raise the AWS error otherwise.

        :param headers: the request headers (any case).
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        authorization = lowered.get("authorization")
        if not authorization:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        match = _AUTH_RE.match(authorization.strip())
        if not match:
            raise IncompleteSignatureException(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
                f"of the {ALGORITHM} algorithm."
            )
        scope = match["credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise IncompleteSignatureException(
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                "keyid/date/region/service/term."
            )
        access_key_id, scope_date, region, service, _term = scope
        secret = self.secrets.get(access_key_id)
        if secret is None:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        if service != SERVICE:
            raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'.")
        if region != self.region:
            raise InvalidSignatureException("Credential should be scoped to a valid region.")
        amz_date = lowered.get("x-amz-date", "")
        signed_at = _parse_amz_date(amz_date)
        if signed_at is None:
            raise IncompleteSignatureException("The request must carry a valid X-Amz-Date header.")
        if scope_date != amz_date[:8]:
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{scope_date}' != '{amz_date[:8]}'."
            )
        now = self.now()
        if abs(now - signed_at) > self.max_skew:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than "
                f"{(now - self.max_skew).strftime(SIGV4_TIMESTAMP)} "
                f"({now.strftime(SIGV4_TIMESTAMP)} - 15 min.)"
                if signed_at < now
                else f"Signature not yet current: {amz_date} is still later than "
                f"{(now + self.max_skew).strftime(SIGV4_TIMESTAMP)} "
                f"({now.strftime(SIGV4_TIMESTAMP)} + 15 min.)"
            )
        signed_names = match["headers"].split(";")
        if "host" not in signed_names or "x-amz-date" not in signed_names:
            raise InvalidSignatureException("The Host and X-Amz-Date headers must be signed.")
        return SignedHeaders(access_key_id, secret, amz_date, signed_names, match["signature"], lowered)

    def check_signature(self, signed: SignedHeaders, method: str, url: str, body: bytes) -> str:
        """Return the access key id when the signature over ``body`` matches; raise the AWS error otherwise.

        :param signed: what :meth:`check_headers` returned for the request.
        :param method: the HTTP method.
        :param url: the full URL as the client addressed it (``http://<Host header><path>[?query]``).
        :param body: the raw body.
        """
        claimed_payload = signed.lowered.get("x-amz-content-sha256")
        if claimed_payload is not None and claimed_payload != hashlib.sha256(body).hexdigest():
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        try:
            expected = self._signature(
                method,
                url,
                signed.lowered,
                signed.signed_names,
                body,
                signed.access_key_id,
                signed.secret,
                self.region,
                signed.amz_date,
            )
        except ValueError:  # a URL that cannot be canonicalized (e.g. a Host of "[") was not what was signed
            raise InvalidSignatureException(SIGNATURE_MISMATCH) from None
        if not hmac.compare_digest(expected, signed.signature):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        return signed.access_key_id

    @staticmethod
    def _signature(
        method: str,
        url: str,
        lowered: dict[str, str],
        signed_names: list[str],
        body: bytes,
        access_key_id: str,
        secret: str,
        region: str,
        amz_date: str,
    ) -> str:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        token = lowered.get("x-amz-security-token") if "x-amz-security-token" in signed_names else None
        request = AWSRequest(
            method=method,
            url=url,
            headers={name: lowered.get(name, "") for name in signed_names},
            data=body,
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key_id, secret, token), SERVICE, region)
        canonical = signer.canonical_request(request)
        return signer.signature(signer.string_to_sign(request, canonical), request)
