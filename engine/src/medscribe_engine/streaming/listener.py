"""The streaming port: cleartext HTTP/2 with prior knowledge, served with the ``h2`` library on asyncio.

Each request stream is handed to an ASGI-style application (``app(scope, receive, send)``, the subset
:class:`~medscribe_engine.streaming.app.StreamingApp` uses: ``http.request`` / ``http.disconnect`` in,
``http.response.start`` / ``http.response.body`` out), so both directions run at once. Flow control is
honoured both ways: received data is acknowledged as the application reads it, and a response waits for
the client's window.

Why not an ASGI server: the AWS SDK for JavaScript sends GOAWAY (``session.close()``: no *new* streams)
on its event-stream session as soon as the response headers arrive. hypercorn 0.18 ends every stream of
the connection on a GOAWAY, and h2 4.4 moves the connection to CLOSED (no frame can be sent after it),
so every stream ended after its first event. Here a graceful GOAWAY (NO_ERROR) only stops new streams
(RFC 9113, 6.8: the streams already open run to completion); the connection closes after its last one.

The socket is bound by the caller, so a port in use is found before any model loads;
:meth:`StreamListener.stop` closes the port and resets the streams in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from medscribe_engine.streaming.websocket import WebSocketStreams

log = logging.getLogger("medscribe_engine.streaming")

READ_BYTES = 65536
IDLE_CONNECTION_S = 60.0  # a connection with no stream open is closed after this long (as the batch port)


class ServerConnection(h2.connection.H2Connection):
    """h2's server connection, except that a graceful GOAWAY from the client leaves the open streams
    running (h2 4.4.1's ``_receive_goaway_frame`` closes the whole connection)."""

    def _receive_goaway_frame(self, frame):
        if frame.error_code != 0:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = h2.errors.ErrorCodes.NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]


class StreamListener:
    """Serves ``app`` on ``sock`` from a daemon thread with its own event loop.

    :param sock: a bound, listening TCP socket.
    :param app: the ASGI-style application.
    :param websocket_sock: another, for the WebSocket form (:mod:`~medscribe_engine.streaming.websocket`),
        or None.
    """

    def __init__(self, sock: socket.socket, app, websocket_sock: socket.socket | None = None):
        self.sock = sock
        self.app = app
        self.websocket_sock = websocket_sock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-streams", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=10)

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        connections: set[asyncio.Task] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is None:  # asyncio.start_server runs each client callback as a task of its own
                raise RuntimeError("a connection is accepted outside an asyncio task")
            connections.add(task)
            try:
                await Connection(self.app, reader, writer).run()
            finally:
                connections.discard(task)

        self.sock.setblocking(False)
        server = await asyncio.start_server(accept, sock=self.sock)
        websockets = None
        if self.websocket_sock is not None:
            self.websocket_sock.setblocking(False)
            websockets = await WebSocketStreams(self.app).serve(self.websocket_sock)
        self._started.set()
        await self._stop.wait()
        server.close()
        if websockets is not None:
            websockets.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)


