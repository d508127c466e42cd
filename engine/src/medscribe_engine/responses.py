"""The actions of the ``transcribe`` service: one handler per action, validated params in, the response
document out (:mod:`medscribe_engine.app` carries them over HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partialmethod

from medscribe_engine import validation
from medscribe_engine.exceptions import BadRequestException
from medscribe_engine.jobs import TranscribeBackend
from medscribe_engine.shapes import (
    compact,
    medical_scribe_job,
    medical_scribe_job_summary,
    medical_transcription_job,
    medical_transcription_job_summary,
    medical_vocabulary,
    vocabulary_filter,
)
from medscribe_engine.store import SCRIBE, TRANSCRIPTION, Job
from medscribe_engine.tagging import TagService
from medscribe_engine.vocabularies import VocabularyBackend
from medscribe_engine.vocabulary_filters import VocabularyFilterBackend


@dataclass(frozen=True)
class _JobKind:
    """What the Start/Get/List/Delete actions of one job kind differ in: the store's kind, the request's
    name field, the response's keys and shapes, and the checks a Start request passes."""

    store_kind: str
    name_field: str
    job_key: str
    summaries_key: str
    job: Callable[[Job], dict]
    summary: Callable[[Job], dict]
    check_start: Callable[[dict, bool], None]


_TRANSCRIPTION_JOBS = _JobKind(
    TRANSCRIPTION,
    "MedicalTranscriptionJobName",
    "MedicalTranscriptionJob",
    "MedicalTranscriptionJobSummaries",
    medical_transcription_job,
    medical_transcription_job_summary,
    validation.check_start_medical_transcription_job,
)
_SCRIBE_JOBS = _JobKind(
    SCRIBE,
    "MedicalScribeJobName",
    "MedicalScribeJob",
    "MedicalScribeJobSummaries",
    medical_scribe_job,
    medical_scribe_job_summary,
    validation.check_start_medical_scribe_job,
)


class TranscribeResponse:
    """One handler per action: params (validated) -> response document.

    :param backend: the :class:`~medscribe_engine.jobs.TranscribeBackend`.
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
        return compact({"NextToken": token, "VocabularyFilters": [vocabulary_filter(item) for item in items]})

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
        return compact(
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

    def _start_job(self, kind: _JobKind, params: dict) -> dict:
        kind.check_start(params, self.diarization_available)
        self._check_vocabulary(params.get("Settings"))
        job = self.backend.start(kind.store_kind, params[kind.name_field], params)
        return {kind.job_key: kind.job(job)}

    def _get_job(self, kind: _JobKind, params: dict) -> dict:
        job = self.backend.get(kind.store_kind, params[kind.name_field])
        return {kind.job_key: kind.job(job)}

    def _list_jobs(self, kind: _JobKind, params: dict) -> dict:
        jobs, token = self.backend.list(
            kind.store_kind,
            params.get("Status"),
            params.get("JobNameContains"),
            params.get("NextToken"),
            params.get("MaxResults"),
        )
        return compact(
            {
                "Status": params.get("Status"),
                "NextToken": token,
                kind.summaries_key: [kind.summary(job) for job in jobs],
            }
        )

    def _delete_job(self, kind: _JobKind, params: dict) -> dict:
        self.backend.delete(kind.store_kind, params[kind.name_field])
        return {}

    start_medical_transcription_job = partialmethod(_start_job, _TRANSCRIPTION_JOBS)
    get_medical_transcription_job = partialmethod(_get_job, _TRANSCRIPTION_JOBS)
    list_medical_transcription_jobs = partialmethod(_list_jobs, _TRANSCRIPTION_JOBS)
    delete_medical_transcription_job = partialmethod(_delete_job, _TRANSCRIPTION_JOBS)
    start_medical_scribe_job = partialmethod(_start_job, _SCRIBE_JOBS)
    get_medical_scribe_job = partialmethod(_get_job, _SCRIBE_JOBS)
    list_medical_scribe_jobs = partialmethod(_list_jobs, _SCRIBE_JOBS)
    delete_medical_scribe_job = partialmethod(_delete_job, _SCRIBE_JOBS)


def _snake(action: str) -> str:
    out = []
    for index, char in enumerate(action):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
