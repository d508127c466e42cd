"""StartMedicalScribeStream (``POST /medical-scribe-stream``): one stream of a HealthScribe session.

The request is signed as StartMedicalStreamTranscription's (SigV4, then every event chunk). The response
headers go out at once (200, the headers echoed, the SessionId); then, in order:

* the first event must be the ``ConfigurationEvent`` (:func:`~.scribe_settings.parse_configuration`);
  it opens the session (:meth:`~.sessions.SessionStore.open`: a new one, or a PAUSED one resumed with
  the same configuration);
* ``AudioEvent``: PCM, interleaved when ChannelDefinitions name two channels; recognised as it arrives
  by :class:`~.recognition.ChannelStream` (one per channel) and stored with the session;
* ``SessionControlEvent`` END_OF_SESSION: the last finals, the end of the body, the session COMPLETED
  and its post-stream analytics queued (:mod:`.analytics`). The end of the input without it pauses the
  session (PAUSED), as does a client that goes away or stops sending for ``idle_timeout_s``.

Out: ``TranscriptEvent`` ``{"TranscriptSegment": {SegmentId, BeginAudioTime, EndAudioTime, Content,
Items: [{BeginAudioTime, EndAudioTime, Type, Confidence, Content, VocabularyFilterMatch}], IsPartial,
ChannelId}}``: partials of an utterance share its final's SegmentId; times are seconds from the start of
the session (a resumed stream goes on from the audio before it), as in the post-stream transcript;
``ChannelId`` (``ch_0`` / ``ch_1``) only with ChannelDefinitions. Errors are the model's exception events.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from medscribe_engine.exceptions import BadRequestException, TranscribeError
from medscribe_engine.pipeline.vocabulary import hotwords
from medscribe_engine.streaming import eventstream
from medscribe_engine.streaming.recognition import ChannelStream
from medscribe_engine.streaming.results import ScribeSegments
from medscribe_engine.streaming.scribe_details import get_scribe_stream
from medscribe_engine.streaming.scribe_settings import (
    ScribeStreamSettings,
    channel_count,
    parse_configuration,
    parse_scribe_headers,
)
from medscribe_engine.streaming.sessions import MAX_AUDIO_S, Session, SessionStore
from medscribe_engine.streaming.settings import AudioDecoder, audio_decoder, pcm16
from medscribe_engine.streaming.signing import ChunkVerifier
from medscribe_engine.streaming.wire import (
    MAX_AUDIO_CHUNK,
    Disconnected,
    EventStream,
    StreamError,
    decoded,
)

if TYPE_CHECKING:
    from medscribe_engine.streaming.app import StreamingService

__all__ = ["SCRIBE_STREAM_PATH", "ScribeStream", "get_scribe_stream"]

log = logging.getLogger("medscribe_engine.streaming")

SCRIBE_STREAM_PATH = "/medical-scribe-stream"
END_OF_SESSION = "END_OF_SESSION"
DRAIN_S = 2.0  # how long the rest of the input is waited for once the last event was read


class ScribeStream(EventStream[ScribeStreamSettings]):
    """One StartMedicalScribeStream stream."""

    label = "scribe stream"
    reraise_internal = True  # the session is then recorded FAILED (run's handler)

    def __init__(self, service: StreamingService, scope, receive, send):
        super().__init__(service, scope, receive, send)
        self.messages = eventstream.MessageReader()
        self.pending: list = []  # signed messages read but not yet opened
        self.input_ended = False  # the empty chunk (or the body's end) was read
        self.body_complete = False  # the request body's end was read
        self.end_of_session = False
        self.opened = False  # the session was opened (or resumed) by this stream
        self.audio_bytes = 0  # the session's stored audio, this stream's included

    def _accept(self) -> ScribeStreamSettings:
        settings = parse_scribe_headers(self.headers)
        if self.service.sessions is None:
            raise BadRequestException("HealthScribe streams are not available in this engine.")
        return settings

    def _log_end(self, settings: ScribeStreamSettings, seconds: float) -> None:
        log.info(
            "scribe stream %s ended after %.1fs (%s): %d event(s) in, %d partial and %d final segment(s) out",
            settings.session_id, seconds,
            "end of session" if self.end_of_session else "paused" if self.opened else "refused", self.events,
            self.results["partial"], self.results["final"],
        )  # fmt: skip

    def _sessions(self) -> SessionStore:
        """The engine's session store (:meth:`_accept` refuses the stream when there is none)."""
        sessions = self.service.sessions
        if sessions is None:
            raise RuntimeError("HealthScribe streams are not available in this engine.")
        return sessions

    async def _serve(self, settings: ScribeStreamSettings, chunks: ChunkVerifier) -> None:
        """Configure (or resume) the session from the first event, then stream."""
        try:
            kind, payload = await self._next_event(chunks)
            if kind != "ConfigurationEvent":
                raise StreamError(
                    BadRequestException("The first event of a stream must be a ConfigurationEvent.")
                )
            configuration = parse_configuration(payload)
            entries = self._vocabulary_entries(configuration.get("VocabularyName"))
            words = self._filter(configuration)
            session = self._sessions().open(settings, configuration, channel_count(configuration))
        except TranscribeError as error:
            await self._refuse(error)
            return
        except StreamError as stop:
            await self._refuse(stop.error)
            return
        except Disconnected:
            return
        self.opened, self.audio_bytes = True, session.audio_bytes
        log.info(
            "scribe stream %s started (stream %d of the session, %.1fs of audio before): %d Hz, %d channel(s), "
            "vocabulary %s, filter %s",
            session.session_id, session.streams, session.audio_seconds, session.sample_rate, session.channels,
            "on" if entries else "off", "on" if words else "off",
        )  # fmt: skip
        failed = False
        try:
            await self._stream(session, chunks, entries, words, configuration)
        except Exception:
            failed = True
            raise
        finally:
            self._sessions().close_stream(session, self.audio_bytes, self.end_of_session, failed=failed)
            if self.end_of_session and not failed and self.service.analytics is not None:
                self.service.analytics.submit(session.session_id)

    def _filter(self, configuration: dict):
        name = configuration.get("VocabularyFilterName")
        if not name:
            return None
        if self.service.filters is None:
            raise BadRequestException("Vocabulary filters are not available in this engine.")
        return self.service.filters.words_of(name)

    async def _next_event(self, chunks: ChunkVerifier) -> tuple[str | None, bytes]:
        """The next event of the input (its ``:event-type`` and payload); ``(None, b"")`` at its end."""
        while not self.pending:
            if self.input_ended:
                return None, b""
            outer, more = await self._receive(self.messages)
            self.pending.extend(outer)
            if not more:
                self.input_ended = self.body_complete = True
        payload = self._open(chunks, self.pending.pop(0))
        if not payload:  # the empty chunk: the end of the input
            self.input_ended, self.pending = True, []
            return None, b""
        return self._event_of(payload)

    async def _stream(self, session: Session, chunks: ChunkVerifier, entries, words, configuration) -> None:
        model = self.service.resources.streaming_whisper
        two = session.channels == 2
        channels = [
            ChannelStream(
                model, index if two else None, hotwords(entries) if entries else None, self.service.params
            )
            for index in range(session.channels)
        ]
        decoder = audio_decoder(session.media_encoding, session.sample_rate, session.channels)
        shaper = ScribeSegments(
            session.audio_seconds, two, entries, words, configuration.get("VocabularyFilterMethod")
        )
        reader = self._read(session, chunks, decoder, channels)
        await self._run(reader, self._recognize(channels, shaper.step), decoder, session.session_id)

    async def _stop(self, reader, recognizer, error: TranscribeError | None) -> None:
        self.end_of_session = False  # a stream ended early did not end its session
        await super()._stop(reader, recognizer, error)

    async def _read(self, session: Session, chunks: ChunkVerifier, decoder: AudioDecoder, channels) -> None:
        limit = int(MAX_AUDIO_S * session.stored_rate) * session.frame_bytes
        as_sent = session.media_encoding == "pcm"  # PCM is kept as sent, encoded audio decoded (16 kHz)
        path = self._sessions().audio_path(session.session_id)
        with open(path, "ab") as audio_file:
            audio_file.truncate(self.audio_bytes)  # whole frames, as recorded when the last stream ended
            while True:
                kind, payload = await self._next_event(chunks)
                if kind is None:
                    break
                if kind == "SessionControlEvent":
                    if _control_type(payload) != END_OF_SESSION:
                        raise StreamError(
                            BadRequestException("The SessionControlEvent Type must be END_OF_SESSION.")
                        )
                    self.end_of_session = True
                    break
                if kind == "ConfigurationEvent":
                    raise StreamError(
                        BadRequestException("Only the first event of a stream can be a ConfigurationEvent.")
                    )
                if kind != "AudioEvent":
                    raise StreamError(
                        BadRequestException(f"The event type {kind} isn't valid in this stream.")
                    )
                if len(payload) > MAX_AUDIO_CHUNK:
                    raise StreamError(
                        BadRequestException("An audio event is larger than the engine accepts (256 KiB).")
                    )
                decoded_audio = decoded(decoder.decode, payload)
                kept = payload if as_sent else pcm16(decoded_audio)
                if self.audio_bytes + len(kept) > limit:
                    raise StreamError(BadRequestException("A session can have at most 2 hours of audio."))
                audio_file.write(kept)
                self.audio_bytes += len(kept)
                for channel, samples in zip(channels, decoded_audio, strict=True):
                    channel.add(samples)
                self.audio_arrived.set()
            decoded_audio = decoded(decoder.flush)
            if not as_sent:
                kept = pcm16(decoded_audio)
                audio_file.write(kept)
                self.audio_bytes += len(kept)
        for channel, samples in zip(channels, decoded_audio, strict=True):
            channel.add(samples)
        self.ended.set()
        await self._drain()

    async def _drain(self) -> None:
        """Read what the client still sends after the last event (the empty chunk, the body's end), so
        the connection closes with nothing unread."""
        while not self.body_complete:
            try:
                message = await asyncio.wait_for(self.receive(), DRAIN_S)
            except TimeoutError:
                return
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return


def _control_type(payload: bytes) -> str | None:
    try:
        body = json.loads(payload or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return body.get("Type") if isinstance(body, dict) else None
