"""The WSGI application: ``GET /health``, the job pages, and signed ``POST /`` requests of the AWS JSON
1.1 protocol handed to :class:`~medscribe_engine.responses.TranscribeResponse`.

``POST /`` with ``X-Amz-Target: Transcribe.<Action>`` and a JSON body; answers with
``application/x-amz-json-1.1``. Errors are ``{"__type": ..., "Message": ...}`` with the code also in
``x-amzn-ErrorType``, so boto3 raises ``client.exceptions.<Code>``. ``GET /health`` answers 200 once the
models are loaded (503 before).

Every request but ``GET /health`` and the job pages must carry a valid SigV4 signature
(:mod:`medscribe_engine.auth`); it is checked before anything else. Nothing of a request body is logged.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from medscribe_engine import validation
from medscribe_engine.auth import SigV4Verifier
from medscribe_engine.exceptions import (
    InternalFailureException,
    RequestEntityTooLargeException,
    SerializationException,
    ServiceUnavailableException,
    TranscribeError,
)
from medscribe_engine.pages import PAGES
from medscribe_engine.store import SCRIBE, TRANSCRIPTION
from medscribe_engine.workers import RETRY_DELAYS_S

log = logging.getLogger("medscribe_engine")

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "Transcribe."


def _json_response(document: dict, status: int = 200, error_type: str | None = None) -> Response:
    response = Response(json.dumps(document), status=status, content_type=CONTENT_TYPE)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response


def _request_url(request: Request) -> str:
    """The URL as the client addressed it: scheme, the Host header, the raw path and query."""
    host = request.headers.get("Host") or request.host
    path = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    if "?" not in path and request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    return f"{request.scheme}://{host}{path}"


def error_response(error: TranscribeError) -> Response:
    return _json_response(error.body(), status=error.status, error_type=error.code)


class EngineApp:
    """The WSGI application.

    :param state: an object with ``ready`` (bool) and ``handler`` (:class:`TranscribeResponse` or None).
    :param verifier: the :class:`~medscribe_engine.auth.SigV4Verifier` requests must pass.
    """

    def __init__(self, state: Any, verifier: SigV4Verifier):
        self.state = state
        self.verifier = verifier

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    JOB_VIEWS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "medical-scribe": ("GetMedicalScribeJob", "MedicalScribeJobName", "MedicalScribeJob"),
        "medical-transcription": (
            "GetMedicalTranscriptionJob",
            "MedicalTranscriptionJobName",
            "MedicalTranscriptionJob",
        ),
    }
    # What the page shows: state, times, reason, settings and output locations; never the media URI.
    JOB_VIEW_FIELDS = (
        "MedicalScribeJobStatus",
        "TranscriptionJobStatus",
        "FailureReason",
        "CreationTime",
        "StartTime",
        "CompletionTime",
        "MedicalScribeOutput",
        "Transcript",
        "Settings",
        "ChannelDefinitions",
        "Specialty",
        "Type",
        "MediaFormat",
        "MediaSampleRateHertz",
        "LanguageCode",
        "DataAccessRoleArn",
    )
    # What a field does offline where that is less than on AWS, keyed by (field, value) or (field, None).
    JOB_VIEW_NOTES: ClassVar[dict[tuple[str, str | None], str]] = {
        ("Specialty", None): "Echoed only: offline, every specialty is recognized with the same model.",
        ("Type", "DICTATION"): "One speaker: no diarization; with ShowSpeakerLabels every word is spk_0.",
        ("DataAccessRoleArn", None): (
            "Not assumed offline: the engine reads the media and writes the outputs with its own S3 "
            "credentials."
        ),
    }

    def job_view(self, path: str) -> Response:
        """``GET /jobs/<medical-scribe|medical-transcription>/<name>``: the job's page (the Airflow extra link).

        Read-only and unsigned so a browser can open it; it shows no media URI and no transcript.
        """
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[1] not in self.JOB_VIEWS or self.state.handler is None:
            return Response("Not Found", status=404, content_type="text/plain")
        action, name_field, key = self.JOB_VIEWS[parts[1]]
        try:
            job = self.state.handler.dispatch(action, {name_field: parts[2]})[key]
        except TranscribeError as error:
            return Response(f"{error.code}", status=404, content_type="text/plain")
        rows = []
        for field in self.JOB_VIEW_FIELDS:
            if field not in job:
                continue
            value = job[field]
            if field.endswith("Time") and isinstance(value, (int, float)):
                value = datetime.fromtimestamp(value, UTC).isoformat()
            elif isinstance(value, (dict, list)):
                value = json.dumps(value, indent=1)
            note = self.JOB_VIEW_NOTES.get((field, value)) or self.JOB_VIEW_NOTES.get((field, None))
            rows.append((field, str(value), note))
        kind = SCRIBE if parts[1] == "medical-scribe" else TRANSCRIPTION
        stored = self.state.handler.backend.store.get(kind, parts[2])
        page = PAGES.get_template("job.html.j2").render(
            name=parts[2],
            rows=rows,
            internal_failures=None if stored is None else stored.internal_failures,
            attempts=len(RETRY_DELAYS_S) + 1,
        )
        return Response(page, status=200, content_type="text/html; charset=utf-8")

    MAX_BODY_BYTES = 1024 * 1024  # the largest JSON body accepted: a transcribe request is a few KiB
    MAX_NESTING = 16  # the deepest JSON accepted: the supported operations' inputs nest 3 levels

    @classmethod
    def _check_document(cls, document: dict) -> None:
        """SerializationException for JSON no operation takes: nested deeper than :attr:`MAX_NESTING`, or
        a string (value or name) with a lone surrogate escape (``"\\ud800"``), which has no UTF-8 form.
        Iterative, so any depth is safe.

        :param document: the parsed request body.
        """
        pending: list[tuple[Any, int]] = [(document, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, dict):
                pending.extend((name, depth) for name in item)
                item = list(item.values())
            if isinstance(item, list):
                if depth > cls.MAX_NESTING:
                    raise SerializationException(
                        f"The request body nests objects and arrays deeper than {cls.MAX_NESTING} levels."
                    )
                pending.extend((child, depth + 1) for child in item)
            elif isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise SerializationException(
                        "The request body holds a string that is not valid Unicode (a lone surrogate)."
                    ) from None

    def handle(self, request: Request) -> Response:
        """Answer one request: ``/health``, a job's page, or a signed ``POST /`` of the JSON 1.1 protocol.

        :param request: the incoming request.
        """
        if request.method == "GET" and request.path == "/health":
            ready = bool(self.state.ready) and not self.state.stopping
            document = {"status": "ready" if ready else ("stopping" if self.state.stopping else "loading")}
            return Response(
                json.dumps(document), status=200 if ready else 503, content_type="application/json"
            )
        if request.method == "GET" and request.path.startswith("/jobs/"):
            return self.job_view(request.path)
        if request.method != "POST" or request.path != "/":
            return Response(json.dumps({"message": "Not Found"}), status=404, content_type="application/json")
        target = request.headers.get("X-Amz-Target", "")
        action = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        logged_action = action if action in validation.SUPPORTED_ACTIONS else "(unknown action)"
        try:
            # what the headers alone show is checked first: a request that cannot pass is refused unread
            signed = self.verifier.check_headers(dict(request.headers))
            request.max_content_length = self.MAX_BODY_BYTES
            try:
                body = request.get_data()
            except RequestEntityTooLarge:
                raise RequestEntityTooLargeException(
                    f"The request body is larger than {self.MAX_BODY_BYTES} bytes, the most the engine takes."
                ) from None
            self.verifier.check_signature(signed, request.method, _request_url(request), body)
            if not self.state.ready or self.state.handler is None or self.state.stopping:
                raise ServiceUnavailableException("The engine is not ready. Try your request again later.")
            validation.operation_model(action)
            try:
                params = json.loads(body or b"{}")
            except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
                raise SerializationException("The request body is not valid JSON.") from None
            if not isinstance(params, dict):
                raise SerializationException("The request body must be a JSON object.")
            self._check_document(params)
            document = self.state.handler.dispatch(action, params)
        except TranscribeError as error:
            log.info("%s -> %s", logged_action, error.code)
            return error_response(error)
        except Exception as error:
            log.error("%s -> internal error %s", logged_action, type(error).__name__)
            return error_response(
                InternalFailureException("An internal failure occurred. Try your request again.")
            )
        return _json_response(document)
