"""Stage ``decode``: fetch the media from S3, probe it, check it against the request, decode to 16 kHz.

Every problem with the media ends the job FAILED with an AWS-style FailureReason (:class:`JobFailed`),
never an engine crash. Reasons never name the bucket, the key or the URI.

Media longer than AWS's 4 hours is refused from the container's duration, before any decoding. The
decoder then works in bounded chunks written straight into arrays sized from that duration, and stops at
4 hours of samples whatever the container claimed: memory is the decoded audio plus one chunk.
"""

from __future__ import annotations

import gc
import itertools
import struct
from pathlib import Path

from medscribe_engine.pipeline.document import SAMPLE_RATE, SCRIBE, JobDocument, JobFailed, MediaInfo
from medscribe_engine.pipeline.s3 import parse_media_uri

# PyAV container names (each may be a comma-separated alias list) -> the MediaFormat value.
CONTAINER_FORMATS = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "mp4": "mp4",
    "mov": "mp4",  # PyAV names the ISO media family "mov,mp4,m4a,3gp,3g2,mj2"
    "m4a": "mp4",
    "webm": "webm",
    "matroska": "webm",
    "amr": "amr",
}
# MediaFormat values a detected format may be declared as: M4A is MP4 audio in the same container
DECLARED_AS = {"mp4": ("mp4", "m4a")}
TRANSCRIBE_MEDICAL_FORMATS = ("mp3", "mp4", "wav", "flac", "ogg", "amr", "webm")
HEALTHSCRIBE_FORMATS = ("flac", "mp3", "mp4", "ogg", "wav")
MIN_SAMPLE_RATE = 16000
MAX_SAMPLE_RATE = 48000
MIN_DURATION_S = 0.5
MAX_DURATION_S = 4 * 3600.0  # AWS's limit for batch jobs
DECODE_CHUNK_SAMPLES = 500_000  # source samples resampled at a time (faster-whisper's grouping)
MAX_MEDIA_BYTES = 2 * 1024**3  # AWS's batch limit is 2 GB

MEDIA_NOT_ACCESSIBLE = (
    "The S3 URI that you provided can't be accessed. Make sure that the object exists and that you have "
    "read permission, then try your request again."
)
PARSE_FAILED = "Failed to parse audio file. Check the media file and try your request again."
FORMAT_MISMATCH = (
    "The media format provided does not match the detected media format. Check the media format and try "
    "your request again."
)
RATE_MISMATCH = (
    "The media sample rate provided does not match the detected media sample rate. Check the sample rate "
    "of your media file and try your request again."
)
TRUNCATED = (
    "Failed to parse audio file. The media data ends before the length declared in its header. Check "
    "that the file is complete and try your request again."
)
TOO_SHORT = (
    "The input media file length is too small. Minimum audio duration is 500 milliseconds. Check the length "
    "of the file and try your request again."
)
TOO_LARGE = "The media file is larger than the 2 GB limit. Split the file and try your request again."
# AWS's FailureReason, verbatim
TOO_LONG = (
    "Invalid file size: file size too large. Maximum audio duration is 4.000000 hours.Check the length of "
    "the file and try your request again."
)


def unsupported_rate(rate: int) -> str:
    return (
        f"Unsupported audio sample rate: {rate} Hz. Audio must have a sample rate from {MIN_SAMPLE_RATE} Hz "
        f"to {MAX_SAMPLE_RATE} Hz. Check the sample rate of your media file and try your request again."
    )


def unsupported_format(fmt: str, allowed: tuple[str, ...]) -> str:
    return (
        f"The media format {fmt} is not supported for this job type. Supported formats: "
        f"{', '.join(allowed)}. Check the media format and try your request again."
    )


def channel_count_mismatch(channels: int) -> str:
    return (
        f"Channel identification requires audio with exactly two channels, but the media has {channels}. "
        "Turn off channel identification or provide two-channel audio, and try your request again."
    )


def media_format_of(container_name: str) -> str | None:
    """The MediaFormat value for a PyAV container name such as ``mov,mp4,m4a,3gp,3g2,mj2``."""
    for alias in container_name.split(","):
        if alias in CONTAINER_FORMATS:
            return CONTAINER_FORMATS[alias]
    return None


