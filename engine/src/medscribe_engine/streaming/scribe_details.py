"""GetMedicalScribeStream (``GET /medical-scribe-stream/{SessionId}``): a session's details, as JSON.

The SDKs send it over the same HTTP/2 connection type as the streams, signed with plain SigV4 (the hash
of the empty body, not the streaming payload hash), so it is checked here rather than by the batch
port's WSGI verifier. ``MedicalScribeStreamDetails`` carries the accepted headers and ConfigurationEvent,
``StreamStatus`` and the times (epoch seconds, restJson1's default), and once END_OF_SESSION was sent,
``PostStreamAnalyticsResult.ClinicalNoteGenerationResult`` with its Status and, when COMPLETED, the
output locations (the URIs of the objects, in the form of the batch jobs' TranscriptFileUri).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from medscribe_engine.auth import SIGNATURE_MISMATCH, SigV4Verifier
from medscribe_engine.exceptions import BadRequestException, InvalidSignatureException, TranscribeError
from medscribe_engine.streaming.sessions import Session
from medscribe_engine.streaming.settings import SESSION_ID
from medscribe_engine.streaming.signing import check_request_signature, checked_headers
from medscribe_engine.streaming.wire import error_response, json_response

if TYPE_CHECKING:
    from medscribe_engine.streaming.app import StreamingService

NOT_FOUND = "The requested resource couldn't be found. Check that the SessionId is correct and try again."
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def verify_plain_request(
    verifier: SigV4Verifier, method: str, path: str, query: str, headers: dict[str, str], body: bytes = b""
) -> None:
    """Nothing for a correctly SigV4-signed request; the AWS error otherwise. As
    :func:`~medscribe_engine.streaming.signing.verify_request`, but the payload hash is the body's.

    :param headers: the request headers, lower-cased names; ``:authority`` for HTTP/2 requests.
    """
    signed, names = checked_headers(verifier, headers)
    claimed = headers.get("x-amz-content-sha256")
    payload_hash = hashlib.sha256(body).hexdigest()
    if claimed not in (None, payload_hash, UNSIGNED_PAYLOAD):
        raise InvalidSignatureException(SIGNATURE_MISMATCH)
    if claimed == UNSIGNED_PAYLOAD:
        payload_hash = claimed
    canonical_query = "&".join(
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key, value in sorted(parse_qsl(query, keep_blank_values=True))
    )
    check_request_signature(verifier, signed, names, headers, method, path, canonical_query, payload_hash)


def stream_details(session: Session) -> dict:
    """``MedicalScribeStreamDetails`` of ``session``."""
    configuration = session.configuration
    details: dict = {
        "SessionId": session.session_id,
        "StreamCreatedAt": round(session.created_at, 3),
        "LanguageCode": session.language_code,
        "MediaSampleRateHertz": session.sample_rate,
        "MediaEncoding": session.media_encoding,
        "ResourceAccessRoleArn": configuration["ResourceAccessRoleArn"],
        "StreamStatus": session.status,
        "PostStreamAnalyticsSettings": configuration["PostStreamAnalyticsSettings"],
        "MedicalScribeContextProvided": "MedicalScribeContext" in configuration,
    }
    if session.ended_at is not None:
        details["StreamEndedAt"] = round(session.ended_at, 3)
    for name in ("VocabularyName", "VocabularyFilterName", "VocabularyFilterMethod"):
        if configuration.get(name):
            details[name] = configuration[name]
    for name in ("ChannelDefinitions", "EncryptionSettings"):
        if configuration.get(name):
            details[name] = configuration[name]
    if session.analytics_status:
        result: dict = {"Status": session.analytics_status}
        if session.clinical_note_uri:
            result["ClinicalNoteOutputLocation"] = session.clinical_note_uri
        if session.transcript_uri:
            result["TranscriptOutputLocation"] = session.transcript_uri
        if session.failure_reason:
            result["FailureReason"] = session.failure_reason
        details["PostStreamAnalyticsResult"] = {"ClinicalNoteGenerationResult": result}
    return details


async def get_scribe_stream(service: StreamingService, scope, send) -> None:
    """Answer one GetMedicalScribeStream request."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    if scope.get("http_version") == "2":
        headers[":authority"] = headers.get("host", "")
    try:
        verify_plain_request(
            service.verifier, "GET", scope["path"], scope["query_string"].decode("latin-1"), headers
        )
        session_id = scope["path"].rpartition("/")[2]
        if not SESSION_ID.match(session_id):
            raise BadRequestException("The session id must be a UUID (36 characters).")
        session = service.sessions.get(session_id.lower()) if service.sessions is not None else None
    except TranscribeError as error:
        await error_response(send, error.status, error.code, error.message)
        return
    if session is None:
        await error_response(send, 404, "ResourceNotFoundException", NOT_FOUND)
        return
    await json_response(send, 200, {"MedicalScribeStreamDetails": stream_details(session)})
