"""The request headers of ``StartMedicalStreamTranscription``, checked as the service model and AWS's
documented rules say, and the audio they describe turned into 16 kHz float32 per channel."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import numpy as np
import soxr

from medscribe_engine.exceptions import BadRequestException
from medscribe_engine.pipeline.document import SAMPLE_RATE
from medscribe_engine.streaming.encoded import EncodedDecoder

PREFIX = "x-amzn-transcribe-"
SPECIALTIES = ("PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY")
TYPES = ("CONVERSATION", "DICTATION")
ENCODINGS = ("pcm", "ogg-opus", "flac")
MIN_RATE, MAX_RATE = 8000, 48000
SESSION_ID = re.compile(r"^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$")


@dataclass(frozen=True)
class MedicalStreamSettings:
    """A stream's settings, as accepted."""

    language_code: str
    sample_rate: int
    media_encoding: str
    specialty: str
    type: str
    show_speaker_label: bool
    channel_identification: bool
    number_of_channels: int
    content_identification: str | None
    vocabulary_name: str | None
    session_id: str

    def response_headers(self) -> list[tuple[str, str]]:
        """The response's echo of the request headers (the model's output members)."""
        headers = [
            ("language-code", self.language_code),
            ("sample-rate", str(self.sample_rate)),
            ("media-encoding", self.media_encoding),
            ("specialty", self.specialty),
            ("type", self.type),
            ("show-speaker-label", str(self.show_speaker_label).lower()),
            ("session-id", self.session_id),
            ("enable-channel-identification", str(self.channel_identification).lower()),
        ]
        if self.channel_identification:
            headers.append(("number-of-channels", str(self.number_of_channels)))
        if self.content_identification:
            headers.append(("content-identification-type", self.content_identification))
        if self.vocabulary_name:
            headers.append(("vocabulary-name", self.vocabulary_name))
        return [(PREFIX + name, value) for name, value in headers]


def _boolean(headers: dict[str, str], name: str) -> bool:
    value = headers.get(PREFIX + name, "false").strip().lower()
    if value not in ("true", "false"):
        raise BadRequestException(f"The value of {PREFIX}{name} must be true or false.")
    return value == "true"


def _required(headers: dict[str, str], name: str) -> str:
    value = headers.get(PREFIX + name, "").strip()
    if not value:
        raise BadRequestException(f"The request is missing the required header {PREFIX}{name}.")
    return value


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise BadRequestException(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: Member "
            f"must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def parse_settings(headers: dict[str, str]) -> MedicalStreamSettings:
    """The settings of a stream from its (lower-cased) request headers; BadRequestException otherwise."""
    language = _required(headers, "language-code")
    if language != "en-US":
        raise BadRequestException(
            f"The language code {language} isn't supported for medical streaming: use en-US."
        )
    rate_text = _required(headers, "sample-rate")
    if not rate_text.isdigit() or not MIN_RATE <= int(rate_text) <= MAX_RATE:
        raise BadRequestException(
            f"The sample rate {rate_text} isn't valid. The sample rate must be between {MIN_RATE} and {MAX_RATE} Hz."
        )
    encoding = _one_of(_required(headers, "media-encoding"), ENCODINGS, "mediaEncoding")
    specialty = _one_of(_required(headers, "specialty"), SPECIALTIES, "specialty")
    speech_type = _one_of(_required(headers, "type"), TYPES, "type")
    speakers = _boolean(headers, "show-speaker-label")
    channels_on = _boolean(headers, "enable-channel-identification")
    channels_text = headers.get(PREFIX + "number-of-channels")
    if channels_on:
        if channels_text is None:
            raise BadRequestException("NumberOfChannels is required when channel identification is enabled.")
        if channels_text.strip() != "2":
            raise BadRequestException(f"The number of channels {channels_text} isn't supported: use 2.")
    elif channels_text is not None:
        raise BadRequestException("NumberOfChannels can be set only when channel identification is enabled.")
    if speakers and channels_on:
        raise BadRequestException(
            "ShowSpeakerLabel and EnableChannelIdentification can't be used together in this engine yet."
        )
    content = headers.get(PREFIX + "content-identification-type")
    if content is not None:
        _one_of(content, ("PHI",), "contentIdentificationType")
    vocabulary = headers.get(PREFIX + "vocabulary-name") or None
    session_id = headers.get(PREFIX + "session-id") or str(uuid.uuid4())
    if not SESSION_ID.match(session_id):
        raise BadRequestException("The session id must be a UUID (36 characters).")
    return MedicalStreamSettings(
        language, int(rate_text), encoding, specialty, speech_type, speakers, channels_on,
        2 if channels_on else 1, content, vocabulary, session_id,
    )  # fmt: skip


class PcmDecoder:
    """Signed 16-bit little-endian PCM (channels interleaved) -> one float32 16 kHz array per channel.
    A frame split across two audio events is joined; other rates are resampled (soxr, streaming).

    :param sample_rate: the stream's MediaSampleRateHertz.
    :param channels: 1, or 2 with channel identification.
    """

    def __init__(self, sample_rate: int, channels: int):
        self.channels = channels
        self.leftover = b""
        self.resampler = None
        if sample_rate != SAMPLE_RATE:
            self.resampler = soxr.ResampleStream(sample_rate, SAMPLE_RATE, channels, dtype="float32")
        self.samples = 0  # 16 kHz samples per channel so far

    def decode(self, data: bytes) -> list[np.ndarray]:
        data = self.leftover + data
        usable = len(data) // (2 * self.channels) * (2 * self.channels)
        self.leftover = data[usable:]
        frames = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        frames = frames.reshape(-1, self.channels)
        if self.resampler is not None:
            frames = self.resampler.resample_chunk(frames if self.channels > 1 else frames[:, 0])
            frames = frames.reshape(-1, self.channels)
        return self._split(frames)

    def flush(self) -> list[np.ndarray]:
        """The samples the resampler still holds, at the end of the audio."""
        if self.resampler is None:
            return self._split(np.zeros((0, self.channels), dtype=np.float32))
        empty = np.zeros((0, self.channels) if self.channels > 1 else 0, dtype=np.float32)
        return self._split(self.resampler.resample_chunk(empty, last=True).reshape(-1, self.channels))

    def _split(self, frames: np.ndarray) -> list[np.ndarray]:
        self.samples += len(frames)
        return [np.ascontiguousarray(frames[:, channel]) for channel in range(self.channels)]

    def close(self) -> None:
        """Nothing to stop (:class:`~medscribe_engine.streaming.encoded.EncodedDecoder` has a thread)."""


AudioDecoder = PcmDecoder | EncodedDecoder


def pcm16(channels: list[np.ndarray]) -> bytes:
    """Float32 arrays, one per channel, as interleaved signed 16-bit little-endian PCM."""
    frames = np.stack(channels, axis=1) if channels else np.zeros((0, 1), dtype=np.float32)
    return (np.clip(frames, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def audio_decoder(encoding: str, sample_rate: int, channels: int) -> AudioDecoder:
    """The decoder of a stream's ``MediaEncoding``: 16 kHz float32 arrays, one per channel, either way."""
    if encoding == "pcm":
        return PcmDecoder(sample_rate, channels)
    return EncodedDecoder(encoding, channels)
