"""What every operation of the streaming port shares: HTTP errors in restJson1's shape, JSON responses,
the two ways a running stream ends early (an exception event, or a client that went away), and the
parts of a stream both stream operations have (:class:`EventStream`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from medscribe_engine.exceptions import (
    BadRequestException,
    InternalFailureException,
    LimitExceededException,
    TranscribeError,
)
from medscribe_engine.streaming import eventstream
from medscribe_engine.streaming.signing import ChunkVerifier, verify_request

if TYPE_CHECKING:
    from medscribe_engine.streaming.recognition import ChannelStream

log = logging.getLogger("medscribe_engine.streaming")

IDLE_TIMEOUT_S = 15.0  # AWS ends a stream that sends no audio for 15 s
MAX_AUDIO_CHUNK = 256 * 1024  # bytes of one AudioEvent
IDLE_MESSAGE = "Your request timed out because no new audio was received for {:g} seconds."


class StreamError(Exception):
    """Ends a stream with an exception event."""

    def __init__(self, error: TranscribeError):
        super().__init__(error.message)
        self.error = error


class Disconnected(Exception):
    """The client went away: nothing more can be sent."""


def decoded(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` of an audio decoder; audio that is not what the stream said it is
    (BadRequestException) ends the stream."""
    try:
        return call(*args)
    except BadRequestException as error:
        raise StreamError(error) from None


