"""What every operation of the streaming port shares: HTTP errors in restJson1's shape, JSON responses,
and the two ways a running stream ends early (an exception event, or a client that went away)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from medscribe_engine.exceptions import BadRequestException, TranscribeError

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
