"""Stage ``writers``: the output files, in AWS's formats, put to the output bucket.

* Transcribe Medical (:func:`transcribe_medical_json`): snake_case keys, times and confidences as
  strings, lower-case item types, punctuation items without times; ``speaker_labels`` with speaker
  labels (``speaker_label`` only inside its segments' items, as in Transcribe Medical's example) and
  ``channel_labels`` with channel identification (``channel_label`` repeated on the top-level items).
  Written to ``OutputKey`` when it names a ``.json`` file, to ``<OutputKey>/medical/<JobName>.json`` when
  it names a folder, and to ``medical/<JobName>.json`` without an OutputKey. A final key S3 would refuse
  (over 1,024 bytes) or that a URL client would resolve elsewhere (a ``.`` or ``..`` segment) is refused:
  at Start by :mod:`medscribe_engine.validation` (:func:`output_key_refusal`), and here again.
* HealthScribe (:func:`healthscribe_transcript_json`): ``{"Conversation": {...}}`` with PascalCase keys,
  numbers as JSON numbers, upper-case types; written to ``<JobName>/transcript.json``. Segments carry
  ``SectionDetails`` when the ``sections`` stage ran; ``ClinicalInsights`` holds the ``insights`` stage's
  entities (an empty list when there are none).
* ``OutputEncryptionKMSKeyId`` (and ``KMSEncryptionContext``) are passed to ``put_object`` as SSE-KMS.
* ``ContentIdentificationType=PHI``: ``results.entities[]`` of ``{content, category ("PHI-Personal", ...),
  startTime, endTime, confidence}``, camelCase with JSON numbers as in AWS's example (unlike the items).
* ``ShowAlternatives``: ``results.segments[]`` with ``alternatives[]`` of ``{transcript, items}``, the
  items flat (``start_time``, ``confidence``, ``end_time``, ``type``, ``content``) as in AWS's example.
"""

from __future__ import annotations

import base64
import json
import uuid

from medscribe_engine.pipeline.document import JobDocument, JobFailed, Segment, Token, join_tokens
from medscribe_engine.pipeline.s3 import object_key_problem, object_url

ACCOUNT_ID = "000000000000"
CONVERSATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:medscribe:engine:conversation")


def format_time(seconds: float) -> str:
    """``0.74`` -> ``"0.74"``, ``1`` -> ``"1.0"``: millisecond precision, as AWS writes them."""
    text = f"{max(seconds, 0.0):.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def format_confidence(value: float) -> str:
    text = f"{min(max(value, 0.0), 1.0):.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def transcribe_output_key(job_name: str, output_key: str | None) -> str:
    if not output_key:
        return f"medical/{job_name}.json"
    if output_key.endswith(".json"):
        return output_key
    return f"{output_key.rstrip('/')}/medical/{job_name}.json"


def healthscribe_output_key(job_name: str) -> str:
    return f"{job_name}/transcript.json"


def output_key_refusal(key: str) -> str | None:
    """Why the transcript cannot be written at ``key`` (the reason names no key), or None when it can.

    :param key: the final object key, from :func:`transcribe_output_key` or :func:`healthscribe_output_key`.
    """
    problem = object_key_problem(key)
    if problem is None:
        return None
    return (
        f"The output location is not valid: the transcript's object key (from the OutputKey and the job "
        f"name) {problem}. Change the OutputKey or the job name and try your request again."
    )


def _checked(key: str) -> str:
    refusal = output_key_refusal(key)
    if refusal:
        raise JobFailed(refusal)
    return key


def _transcribe_item(token: Token, item_id: int, with_channel: bool) -> dict:
    if token.is_word:
        item = {
            "id": item_id,
            "start_time": format_time(token.start),
            "end_time": format_time(token.end),
            "alternatives": [{"confidence": format_confidence(token.confidence), "content": token.content}],
            "type": "pronunciation",
        }
    else:
        item = {
            "id": item_id,
            "alternatives": [{"confidence": "0.0", "content": token.content}],
            "type": "punctuation",
        }
    if with_channel and token.channel is not None:
        item["channel_label"] = f"ch_{token.channel}"
    return item


def _speaker_labels(tokens: list[Token]) -> dict:
    segments: list[dict] = []
    for token in tokens:
        if not token.is_word:
            continue
        label = token.speaker or "spk_0"
        entry = {
            "start_time": format_time(token.start),
            "end_time": format_time(token.end),
            "speaker_label": label,
        }
        if segments and segments[-1]["speaker_label"] == label:
            segments[-1]["items"].append(entry)
            segments[-1]["end_time"] = entry["end_time"]
        else:
            segments.append({**entry, "items": [entry]})
    speakers = len({segment["speaker_label"] for segment in segments})
    return {"speakers": speakers, "segments": segments}


def _segment_item(token: Token) -> dict:
    """An item inside a segment alternative: flat, as in AWS's alternatives example."""
    if token.is_word:
        return {
            "start_time": format_time(token.start),
            "confidence": format_confidence(token.confidence),
            "end_time": format_time(token.end),
            "type": "pronunciation",
            "content": token.content,
        }
    return {"confidence": "0.0", "type": "punctuation", "content": token.content}


def _alternative_segment(segment) -> dict:
    return {
        "start_time": format_time(segment.start),
        "end_time": format_time(segment.end),
        "alternatives": [
            {"transcript": join_tokens(tokens), "items": [_segment_item(token) for token in tokens]}
            for tokens in segment.alternatives
        ],
    }