def wav_is_truncated(path: Path) -> bool:
    """True when a RIFF/WAVE file's ``data`` chunk declares more bytes than the file holds.

    Streaming writers put 0 or 0xFFFFFFFF in the size fields; those files are not judged.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return False
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return False
                return offset + 8 + chunk_size > size
            offset += 8 + chunk_size + (chunk_size & 1)
    return True  # no data chunk before the end of the file


def probe(path: Path) -> MediaInfo:
    """Container format, sample rate, channels and duration of the media file at ``path``."""
    import av

    size = path.stat().st_size
    if size == 0:
        raise JobFailed(PARSE_FAILED)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise JobFailed(PARSE_FAILED)
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            if container.duration is not None:
                duration = float(container.duration) / av.time_base
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
            container_name = container.format.name
    except JobFailed:
        raise
    except Exception:
        raise JobFailed(PARSE_FAILED) from None
    if rate <= 0 or channels <= 0:
        raise JobFailed(PARSE_FAILED)
    fmt = media_format_of(container_name) or container_name.split(",")[0]
    if fmt == "wav" and wav_is_truncated(path):
        raise JobFailed(TRUNCATED)
    return MediaInfo(
        format=fmt,
        container=container_name,
        sample_rate=rate,
        channels=channels,
        duration=duration,
        size_bytes=size,
    )


def check_media(info: MediaInfo, kind: str, request: dict) -> None:
    """Raise :class:`JobFailed` when the probed media does not fit the request or the service."""
    allowed = HEALTHSCRIBE_FORMATS if kind == SCRIBE else TRANSCRIBE_MEDICAL_FORMATS
    declared_format = request.get("MediaFormat")
    if declared_format and declared_format not in DECLARED_AS.get(info.format, (info.format,)):
        raise JobFailed(FORMAT_MISMATCH)
    if info.format not in allowed:
        raise JobFailed(unsupported_format(info.format, allowed))
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise JobFailed(unsupported_rate(info.sample_rate))
    declared_rate = request.get("MediaSampleRateHertz")
    if declared_rate and int(declared_rate) != info.sample_rate:
        raise JobFailed(RATE_MISMATCH)
    if (request.get("Settings") or {}).get("ChannelIdentification") and info.channels != 2:
        raise JobFailed(channel_count_mismatch(info.channels))
    if info.duration > MAX_DURATION_S:
        raise JobFailed(TOO_LONG)


def _frame_groups(container):
    """The first audio stream's frames, regrouped into chunks of :data:`DECODE_CHUNK_SAMPLES` (undecodable
    frames skipped, as faster-whisper does)."""
    import av

    fifo = av.AudioFifo()
    frames = container.decode(audio=0)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            break
        except av.error.InvalidDataError:
            continue
        frame.pts = None  # timestamps of damaged files need not be continuous
        fifo.write(frame)
        if fifo.samples >= DECODE_CHUNK_SAMPLES:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def load_audio(
    path: Path, split_channels: bool, expected_s: float = 0.0, max_duration_s: float = MAX_DURATION_S
) -> list:
    """Float32 samples at 16 kHz: ``[left, right]`` when ``split_channels`` (two-channel media), else a
    single down-mixed channel. The same samples as ``faster_whisper.decode_audio``, decoded chunk by chunk
    into arrays sized from the container's duration.

    :param path: the media file.
    :param split_channels: return each of two channels alone instead of their mix.
    :param expected_s: the container's duration (sizes the arrays; 0 when unknown).
    :param max_duration_s: decoding stops with :data:`TOO_LONG` once the audio is longer than this.
    """
    import av
    import numpy as np

    width = 2 if split_channels else 1
    limit = int(max_duration_s * SAMPLE_RATE)
    known_s = expected_s if 0.0 < expected_s <= max_duration_s else 60.0  # NaN and 0 are unknown
    capacity = min(limit, int(known_s * SAMPLE_RATE) + SAMPLE_RATE)
    channels = [np.empty(capacity, dtype=np.float32) for _ in range(width)]
    filled = 0
    layout = "stereo" if split_channels else "mono"
    resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            for group in itertools.chain(_frame_groups(container), [None]):  # None flushes the resampler
                for frame in resampler.resample(group):
                    samples = frame.to_ndarray().reshape(-1, width).T  # packed s16: L R L R ...
                    end = filled + samples.shape[1]
                    if end > limit:
                        raise JobFailed(TOO_LONG)
                    if end > capacity:
                        capacity = min(limit, max(end, capacity + capacity // 2))
                        for channel in channels:
                            channel.resize(capacity, refcheck=False)
                    for row, channel in enumerate(channels):  # samples has one row per channel
                        channel[filled:end] = samples[row]
                        channel[filled:end] /= 32768.0
                    filled = end
    except JobFailed:
        raise
    except Exception:
        raise JobFailed(PARSE_FAILED) from None
    finally:
        del resampler
        gc.collect()  # the resampler's native buffers are freed only by a collection (faster-whisper #390)
    for channel in channels:
        channel.resize(filled, refcheck=False)
    if filled < MIN_DURATION_S * SAMPLE_RATE:
        raise JobFailed(TOO_SHORT)
    return channels


class Decode:
    """Download ``Media.MediaFileUri`` into the job's work directory, probe, check and decode it.

    :param s3_client: a boto3 S3 client.
    """

    name = "decode"
    requires = ("doc.request",)
    assigns = ("doc.media", "doc.audio")

    def __init__(self, s3_client):
        self.s3 = s3_client

    def download(self, doc: JobDocument) -> Path:
        location = parse_media_uri(doc.request["Media"]["MediaFileUri"])
        if location is None:
            raise JobFailed(MEDIA_NOT_ACCESSIBLE)
        assert doc.workdir is not None
        target = doc.workdir / "media"
        try:
            head = self.s3.head_object(Bucket=location.bucket, Key=location.key)
            if int(head.get("ContentLength", 0)) > MAX_MEDIA_BYTES:
                raise JobFailed(TOO_LARGE)
            self.s3.download_file(location.bucket, location.key, str(target))
        except JobFailed:
            raise
        except Exception:
            raise JobFailed(MEDIA_NOT_ACCESSIBLE) from None
        return target

    def __call__(self, doc: JobDocument) -> None:
        doc.media_path = self.download(doc)
        doc.media = probe(doc.media_path)
        check_media(doc.media, doc.kind, doc.request)
        doc.check_stop()
        doc.audio = load_audio(
            doc.media_path, split_channels=doc.channel_identification, expected_s=doc.media.duration
        )
