"""The WebSocket form of StartMedicalStreamTranscription, served with the ``websockets`` library.

AWS serves it at ``wss://transcribestreaming.<region>.amazonaws.com:8443/medical-stream-transcription-
websocket?<settings>&X-Amz-...``: the settings are the query parameters (``language-code``,
``media-encoding``, ``sample-rate``, ``specialty``, ``type``, ...: the HTTP/2 form's header names without
``x-amzn-transcribe-``), the request is a presigned URL (:func:`~medscribe_engine.streaming.signing.
verify_presigned`, checked before the upgrade: a bad one gets its HTTP error, no socket), and each binary
message is one signed event chunk, exactly as the HTTP/2 body carries them. The engine answers with
binary messages, each one event-stream message (``TranscriptEvent`` or an exception), then closes.

The stream itself is :class:`~medscribe_engine.streaming.app.MedicalStream`, given the socket as ASGI-style
``receive`` / ``send`` (scope type ``websocket``). Cleartext ``ws://`` on the engine's own port: the AWS
SDKs' WebSocket handlers use ``wss://`` on port 8443, so point them at a TLS proxy there, or (JavaScript)
as ``engine/tests/streaming/stream.mjs`` does with ``websocket: true``.
"""

from __future__ import annotations

import json
import logging
import socket
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from medscribe_engine.exceptions import TranscribeError
from medscribe_engine.streaming.app import MEDICAL_WEBSOCKET_PATH, StreamingApp
from medscribe_engine.streaming.settings import PREFIX
from medscribe_engine.streaming.signing import verify_presigned
from medscribe_engine.streaming.wire import MAX_AUDIO_CHUNK

log = logging.getLogger("medscribe_engine.streaming")

MAX_MESSAGE = MAX_AUDIO_CHUNK + 4096  # one signed chunk: an audio event and its framing


class WebSocketStreams:
    """The WebSocket port of ``app`` (:meth:`serve` in the streaming listener's event loop)."""

    def __init__(self, app: StreamingApp):
        self.app = app

    async def serve(self, sock: socket.socket) -> Server:
        return await serve(
            self._handle,
            sock=sock,
            process_request=self._check,
            max_size=MAX_MESSAGE,
            compression=None,
            server_header=None,
        )

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """The presigned URL checked before the upgrade; its HTTP error (restJson1's body) otherwise."""
        url = urlsplit(request.path)
        if url.path != MEDICAL_WEBSOCKET_PATH:
            return _error(connection, 404, "UnknownOperationException", "Unknown operation.")
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            signed = verify_presigned(
                self.app.service.verifier, url.path, query, request.headers.get("host", "")
            )
        except TranscribeError as error:
            log.info("websocket stream refused: %s", error.code)
            return _error(connection, error.status, error.code, error.message)
        connection.scope = {  # type: ignore[attr-defined]
            "type": "websocket",
            "path": url.path,
            "signed": signed,
            "headers": [
                ((PREFIX + name).encode("latin-1"), value.encode("latin-1"))
                for name, value in query.items()
                if not name.startswith("X-Amz-")
            ],
        }
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        async def receive() -> dict:
            try:
                data = await connection.recv()
            except ConnectionClosed:
                return {"type": "http.disconnect"}
            body = data if isinstance(data, bytes) else data.encode()
            return {"type": "http.request", "body": body, "more_body": True}

        async def send(message: dict) -> None:
            if message["type"] != "http.response.body":
                return  # the status line was the upgrade's
            try:
                if message.get("body"):
                    await connection.send(message["body"])
                if not message.get("more_body", False):
                    await connection.close()
            except ConnectionClosed:
                pass

        await self.app(connection.scope, receive, send)  # type: ignore[attr-defined]


def _error(connection: ServerConnection, status: int, code: str, message: str) -> Response:
    response = connection.respond(status, json.dumps({"Message": message}))
    response.headers["Content-Type"] = "application/json"
    response.headers["x-amzn-ErrorType"] = code
    return response