async def json_response(send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """A whole JSON response (restJson1): ``status``, ``body`` and extra ``headers``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def error_response(send, status: int, code: str, message: str) -> None:
    """An HTTP error in restJson1's shape (the SDK raises ``code``)."""
    await json_response(send, status, {"Message": message}, [(b"x-amzn-errortype", code.encode())])


class StreamSettings(Protocol):
    """What :meth:`EventStream.run` needs of a stream's settings."""

    @property
    def session_id(self) -> str: ...

    def response_headers(self) -> list[tuple[str, str]]: ...


SettingsT = TypeVar("SettingsT", bound=StreamSettings)


class EventStream(Generic[SettingsT]):
    """One stream of either operation: the request (``scope``, ``receive``, ``send``, its headers), the two
    events its audio reader and its recognizer meet on, the counts its log line reports, the request's
    course (:meth:`run`), the reading of its events, the response's end and the recognition loop
    (:meth:`_recognize`).

    :param service: the :class:`~medscribe_engine.streaming.app.StreamingService`.
    """

    def __init__(self, service, scope, receive, send):
        self.service = service
        self.scope = scope
        self.receive = receive
        self.send = send
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        if scope.get("http_version") == "2":  # the listener gives :authority as host
            self.headers[":authority"] = self.headers.get("host", "")
        self.ended = asyncio.Event()  # the audio has ended: every channel is finalised
        self.audio_arrived = asyncio.Event()
        self.events = 0
        self.results = {"partial": 0, "final": 0}

    label = "stream"  # how the log names this kind of stream
    reraise_internal = False  # an internal error propagates after its exception event was sent

    async def run(self) -> None:
        """Check the request's signature (an HTTP error when it fails), then its settings
        (:meth:`_accept`) and the stream limit; send the response's headers; a refused stream then ends
        with its exception event, an accepted one is served (:meth:`_serve`) as one of the service's
        active streams and its end logged (:meth:`_log_end`)."""
        signed = self.scope.get("signed")  # the WebSocket form's presigned URL, checked already
        if signed is None:
            try:
                signed = verify_request(self.service.verifier, "POST", self.scope["path"], self.headers)
            except TranscribeError as error:
                await error_response(self.send, error.status, error.code, error.message)
                return
        settings, failure = None, None
        try:
            settings = self._accept()
            if self.service.active >= self.service.max_streams:
                raise LimitExceededException(
                    f"You have reached your limit of {self.service.max_streams} concurrent streams. Wait "
                    "for a stream to end and try your request again."
                )
        except TranscribeError as error:
            failure = error
        echo = settings.response_headers() if settings else []
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/vnd.amazon.eventstream"),
                    (b"x-amzn-request-id", str(uuid.uuid4()).encode()),
                    *[(name.encode(), value.encode()) for name, value in echo],
                ],
            }
        )
        if failure is not None:
            await self._refuse(failure)
            return
        if settings is None:  # _accept returned them, or raised the failure answered above
            raise RuntimeError(f"a {self.label}'s settings are missing although it was not refused")
        self.service.active += 1
        started = time.monotonic()
        try:
            await self._serve(settings, ChunkVerifier(signed, self.service.verifier))
        finally:
            self.service.active -= 1
            self._log_end(settings, time.monotonic() - started)

    def _accept(self) -> SettingsT:
        """The stream's settings from its headers; the AWS error when the stream is refused."""
        raise NotImplementedError

    async def _serve(self, settings: SettingsT, chunks: ChunkVerifier) -> None:
        """The accepted stream, its response's headers sent."""
        raise NotImplementedError

    def _log_end(self, settings: SettingsT, seconds: float) -> None:
        """The log line of a served stream's end, ``seconds`` after it started."""
        raise NotImplementedError

    async def _refuse(self, error: TranscribeError) -> None:
        log.info("%s refused: %s", self.label, error.code)
        await self._finish(eventstream.exception_event(error.code, error.message))

    def _vocabulary_entries(self, name: str | None):
        """The entries of the READY custom vocabulary ``name`` (None: no vocabulary)."""
        if not name:
            return None
        if self.service.vocabularies is None:
            raise BadRequestException("Custom vocabularies are not available in this engine.")
        return self.service.vocabularies.ready_entries(name)

    async def _receive(self, messages: eventstream.MessageReader) -> tuple[list[eventstream.Message], bool]:
        """The signed messages the next part of the request body completes, and whether more of the body
        follows. A client that sends nothing for ``idle_timeout_s`` or a malformed stream ends the stream
        (StreamError), a client that went away raises Disconnected."""
        try:
            message = await asyncio.wait_for(self.receive(), self.service.idle_timeout_s)
        except TimeoutError:
            raise StreamError(BadRequestException(IDLE_MESSAGE.format(self.service.idle_timeout_s))) from None
        if message["type"] == "http.disconnect":
            raise Disconnected()
        try:
            outer = messages.feed(message.get("body", b""))
        except eventstream.ParserError:
            raise StreamError(BadRequestException("The event stream is malformed.")) from None
        return outer, message.get("more_body", False)

    @staticmethod
    def _open(chunks: ChunkVerifier, signed: eventstream.Message) -> bytes:
        """The payload of a signed chunk (empty: the end of the input); a bad signature ends the stream."""
        try:
            return chunks.open(signed)
        except TranscribeError as error:
            raise StreamError(error) from None

    def _event_of(self, payload: bytes) -> tuple[str | None, bytes]:
        """The ``:event-type`` and payload of the one event message a chunk's payload must hold."""
        try:
            inner = eventstream.MessageReader().feed(payload)
        except eventstream.ParserError:
            inner = []
        if len(inner) != 1 or inner[0].headers.get(":message-type") != "event":
            raise StreamError(BadRequestException("Each signed chunk must hold exactly one event message."))
        self.events += 1
        return inner[0].headers.get(":event-type"), inner[0].payload

    async def _finish(self, last: bytes = b"") -> None:
        await self.send({"type": "http.response.body", "body": last, "more_body": False})

    async def _run(self, reader: Coroutine, recognizer: Coroutine, decoder, session_id: str) -> None:
        """Run the audio ``reader`` and the ``recognizer`` together until both end. A StreamError ends the
        stream with its exception event, a client that went away ends it without one, anything else with
        InternalFailureException; the audio ``decoder`` is closed whatever happened."""
        reading, recognizing = asyncio.create_task(reader), asyncio.create_task(recognizer)
        try:
            done, _pending = await asyncio.wait({reading, recognizing}, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
            await recognizing
        except StreamError as stop:
            await self._stop(reading, recognizing, stop.error)
        except Disconnected:
            await self._stop(reading, recognizing, None)
        except Exception as error:
            log.error("%s %s: internal %s", self.label, session_id, type(error).__name__)
            await self._stop(reading, recognizing, InternalFailureException("An internal error occurred."))
            if self.reraise_internal:
                raise
        else:
            await self._finish()
        finally:
            decoder.close()

    async def _stop(
        self, reader: asyncio.Task, recognizer: asyncio.Task, error: TranscribeError | None
    ) -> None:
        for task in (reader, recognizer):
            task.cancel()
        if error is not None:
            log.info("%s ended with %s", self.label, error.code)
            await self._finish(eventstream.exception_event(error.code, error.message))

    async def _recognize(
        self, channels: list[ChannelStream], step: Callable[[ChannelStream, bool], list[tuple[str, bytes]]]
    ) -> None:
        """Run ``step(channel, end)`` in the service's executor for each channel with a step's worth of new
        audio (each channel once more after the audio ended) and send the (kind, message) pairs it
        returns, until the audio has ended."""
        loop = asyncio.get_running_loop()
        while True:
            end = self.ended.is_set()
            due = [channel for channel in channels if end or channel.due()]
            if not due:
                self.audio_arrived.clear()
                waits = {
                    asyncio.ensure_future(self.audio_arrived.wait()),
                    asyncio.ensure_future(self.ended.wait()),
                }
                _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                continue
            for channel in due:
                messages = await loop.run_in_executor(self.service.executor, step, channel, end)
                for kind, message in messages:
                    self.results[kind] += 1
                    await self.send({"type": "http.response.body", "body": message, "more_body": True})
            if end:
                return