def _phi_entity(entity) -> dict:
    """A ``results.entities`` entry as in AWS's PHI example: camelCase keys, numbers as JSON numbers."""
    return {
        "content": entity.content,
        "category": entity.category,
        "startTime": round(entity.start, 3),
        "endTime": round(entity.end, 3),
        "confidence": round(min(max(entity.confidence, 0.0), 1.0), 4),
    }


def transcribe_medical_json(doc: JobDocument) -> dict:
    """The Transcribe Medical transcript document of a finished job."""
    with_channels = doc.channel_identification
    items = [_transcribe_item(token, index, with_channels) for index, token in enumerate(doc.tokens)]
    results: dict = {"transcripts": [{"transcript": join_tokens(doc.tokens)}], "items": items}
    if doc.show_speaker_labels:
        results["speaker_labels"] = _speaker_labels(doc.tokens)
    if doc.alternative_segments is not None:
        results["segments"] = [_alternative_segment(segment) for segment in doc.alternative_segments]
    if doc.phi_entities is not None:
        results["entities"] = [_phi_entity(entity) for entity in doc.phi_entities]
    if with_channels:
        channels = []
        for channel in range(len(doc.audio) or 2):
            channel_items = [
                {key: value for key, value in item.items() if key != "channel_label"}
                for item, token in zip(items, doc.tokens, strict=True)
                if token.channel == channel
            ]
            channels.append({"channel_label": f"ch_{channel}", "items": channel_items})
        results["channel_labels"] = {"channels": channels, "number_of_channels": len(channels)}
    return {"jobName": doc.job_name, "accountId": ACCOUNT_ID, "status": "COMPLETED", "results": results}


def _healthscribe_item(token: Token) -> dict:
    item = {
        "Alternatives": [
            {"Confidence": round(token.confidence, 4) if token.is_word else 0, "Content": token.content}
        ],
        "BeginAudioTime": round(token.start, 3),
        "EndAudioTime": round(token.end, 3),
        "Type": "PRONUNCIATION" if token.is_word else "PUNCTUATION",
    }
    if token.filter_match:
        item["VocabularyFilterMatch"] = True
    return item


def _healthscribe_segment(segment: Segment) -> dict:
    item = {
        "SegmentId": segment.segment_id,
        "BeginAudioTime": round(segment.start, 3),
        "EndAudioTime": round(segment.end, 3),
        "Content": segment.content,
        "ParticipantDetails": {"ParticipantRole": segment.role or "CLINICIAN_0"},
    }
    if segment.section:
        item["SectionDetails"] = {"SectionName": segment.section}
    return item


def conversation_id(job_name: str) -> str:
    return str(uuid.uuid5(CONVERSATION_NAMESPACE, job_name))


def healthscribe_transcript_json(doc: JobDocument) -> dict:
    """The HealthScribe transcript file of a finished job."""
    return {
        "Conversation": {
            "ConversationId": conversation_id(doc.job_name),
            "JobName": doc.job_name,
            "JobType": "ASYNC",
            "LanguageCode": "en-US",
            "ClinicalInsights": list(doc.insights),
            "TranscriptItems": [_healthscribe_item(token) for token in doc.tokens],
            "TranscriptSegments": [_healthscribe_segment(segment) for segment in doc.segments],
        }
    }


def encryption_arguments(request: dict) -> dict:
    """``put_object`` arguments for OutputEncryptionKMSKeyId / KMSEncryptionContext (SSE-KMS)."""
    key_id = request.get("OutputEncryptionKMSKeyId")
    if not key_id:
        return {}
    arguments = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id}
    context = request.get("KMSEncryptionContext")
    if context:
        arguments["SSEKMSEncryptionContext"] = base64.b64encode(json.dumps(context).encode()).decode()
    return arguments


class OutputWriter:
    """What the stages that put a job's JSON outputs share: the S3 client and :meth:`put`.

    :param s3_client: a boto3 S3 client.
    """

    def __init__(self, s3_client):
        self.s3 = s3_client

    def put(self, doc: JobDocument, key: str, document: dict) -> str:
        """Put ``document`` at ``key`` of the job's OutputBucketName (SSE-KMS as the request asks); its URI.
        JobFailed when the bucket can't be written to."""
        bucket = doc.request["OutputBucketName"]
        body = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        try:
            self.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **encryption_arguments(doc.request),
            )
        except Exception:
            raise JobFailed(
                "The output bucket can't be written to. Make sure the bucket exists and that you have write "
                "permission, then try your request again."
            ) from None
        return object_url(bucket, key)


class WriteTranscribeMedical(OutputWriter):
    """Put the Transcribe Medical transcript; ``doc.outputs["transcript"]`` = its URI."""

    name = "writers"
    requires = ("doc.tokens",)
    assigns = ("doc.outputs",)

    def __call__(self, doc: JobDocument) -> None:
        key = _checked(transcribe_output_key(doc.job_name, doc.request.get("OutputKey")))
        doc.outputs["transcript"] = self.put(doc, key, transcribe_medical_json(doc))


class WriteHealthScribe(OutputWriter):
    """Put the HealthScribe transcript file; ``doc.outputs["transcript"]`` = its URI."""

    name = "writers"
    requires = ("doc.tokens", "doc.segments", "segment.role")
    assigns = ("doc.outputs",)

    def __call__(self, doc: JobDocument) -> None:
        key = _checked(healthscribe_output_key(doc.job_name))
        doc.outputs["transcript"] = self.put(doc, key, healthscribe_transcript_json(doc))
