"""A recording's audio for the reviewer's player: the staged media the job read, in byte ranges.

The staged media's location is the job's own ``Media.MediaFileUri`` (GetMedicalScribeJob /
GetMedicalTranscriptionJob through the Airflow AWS connection), so the page plays exactly what the
service transcribed. The bytes are read from S3 with the connection's credentials and passed through
the api-server: no presigned URL is made, the browser only ever talks to Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

AWS_CONN_ID = "aws_default"
#: 256 KiB: a few seconds of 16 kHz PCM per chunk, small enough that a seek answers at once
CHUNK = 256 * 1024
MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "amr": "audio/amr",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(ValueError):
    """The request's Range lies outside the object (HTTP 416)."""


@dataclass(frozen=True)
class Audio:
    """An open S3 object (or a range of it) ready to stream.

    :param chunks: the bytes, in chunks.
    :param media_type: the Content-Type.
    :param length: bytes that will be sent.
    :param content_range: ``bytes first-last/size`` for a partial answer, None for the whole object.
    """

    chunks: Iterator[bytes]
    media_type: str
    length: int
    content_range: str | None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte a ``Range`` header asks for (one range), None for the whole object.

    :param header: the request's Range header.
    :param size: the object's size.
    :raises RangeNotSatisfiable: a range that starts beyond the object or asks for nothing.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:  # several ranges or another unit: RFC 9110 lets a server answer the whole object
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes */{size}")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"bytes */{size}")
    return start, end


def staged_media_uri(service: str, job_name: str, aws_conn_id: str = AWS_CONN_ID) -> str:
    """The ``Media.MediaFileUri`` of a job.

    :param service: healthscribe | transcribe_medical.
    :param job_name: the job's name.
    :param aws_conn_id: the Airflow AWS connection.
    """
    from medscribe.aws.hooks.transcribe import TranscribeHook
    from medscribe.services import Service

    hook = TranscribeHook(aws_conn_id=aws_conn_id)
    if service == Service.HEALTHSCRIBE:
        job = hook.get_medical_scribe_job(job_name)
    else:
        job = hook.get_medical_transcription_job(job_name)
    return job["Media"]["MediaFileUri"]


def open_audio(s3_client, media_uri: str, range_header: str | None) -> Audio:
    """Open the staged media, or the asked range of it.

    :param s3_client: a boto3 S3 client.
    :param media_uri: the job's ``Media.MediaFileUri``.
    :param range_header: the request's Range header, if any.
    :raises RangeNotSatisfiable: see ``parse_range``.
    """
    from medscribe.outputs import split_output_uri

    bucket, key = split_output_uri(media_uri)
    head = s3_client.head_object(Bucket=bucket, Key=key)
    size = int(head["ContentLength"])
    extension = key.rsplit(".", 1)[-1].lower()
    media_type = MEDIA_TYPES.get(extension, "application/octet-stream")
    wanted = parse_range(range_header, size)
    if wanted is None:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
        return Audio(body.iter_chunks(CHUNK), media_type, size, None)
    first, last = wanted
    body = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"]
    return Audio(body.iter_chunks(CHUNK), media_type, last - first + 1, f"bytes {first}-{last}/{size}")
