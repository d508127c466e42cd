"""AWS error codes of the ``transcribe`` service, as the engine returns them.

Each class carries the ``__type`` botocore maps to ``client.exceptions.<Name>`` (JSON 1.1 errors are
matched by ``__type``, not by status) and the HTTP status AWS uses for it: the service's own errors take
the ``httpStatusCode`` that botocore 1.44's model declares. Messages must never carry transcript text,
S3 keys or media URIs.
"""

from __future__ import annotations

JOB_NOT_FOUND = "The requested job couldn't be found. Check the job name and try your request again."
JOB_NAME_EXISTS = "The requested job name already exists. Use a different job name."


class TranscribeError(Exception):
    """Base of the errors rendered as AWS JSON 1.1 error responses."""

    code = "InternalFailureException"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"__type": self.code, "Message": self.message}


class BadRequestException(TranscribeError):
    code = "BadRequestException"
    status = 400


class ConflictException(TranscribeError):
    code = "ConflictException"
    status = 409


class NotFoundException(TranscribeError):
    code = "NotFoundException"
    status = 404


class LimitExceededException(TranscribeError):
    code = "LimitExceededException"
    status = 429


class InternalFailureException(TranscribeError):
    code = "InternalFailureException"
    status = 500


class UnknownOperationException(TranscribeError):
    code = "UnknownOperationException"
    status = 400


class SerializationException(TranscribeError):
    """The body is not a JSON object (AWS answers malformed JSON 1.1 bodies with this code)."""

    code = "SerializationException"
    status = 400


class ServiceUnavailableException(TranscribeError):
    """The engine is still loading its models or shutting down."""

    code = "ServiceUnavailableException"
    status = 503


class MissingAuthenticationTokenException(TranscribeError):
    """The request is not signed."""

    code = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(TranscribeError):
    """The Authorization header is not a complete SigV4 authorization."""

    code = "IncompleteSignatureException"
    status = 403


class UnrecognizedClientException(TranscribeError):
    """The access key id is not one the engine knows."""

    code = "UnrecognizedClientException"
    status = 403


class InvalidSignatureException(TranscribeError):
    """The signature does not match (wrong secret, wrong scope, or a date outside the allowed skew)."""

    code = "InvalidSignatureException"
    status = 403


class RequestEntityTooLargeException(TranscribeError):
    """The request body is over the engine's limit; refused from its Content-Length, before it is read."""

    code = "RequestEntityTooLargeException"
    status = 413
