"""What a recording's bytes are, checked against AWS's input limits before any job is started: the
container sniffed from its first bytes, then decoded in full with PyAV (format, rate, channels,
duration). The offline engine keeps its own few lines for the same probe on purpose (README.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class Limits:
    """What a recording must satisfy before any job is started (AWS's documented input limits).

    :param min_sample_rate_hz: lowest accepted sample rate (HealthScribe and Transcribe Medical: 16 kHz).
    :param max_sample_rate_hz: highest accepted sample rate.
    :param max_channels: most channels (channel identification supports two).
    :param min_duration_s: shortest accepted audio.
    :param max_duration_s: longest accepted audio (HealthScribe: 4 hours).
    :param max_size_bytes: largest accepted file (2 GB).
    """

    min_sample_rate_hz: int = 16_000
    max_sample_rate_hz: int = 48_000
    max_channels: int = 2
    min_duration_s: float = 0.5
    max_duration_s: float = 4 * 3600.0
    max_size_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class AudioInfo:
    """What the bytes of a recording turned out to be."""

    media_format: str
    sample_rate_hz: int
    channels: int
    duration_s: float


class InvalidRecording(ValueError):
    """The recording cannot be sent to a service; the message is safe to log (no key, no content)."""


# Leading bytes of each container the services accept (MediaFormat values).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),
    (0, b"#!AMR", "amr"),
    (4, b"ftyp", "mp4"),
    (0, b"ID3", "mp3"),
)


def sniff_format(head: bytes) -> str | None:
    """The MediaFormat of a file from its first bytes, or None when it is no audio container we accept."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    for offset, magic, media_format in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_format
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:  # MPEG audio frame sync
        return "mp3"
    return None


def check_size(size_bytes: int, limits: Limits = Limits()) -> None:
    """
    Refuse an empty or too large file from its size alone, before any of its bytes are read.

    :param size_bytes: the file's size.
    :param limits: the acceptance limits.
    :raises InvalidRecording: with a reason that carries no patient data.
    """
    if not size_bytes:
        raise InvalidRecording("empty file (0 bytes)")
    if size_bytes > limits.max_size_bytes:
        raise InvalidRecording(f"file too large ({size_bytes} bytes > {limits.max_size_bytes})")


def probe_audio(data: bytes | IO[bytes], limits: Limits = Limits()) -> AudioInfo:
    """
    Check a recording: size, container sniffed from content, then fully decoded with PyAV.

    A file is read in PyAV's small buffers and decoded frame by frame, so a file argument is never held
    whole in memory.

    :param data: the whole file, as bytes or as a seekable binary file (read from its start).
    :param limits: the acceptance limits.
    :raises InvalidRecording: with a reason that carries no patient data.
    """
    import av  # PyAV: imported here, DAG files must stay light to parse

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    size = source.seek(0, io.SEEK_END)
    check_size(size, limits)
    source.seek(0)
    media_format = sniff_format(source.read(16))
    if media_format is None:
        raise InvalidRecording(
            "not an audio file: content matches no supported format (wav, flac, mp3, mp4, ogg, webm, amr)"
        )
    source.seek(0)
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.audio:
                raise InvalidRecording(f"{media_format} file has no audio stream")
            stream = container.streams.audio[0]
            sample_rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            samples = sum(frame.samples for frame in container.decode(stream))
    except InvalidRecording:
        raise
    except (av.error.FFmpegError, ValueError, EOFError) as error:
        raise InvalidRecording(f"unreadable {media_format} audio ({type(error).__name__})") from None
    if not sample_rate or not samples:
        raise InvalidRecording(f"{media_format} file holds no audio samples")
    duration = samples / sample_rate
    if media_format == "wav":
        _check_wav_length(source, size)
    if sample_rate < limits.min_sample_rate_hz:
        raise InvalidRecording(
            f"sample rate {sample_rate} Hz is under the minimum of {limits.min_sample_rate_hz} Hz"
        )
    if sample_rate > limits.max_sample_rate_hz:
        raise InvalidRecording(
            f"sample rate {sample_rate} Hz is over the maximum of {limits.max_sample_rate_hz} Hz"
        )
    if channels > limits.max_channels:
        raise InvalidRecording(f"{channels} channels; at most {limits.max_channels} are supported")
    if duration < limits.min_duration_s:
        raise InvalidRecording(f"audio too short ({duration:.2f} s < {limits.min_duration_s} s)")
    if duration > limits.max_duration_s:
        raise InvalidRecording(f"audio too long ({duration:.0f} s > {limits.max_duration_s:.0f} s)")
    return AudioInfo(media_format, int(sample_rate), int(channels), round(duration, 3))


def _check_wav_length(source: IO[bytes], size: int) -> None:
    """A WAV whose data chunk claims more bytes than the file holds was cut short (reads chunk headers only)."""
    position = 12
    while position + 8 <= size:
        source.seek(position)
        header = source.read(8)
        chunk_id, chunk_size = header[:4], int.from_bytes(header[4:8], "little")
        if chunk_id == b"data":
            available = size - position - 8
            if chunk_size > available and chunk_size != 0xFFFFFFFF:
                raise InvalidRecording(
                    f"truncated wav: data chunk declares {chunk_size} bytes, {available} present"
                )
            return
        position += 8 + chunk_size + (chunk_size & 1)
