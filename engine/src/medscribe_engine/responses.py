"""The wire protocol: AWS JSON 1.1 of the ``transcribe`` service, as a WSGI application.

``POST /`` with ``X-Amz-Target: Transcribe.<Action>`` and a JSON body; answers with
``application/x-amz-json-1.1``. Errors are ``{"__type": ..., "Message": ...}`` with the code also in
``x-amzn-ErrorType``, so boto3 raises ``client.exceptions.<Code>``. Timestamps are epoch seconds.
``GET /health`` answers 200 once the models are loaded (503 before).

Every request but ``GET /health`` must carry a valid SigV4 signature (:mod:`medscribe_engine.auth`);
it is checked before anything else. Nothing of a request body is logged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from medscribe_engine import validation
from medscribe_engine.auth import SigV4Verifier
from medscribe_engine.exceptions import (
    BadRequestException,
    InternalFailureException,
    RequestEntityTooLargeException,
    SerializationException,
    ServiceUnavailableException,
    TranscribeError,
)
from medscribe_engine.models import COMPLETED, RETRY_DELAYS_S, SCRIBE, TRANSCRIPTION, Job, TranscribeBackend
from medscribe_engine.pages import PAGES
from medscribe_engine.tagging import TagService
from medscribe_engine.vocabularies import Vocabulary, VocabularyBackend
from medscribe_engine.vocabulary_filters import VocabularyFilter, VocabularyFilterBackend

log = logging.getLogger("medscribe_engine")

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "Transcribe."


def _time(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _compact(document: dict) -> dict:
    return {key: value for key, value in document.items() if value is not None}


def medical_transcription_job(job: Job) -> dict:
    """The MedicalTranscriptionJob structure."""
    request = job.request
    return _compact(
        {
            "MedicalTranscriptionJobName": job.name,
            "TranscriptionJobStatus": job.status,
            "LanguageCode": request.get("LanguageCode"),
            "MediaSampleRateHertz": request.get("MediaSampleRateHertz") or job.media_sample_rate,
            "MediaFormat": request.get("MediaFormat") or job.media_format,
            "Media": request.get("Media"),
            "Transcript": {"TranscriptFileUri": job.transcript_uri} if job.status == COMPLETED else {},
            "StartTime": _time(job.start_time),
            "CreationTime": _time(job.creation_time),
            "CompletionTime": _time(job.completion_time),
            "FailureReason": job.failure_reason,
            "Settings": request.get("Settings"),
            "ContentIdentificationType": request.get("ContentIdentificationType"),
            "Specialty": request.get("Specialty"),
            "Type": request.get("Type"),
            "Tags": request.get("Tags"),
        }
    )


def medical_transcription_job_summary(job: Job) -> dict:
    request = job.request
    return _compact(
        {
            "MedicalTranscriptionJobName": job.name,
            "CreationTime": _time(job.creation_time),
            "StartTime": _time(job.start_time),
            "CompletionTime": _time(job.completion_time),
            "LanguageCode": request.get("LanguageCode"),
            "TranscriptionJobStatus": job.status,
            "FailureReason": job.failure_reason,
            "OutputLocationType": "CUSTOMER_BUCKET",
            "ContentIdentificationType": request.get("ContentIdentificationType"),
            "Specialty": request.get("Specialty"),
            "Type": request.get("Type"),
        }
    )


def medical_scribe_job(job: Job) -> dict:
    """The MedicalScribeJob structure."""
    request = job.request
    return _compact(
        {
            "MedicalScribeJobName": job.name,
            "MedicalScribeJobStatus": job.status,
            "LanguageCode": "en-US",
            "Media": request.get("Media"),
            "MedicalScribeOutput": _compact(
                {"TranscriptFileUri": job.transcript_uri, "ClinicalDocumentUri": job.clinical_document_uri}
            )
            if job.status == COMPLETED
            else None,
            "StartTime": _time(job.start_time),
            "CreationTime": _time(job.creation_time),
            "CompletionTime": _time(job.completion_time),
            "FailureReason": job.failure_reason,
            "Settings": request.get("Settings"),
            "DataAccessRoleArn": request.get("DataAccessRoleArn"),
            "ChannelDefinitions": request.get("ChannelDefinitions"),
            "MedicalScribeContextProvided": True if request.get("MedicalScribeContext") else None,
            "Tags": request.get("Tags"),
        }
    )


def medical_scribe_job_summary(job: Job) -> dict:
    return _compact(
        {
            "MedicalScribeJobName": job.name,
            "CreationTime": _time(job.creation_time),
            "StartTime": _time(job.start_time),
            "CompletionTime": _time(job.completion_time),
            "LanguageCode": "en-US",
            "MedicalScribeJobStatus": job.status,
            "FailureReason": job.failure_reason,
        }
    )


def medical_vocabulary(vocabulary: Vocabulary, *, download: bool = False) -> dict:
    """The fields of a vocabulary as Create/Get/Update/List return them."""
    from medscribe_engine.storage import object_url, parse_media_uri

    location = parse_media_uri(vocabulary.file_uri) if download else None
    return _compact(
        {
            "VocabularyName": vocabulary.name,
            "LanguageCode": vocabulary.language_code,
            "VocabularyState": vocabulary.state,
            "LastModifiedTime": _time(vocabulary.last_modified_time),
            "FailureReason": vocabulary.failure_reason if download else None,
            "DownloadUri": object_url(location.bucket, location.key) if location else None,
        }
    )


def vocabulary_filter(item: VocabularyFilter, *, download: bool = False) -> dict:
    """The fields of a vocabulary filter as Create/Get/Update/List return them.

    :param item: the stored filter.
    :param download: GetVocabularyFilter's fields too (DownloadUri, DataAccessRoleArn).
    """
    from medscribe_engine.storage import object_url, parse_media_uri

    location = parse_media_uri(item.file_uri) if download and item.file_uri else None
    return _compact(
        {
            "VocabularyFilterName": item.name,
            "LanguageCode": item.language_code,
            "LastModifiedTime": _time(item.last_modified_time),
            "DownloadUri": object_url(location.bucket, location.key) if location else None,
            "DataAccessRoleArn": item.data_access_role_arn if download else None,
        }
    )


class TranscribeResponse:
    """One handler per action: params (validated) -> response document.

    :param backend: the :class:`~medscribe_engine.models.TranscribeBackend`.
    :param diarization_available: whether single-channel speaker labels can be served.
    :param vocabularies: the :class:`~medscribe_engine.vocabularies.VocabularyBackend` (None: the
        vocabulary actions answer BadRequestException).
    """

    def __init__(
        self,
        backend: TranscribeBackend,
        diarization_available: bool,
        vocabularies: VocabularyBackend | None = None,
        filters: VocabularyFilterBackend | None = None,
        tags: TagService | None = None,
    ):
        self.backend = backend
        self.diarization_available = diarization_available
        self.vocabularies = vocabularies
        self.filters = filters
        self.tags = tags

    def _tag_service(self) -> TagService:
        if self.tags is None:
            raise BadRequestException("Resource tags are not available in this engine.")
        return self.tags

    def tag_resource(self, params: dict) -> dict:
        self._tag_service().tag(params["ResourceArn"], params["Tags"])
        return {}

    def untag_resource(self, params: dict) -> dict:
        self._tag_service().untag(params["ResourceArn"], params["TagKeys"])
        return {}

    def list_tags_for_resource(self, params: dict) -> dict:
        return {"ResourceArn": params["ResourceArn"], "Tags": self._tag_service().list(params["ResourceArn"])}

    def _filter_backend(self) -> VocabularyFilterBackend:
        if self.filters is None:
            raise BadRequestException("Vocabulary filters are not available in this engine.")
        return self.filters

    def create_vocabulary_filter(self, params: dict) -> dict:
        validation.check_vocabulary_filter_request(params)
        item = self._filter_backend().create(
            params["VocabularyFilterName"],
            params["LanguageCode"],
            params.get("Words"),
            params.get("VocabularyFilterFileUri"),
            params.get("Tags"),
            params.get("DataAccessRoleArn"),
        )
        return vocabulary_filter(item)

    def update_vocabulary_filter(self, params: dict) -> dict:
        validation.check_vocabulary_filter_request(params)
        item = self._filter_backend().update(
            params["VocabularyFilterName"],
            params.get("Words"),
            params.get("VocabularyFilterFileUri"),
            params.get("DataAccessRoleArn"),
        )
        return vocabulary_filter(item)

    def get_vocabulary_filter(self, params: dict) -> dict:
        return vocabulary_filter(self._filter_backend().get(params["VocabularyFilterName"]), download=True)

    def delete_vocabulary_filter(self, params: dict) -> dict:
        self._filter_backend().delete(params["VocabularyFilterName"])
        return {}

    def list_vocabulary_filters(self, params: dict) -> dict:
        items, token = self._filter_backend().list(
            params.get("NameContains"), params.get("NextToken"), params.get("MaxResults")
        )
        return _compact(
            {"NextToken": token, "VocabularyFilters": [vocabulary_filter(item) for item in items]}
        )

    def _vocabulary_backend(self) -> VocabularyBackend:
        if self.vocabularies is None:
            raise BadRequestException("Custom vocabularies are not available in this engine.")
        return self.vocabularies

    def _check_vocabulary(self, settings: dict | None) -> None:
        name = (settings or {}).get("VocabularyName")
        if name:
            self._vocabulary_backend().ready_entries(name)
        filter_name = (settings or {}).get("VocabularyFilterName")
        if filter_name:
            self._filter_backend().words_of(filter_name)

    def create_medical_vocabulary(self, params: dict) -> dict:
        vocabulary = self._vocabulary_backend().create(
            params["VocabularyName"], params["LanguageCode"], params["VocabularyFileUri"], params.get("Tags")
        )
        document = medical_vocabulary(vocabulary)
        return document

    def get_medical_vocabulary(self, params: dict) -> dict:
        return medical_vocabulary(self._vocabulary_backend().get(params["VocabularyName"]), download=True)

    def update_medical_vocabulary(self, params: dict) -> dict:
        vocabulary = self._vocabulary_backend().update(
            params["VocabularyName"], params["LanguageCode"], params["VocabularyFileUri"]
        )
        return medical_vocabulary(vocabulary)

    def delete_medical_vocabulary(self, params: dict) -> dict:
        self._vocabulary_backend().delete(params["VocabularyName"])
        return {}

    def list_medical_vocabularies(self, params: dict) -> dict:
        items, token = self._vocabulary_backend().list(
            params.get("StateEquals"),
            params.get("NameContains"),
            params.get("NextToken"),
            params.get("MaxResults"),
        )
        return _compact(
            {
                "Status": params.get("StateEquals"),
                "NextToken": token,
                "Vocabularies": [medical_vocabulary(item) for item in items],
            }
        )

    def dispatch(self, action: str, params: dict) -> dict:
        validation.validate_with_model(action, params)
        handler: Callable[[dict], dict] = getattr(self, _snake(action))
        return handler(params)

    def start_medical_transcription_job(self, params: dict) -> dict:
        validation.check_start_medical_transcription_job(params, self.diarization_available)
        self._check_vocabulary(params.get("Settings"))
        job = self.backend.start(TRANSCRIPTION, params["MedicalTranscriptionJobName"], params)
        return {"MedicalTranscriptionJob": medical_transcription_job(job)}

    def get_medical_transcription_job(self, params: dict) -> dict:
        job = self.backend.get(TRANSCRIPTION, params["MedicalTranscriptionJobName"])
        return {"MedicalTranscriptionJob": medical_transcription_job(job)}

    def list_medical_transcription_jobs(self, params: dict) -> dict:
        jobs, token = self.backend.list(
            TRANSCRIPTION,
            params.get("Status"),
            params.get("JobNameContains"),
            params.get("NextToken"),
            params.get("MaxResults"),
        )
        return _compact(
            {
                "Status": params.get("Status"),
                "NextToken": token,
                "MedicalTranscriptionJobSummaries": [medical_transcription_job_summary(job) for job in jobs],
            }
        )

    def delete_medical_transcription_job(self, params: dict) -> dict:
        self.backend.delete(TRANSCRIPTION, params["MedicalTranscriptionJobName"])
        return {}

    def start_medical_scribe_job(self, params: dict) -> dict:
        validation.check_start_medical_scribe_job(params, self.diarization_available)
        self._check_vocabulary(params.get("Settings"))
        job = self.backend.start(SCRIBE, params["MedicalScribeJobName"], params)
        return {"MedicalScribeJob": medical_scribe_job(job)}

    def get_medical_scribe_job(self, params: dict) -> dict:
        job = self.backend.get(SCRIBE, params["MedicalScribeJobName"])
        return {"MedicalScribeJob": medical_scribe_job(job)}

    def list_medical_scribe_jobs(self, params: dict) -> dict:
        jobs, token = self.backend.list(
            SCRIBE,
            params.get("Status"),
            params.get("JobNameContains"),
            params.get("NextToken"),
            params.get("MaxResults"),
        )
        return _compact(
            {
                "Status": params.get("Status"),
                "NextToken": token,
                "MedicalScribeJobSummaries": [medical_scribe_job_summary(job) for job in jobs],
            }
        )

    def delete_medical_scribe_job(self, params: dict) -> dict:
        self.backend.delete(SCRIBE, params["MedicalScribeJobName"])
        return {}


def _snake(action: str) -> str:
    out = []
    for index, char in enumerate(action):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


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

    JOB_VIEWS = {
        "medical-scribe": ("GetMedicalScribeJob", "MedicalScribeJobName", "MedicalScribeJob"),
        "medical-transcription": ("GetMedicalTranscriptionJob", "MedicalTranscriptionJobName", "MedicalTranscriptionJob"),
    }
    # What the page shows: state, times, reason, settings and output locations; never the media URI.
    JOB_VIEW_FIELDS = (
        "MedicalScribeJobStatus", "TranscriptionJobStatus", "FailureReason", "CreationTime", "StartTime",
        "CompletionTime", "MedicalScribeOutput", "Transcript", "Settings", "ChannelDefinitions", "Specialty",
        "Type", "MediaFormat", "MediaSampleRateHertz", "LanguageCode", "DataAccessRoleArn",
    )
    # What a field does offline where that is less than on AWS, keyed by (field, value) or (field, None).
    JOB_VIEW_NOTES = {
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
        except Exception as error:  # noqa: BLE001 - never leak internals, never die
            log.error("%s -> internal error %s", logged_action, type(error).__name__)
            return error_response(
                InternalFailureException("An internal failure occurred. Try your request again.")
            )
        return _json_response(document)
