"""AWS event-stream framing (``application/vnd.amazon.eventstream``): messages in and out.

A message is a prelude (total length, headers length, the prelude's CRC32), typed headers, the payload
and the whole message's CRC32, all big-endian. Decoding is botocore's own
(:class:`botocore.eventstream.EventStreamBuffer`: lengths and both CRCs checked); encoding is here, since
botocore only reads event streams. Header value types follow the specification: 0/1 boolean, 2 byte,
3 short, 4 integer, 5 long, 6 byte array, 7 string, 8 timestamp (milliseconds), 9 UUID.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from dataclasses import dataclass
from datetime import datetime

from botocore.eventstream import EventStreamBuffer, ParserError

__all__ = ["Message", "MessageReader", "ParserError", "encode", "event", "exception_event"]


@dataclass
class Message:
    """One decoded message: its headers (name -> value) and raw payload."""

    headers: dict
    payload: bytes


class MessageReader:
    """Messages from the bytes of a request body as they arrive, in order; a message split across reads
    is kept until it is complete. A bad prelude or CRC raises botocore's :class:`ParserError`
    (``ChecksumMismatch``, ``InvalidPayloadLength``, ...)."""

    def __init__(self):
        self._buffer = EventStreamBuffer()

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by ``data``."""
        self._buffer.add_data(data)
        return [Message(dict(message.headers), bytes(message.payload)) for message in self._buffer]


def _header(name: str, value) -> bytes:
    encoded_name = name.encode("utf-8")
    head = struct.pack("!B", len(encoded_name)) + encoded_name
    if value is True:
        return head + b"\x00"
    if value is False:
        return head + b"\x01"
    if isinstance(value, int):
        return head + b"\x04" + struct.pack("!i", value)
    if isinstance(value, bytes | bytearray):
        return head + b"\x06" + struct.pack("!H", len(value)) + bytes(value)
    if isinstance(value, datetime):
        return head + b"\x08" + struct.pack("!q", int(value.timestamp() * 1000))
    encoded = str(value).encode("utf-8")
    return head + b"\x07" + struct.pack("!H", len(encoded)) + encoded


def encode(headers: dict, payload: bytes) -> bytes:
    """One message: ``headers`` (str -> str, int, bool, bytes or datetime) and ``payload``."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded_headers))
    prelude += struct.pack("!I", crc32(prelude) & 0xFFFFFFFF)
    body = prelude + encoded_headers + payload
    return body + struct.pack("!I", crc32(body) & 0xFFFFFFFF)


def event(event_type: str, body: dict) -> bytes:
    """An event message of the output stream with a JSON payload (``TranscriptEvent``)."""
    headers = {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}
    return encode(headers, json.dumps(body, separators=(",", ":")).encode("utf-8"))


def exception_event(exception_type: str, message: str) -> bytes:
    """A modeled exception of the output stream (``BadRequestException``, ``LimitExceededException``,
    ...): ``:message-type`` exception, the payload ``{"Message": ...}``."""
    headers = {
        ":message-type": "exception",
        ":exception-type": exception_type,
        ":content-type": "application/json",
    }
    return encode(headers, json.dumps({"Message": message}).encode("utf-8"))
