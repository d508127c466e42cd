"""The response structures of the API: a stored job, vocabulary or filter as AWS's JSON shapes
(MedicalTranscriptionJob, MedicalScribeJob, their summaries, vocabulary and filter fields)."""

from __future__ import annotations

from medscribe_engine.pipeline.s3 import object_url, parse_media_uri
from medscribe_engine.store import COMPLETED, Job
from medscribe_engine.vocabularies import Vocabulary
from medscribe_engine.vocabulary_filters import VocabularyFilter


def _time(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def compact(document: dict) -> dict:
    """``document`` without its None values: AWS leaves absent fields out."""
    return {key: value for key, value in document.items() if value is not None}


def medical_transcription_job(job: Job) -> dict:
    """The MedicalTranscriptionJob structure."""
    request = job.request
    return compact(
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
    return compact(
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
    return compact(
        {
            "MedicalScribeJobName": job.name,
            "MedicalScribeJobStatus": job.status,
            "LanguageCode": "en-US",
            "Media": request.get("Media"),
            "MedicalScribeOutput": compact(
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
    return compact(
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
    location = parse_media_uri(vocabulary.file_uri) if download else None
    return compact(
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
    location = parse_media_uri(item.file_uri) if download and item.file_uri else None
    return compact(
        {
            "VocabularyFilterName": item.name,
            "LanguageCode": item.language_code,
            "LastModifiedTime": _time(item.last_modified_time),
            "DownloadUri": object_url(location.bucket, location.key) if location else None,
            "DataAccessRoleArn": item.data_access_role_arn if download else None,
        }
    )
