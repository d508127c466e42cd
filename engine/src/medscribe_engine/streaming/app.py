"""The streaming API as an ASGI-style application (served over HTTP/2 by :mod:`.listener`).

``POST /medical-stream-transcription`` (StartMedicalStreamTranscription): the request's SigV4 is checked
first (a refusal is an HTTP error in the restJson1 shape: ``x-amzn-errortype`` and ``{"Message"}``); then
the response's headers go out at once (200, the settings echoed) and the stream runs both ways:

* in: signed event chunks (:mod:`.signing`), each an ``AudioEvent`` (PCM) or a ``ConfigurationEvent``;
  an empty chunk, or the end of the request body, ends the audio;
* out: ``TranscriptEvent`` messages (partials, then finals) as :mod:`.recognition` makes them; after the
  audio ends, the last finals and the end of the body.

A setting the engine refuses, a stream past ``max_streams``, a bad chunk or signature, and a client that
sends nothing for ``idle_timeout_s`` end the stream with the model's exception event
(``BadRequestException``, ``LimitExceededException``, ...). Recognition runs in a thread pool, one step
at a time per stream. The log has session ids, counts and durations: never audio or text.

HealthScribe's streams are routed here too: ``POST /medical-scribe-stream`` (:mod:`.scribe`) and
``GET /medical-scribe-stream/{SessionId}`` (:mod:`.scribe_details`); they share the stream limit.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from medscribe_engine.auth import SigV4Verifier
from medscribe_engine.exceptions import BadRequestException
from medscribe_engine.pipeline.diarize import ResemblyzerEmbedder
from medscribe_engine.pipeline.phi import detect
from medscribe_engine.pipeline.vocabulary import ApplyVocabulary, hotwords
from medscribe_engine.resources import Resources
from medscribe_engine.streaming import eventstream
from medscribe_engine.streaming.analytics import PostStreamAnalytics
from medscribe_engine.streaming.recognition import ChannelStream, StreamParams
from medscribe_engine.streaming.results import OnlineSpeakers, medical_result
from medscribe_engine.streaming.scribe import SCRIBE_STREAM_PATH, ScribeStream, get_scribe_stream
from medscribe_engine.streaming.sessions import SessionStore
from medscribe_engine.streaming.settings import (
    AudioDecoder,
    MedicalStreamSettings,
    audio_decoder,
    parse_settings,
)
from medscribe_engine.streaming.signing import ChunkVerifier
from medscribe_engine.streaming.wire import (
    IDLE_MESSAGE,
    IDLE_TIMEOUT_S,
    MAX_AUDIO_CHUNK,
    EventStream,
    StreamError,
    decoded,
    error_response,
)
from medscribe_engine.vocabularies import VocabularyBackend
from medscribe_engine.vocabulary_filters import VocabularyFilterBackend

__all__ = [
    "IDLE_MESSAGE",
    "MAX_AUDIO_CHUNK",
    "StreamError",
    "StreamingApp",
    "StreamingService",
    "error_response",
]

log = logging.getLogger("medscribe_engine.streaming")

MEDICAL_STREAM_PATH = "/medical-stream-transcription"
MEDICAL_WEBSOCKET_PATH = MEDICAL_STREAM_PATH + "-websocket"  # the WebSocket form (streaming/websocket.py)
MAX_STREAMS = 2  # concurrent streams; 2 real-time tiny.en streams fit 2 cores (bench/streaming)


@dataclass
class StreamingService:
    """What streams need from the engine.

    :param verifier: the engine's :class:`~medscribe_engine.auth.SigV4Verifier`.
    :param resources: the loaded :class:`~medscribe_engine.resources.Resources` (Whisper, voice encoder).
    :param vocabularies: the :class:`~medscribe_engine.vocabularies.VocabularyBackend` (None: none).
    :param max_streams: concurrent streams; past them LimitExceededException.
    :param idle_timeout_s: a stream with no event for this long is ended.
    :param params: :class:`~medscribe_engine.streaming.recognition.StreamParams`.
    :param data_dir: the engine's data directory, where HealthScribe stream sessions are kept (None: no
        StartMedicalScribeStream).
    :param filters: the :class:`~medscribe_engine.vocabulary_filters.VocabularyFilterBackend` (None: none).
    """

    verifier: SigV4Verifier
    resources: Resources
    vocabularies: VocabularyBackend | None = None
    max_streams: int = MAX_STREAMS
    idle_timeout_s: float = IDLE_TIMEOUT_S
    params: StreamParams = field(default_factory=StreamParams)
    active: int = 0
    data_dir: Path | None = None
    filters: VocabularyFilterBackend | None = None

    def __post_init__(self):
        self.executor = ThreadPoolExecutor(max_workers=max(1, self.max_streams), thread_name_prefix="stream")
        self.sessions: SessionStore | None = None
        self.analytics: PostStreamAnalytics | None = None
        if self.data_dir is not None:
            self.sessions = SessionStore(self.data_dir)
            paused = self.sessions.recover()
            self.analytics = PostStreamAnalytics(
                self.sessions, self.resources, self.vocabularies, self.filters
            )
            resumed = self.analytics.resume_pending()
            if paused or resumed:
                log.info(
                    "scribe streams: %d paused at start-up, %d post-stream analytics resumed", paused, resumed
                )


class StreamingApp:
    """The application (``app(scope, receive, send)``). :param service: :class:`StreamingService`."""

    def __init__(self, service: StreamingService):
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":  # its presigned URL was checked before the upgrade
            if scope["path"] == MEDICAL_WEBSOCKET_PATH:
                await MedicalStream(self.service, scope, receive, send).run()
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == MEDICAL_STREAM_PATH and method == "POST":
            await MedicalStream(self.service, scope, receive, send).run()
        elif path == SCRIBE_STREAM_PATH and method == "POST":
            await ScribeStream(self.service, scope, receive, send).run()
        elif path.startswith(SCRIBE_STREAM_PATH + "/") and method == "GET":
            await get_scribe_stream(self.service, scope, send)
        else:
            await error_response(send, 404, "UnknownOperationException", "Unknown operation.")


class MedicalStream(EventStream[MedicalStreamSettings]):
    """One StartMedicalStreamTranscription stream."""

    entries = None  # the custom vocabulary's entries (None: no vocabulary)

    def _accept(self) -> MedicalStreamSettings:
        settings = parse_settings(self.headers)
        self.entries = self._vocabulary_entries(settings.vocabulary_name)
        diarize = settings.show_speaker_label and settings.type != "DICTATION"
        if diarize and not self.service.resources.diarization_available:
            raise BadRequestException("Speaker labels are not available in this engine build.")
        return settings

    def _log_end(self, settings: MedicalStreamSettings, seconds: float) -> None:
        log.info(
            "stream %s ended after %.1fs: %d event(s) in, %d partial and %d final result(s) out",
            settings.session_id, seconds, self.events, self.results["partial"], self.results["final"],
        )  # fmt: skip

    async def _serve(self, settings: MedicalStreamSettings, chunks: ChunkVerifier) -> None:
        entries = self.entries
        log.info(
            "stream %s started: %d Hz, %d channel(s), speakers %s, PHI %s, vocabulary %s",
            settings.session_id, settings.sample_rate, settings.number_of_channels,
            "on" if settings.show_speaker_label else "off", "on" if settings.content_identification else "off",
            "on" if entries else "off",
        )  # fmt: skip
        model = self.service.resources.streaming_whisper
        words = hotwords(entries) if entries else None
        channels = [
            ChannelStream(
                model, index if settings.channel_identification else None, words, self.service.params
            )
            for index in range(settings.number_of_channels)
        ]
        decoder = audio_decoder(settings.media_encoding, settings.sample_rate, settings.number_of_channels)
        finisher = _Finisher(settings, entries, self.service.resources)
        reader = self._read(chunks, decoder, channels)
        await self._run(reader, self._recognize(channels, finisher.step), decoder, settings.session_id)

    async def _read(
        self, chunks: ChunkVerifier, decoder: AudioDecoder, channels: list[ChannelStream]
    ) -> None:
        messages = eventstream.MessageReader()
        while True:
            outer, more = await self._receive(messages)
            for signed in outer:
                payload = self._open(chunks, signed)
                if not payload:
                    return self._end(decoder, channels)
                self._event(payload, decoder, channels)
            if not more:
                return self._end(decoder, channels)

    def _end(self, decoder: AudioDecoder, channels: list[ChannelStream]) -> None:
        for channel, samples in zip(channels, decoded(decoder.flush), strict=True):
            channel.add(samples)
        self.ended.set()

    def _event(self, payload: bytes, decoder: AudioDecoder, channels: list[ChannelStream]) -> None:
        kind, audio = self._event_of(payload)
        if kind == "ConfigurationEvent":
            return  # ChannelDefinitions / PostCallAnalyticsSettings: nothing to configure offline
        if kind != "AudioEvent":
            raise StreamError(BadRequestException(f"The event type {kind} isn't valid in this stream."))
        if len(audio) > MAX_AUDIO_CHUNK:
            raise StreamError(
                BadRequestException("An audio event is larger than the engine accepts (256 KiB).")
            )
        for channel, samples in zip(channels, decoded(decoder.decode, audio), strict=True):
            channel.add(samples)
        self.audio_arrived.set()


class _Finisher:
    """Runs a channel's step and turns its results into TranscriptEvent messages (in a pool thread)."""

    def __init__(self, settings: MedicalStreamSettings, entries, resources):
        self.settings = settings
        self.rewrite = None
        if entries:
            self.rewrite = ApplyVocabulary(entries).rewrite
        self.speakers = None
        if settings.show_speaker_label:
            embedder = None
            if settings.type != "DICTATION":
                embedder = ResemblyzerEmbedder(resources.voice_encoder)
            self.speakers = OnlineSpeakers(embedder)

    def step(self, channel: ChannelStream, end: bool) -> list[tuple[str, bytes]]:
        messages = []
        for result in channel.step(end):
            if self.rewrite is not None:
                result.tokens, _count = self.rewrite(result.tokens)
            entities = None
            if not result.is_partial:
                if self.speakers is not None:
                    self.speakers.label(result)
                if self.settings.content_identification == "PHI":
                    entities = detect(result.tokens)
            body = {
                "Transcript": {
                    "Results": [medical_result(result, self.settings.channel_identification, entities)]
                }
            }
            kind = "partial" if result.is_partial else "final"
            messages.append((kind, eventstream.event("TranscriptEvent", body)))
        return messages