class Connection:
    """One HTTP/2 connection: frames in and out, one application task per request stream."""

    def __init__(self, app, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.app = app
        self.reader = reader
        self.writer = writer
        self.h2 = ServerConnection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Task] = set()
        self.window_changed = asyncio.Event()
        self.going_away = False
        peer = writer.get_extra_info("peername") or ("", 0)
        self.client = (str(peer[0]), int(peer[1])) if len(peer) >= 2 else None

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def run(self) -> None:
        self.h2.initiate_connection()
        await self.flush()
        try:
            while not (self.going_away and not self.streams):
                timeout = None if self.streams else IDLE_CONNECTION_S
                try:
                    data = await asyncio.wait_for(self.reader.read(READ_BYTES), timeout)
                except (TimeoutError, ConnectionError):
                    break
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:  # not HTTP/2 (an HTTP/1.1 client), or a broken peer
                    await self.flush()
                    break
                for event in events:
                    self._handle(event)
                await self.flush()
        finally:
            for stream in self.streams.values():
                stream.disconnect()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                self.writer.close()

    def _handle(self, event) -> None:
        stream: Stream | None
        if isinstance(event, h2.events.RequestReceived):
            if self.going_away:
                self.h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            stream = Stream(self, event.stream_id, event.headers)
            self.streams[event.stream_id] = stream
            task = asyncio.create_task(stream.run_app())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is None:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                stream.received(event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body_ended()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.disconnect()
            self.window_changed.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.window_changed.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.going_away = True  # GOAWAY: no new streams; the open ones run to their end

    def finished(self, stream_id: int) -> None:
        self.streams.pop(stream_id, None)


class Stream:
    """One request stream, seen by the application through ``receive`` and ``send``."""

    def __init__(self, connection: Connection, stream_id: int, headers: list[tuple[bytes, bytes]]):
        self.connection = connection
        self.stream_id = stream_id
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.response_started = False
        self.response_ended = False
        pseudo = {name: value for name, value in headers if name.startswith(b":")}
        path, _, query = pseudo.get(b":path", b"/").partition(b"?")
        authority = pseudo.get(b":authority")
        regular = [(name.lower(), value) for name, value in headers if not name.startswith(b":")]
        if authority is not None:
            regular = [(b"host", authority)] + [(n, v) for n, v in regular if n != b"host"]
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "2",
            "method": pseudo.get(b":method", b"GET").decode("latin-1"),
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "headers": regular,
            "client": connection.client,
        }

    def received(self, data: bytes, flow_controlled_length: int) -> None:
        self.inbox.put_nowait(
            ({"type": "http.request", "body": data, "more_body": True}, flow_controlled_length)
        )

    def body_ended(self) -> None:
        self.inbox.put_nowait(({"type": "http.request", "body": b"", "more_body": False}, 0))

    def disconnect(self) -> None:
        self.closed = True
        self.inbox.put_nowait(({"type": "http.disconnect"}, 0))
        self.connection.window_changed.set()

    async def receive(self) -> dict:
        message, length = await self.inbox.get()
        if length and not self.closed:  # the application has it: the client may send that much more
            with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                self.connection.h2.acknowledge_received_data(length, self.stream_id)
            await self.connection.flush()
        return message

    async def send(self, message: dict) -> None:
        if self.closed or self.response_ended:
            return
        h2conn = self.connection.h2
        if message["type"] == "http.response.start":
            headers = [(b":status", str(message["status"]).encode()), *message.get("headers", [])]
            h2conn.send_headers(self.stream_id, headers)
            self.response_started = True
            await self.connection.flush()
        elif message["type"] == "http.response.body":
            await self._send_data(message.get("body", b""), not message.get("more_body", False))

    async def _send_data(self, data: bytes, end: bool) -> None:
        h2conn = self.connection.h2
        while data and not self.closed:
            window = min(h2conn.local_flow_control_window(self.stream_id), h2conn.max_outbound_frame_size)
            if window <= 0:
                self.connection.window_changed.clear()
                await self.connection.window_changed.wait()
                continue
            chunk, data = data[:window], data[window:]
            h2conn.send_data(self.stream_id, chunk)
            await self.connection.flush()
        if end and not self.closed:
            h2conn.end_stream(self.stream_id)
            self.response_ended = True
            await self.connection.flush()

    async def run_app(self) -> None:
        try:
            await self.connection.app(self.scope, self.receive, self.send)
        except Exception as error:
            log.error("stream handler failed: %s", type(error).__name__)
        finally:
            if not self.closed and not self.response_ended:
                with contextlib.suppress(h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
                    if self.response_started:
                        self.connection.h2.end_stream(self.stream_id)
                    else:
                        self.connection.h2.reset_stream(self.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                await self.connection.flush()
            self.connection.finished(self.stream_id)
            if self.connection.going_away and not self.connection.streams:
                # wake the read loop so the connection closes; bytes the client still sends are not read
                # (asyncio's reader takes no data after its end)
                # the writer's transport is the socket's, which reads too (typeshed types it as write-only)
                transport = cast(asyncio.Transport, self.connection.writer.transport)
                transport.pause_reading()
                self.connection.reader.feed_eof()
