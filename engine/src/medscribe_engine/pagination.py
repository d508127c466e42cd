"""NextTokens of the List operations: a position in one listing, signed so it cannot be forged or reused.

A token is ``<base64url {"after": id}>.<base64url HMAC-SHA256>``; the HMAC covers the payload and the
listing that issued it (the resource listed and its filters, without case as the name filters compare),
so a token that was altered, made up, or issued by another listing is refused with BadRequestException
instead of paging from a position the engine never gave out. The key is random, kept in ``<data_dir>/pagination.key``, so the replicas
sharing a data directory accept each other's tokens and a token survives an engine restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

from medscribe_engine.exceptions import BadRequestException

KEY_FILE = "pagination.key"
KEY_BYTES = 32
MAX_POSITION = 2**63 - 1  # SQLite's largest INTEGER: ids never exceed it
INVALID_TOKEN = "The NextToken is not valid. Check the token and try your request again."


@lru_cache(maxsize=8)
def _key(data_dir: Path) -> bytes:
    """The data directory's token key, created on first use (atomically: replicas may race to create it)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(draft, path)  # fails if another process linked its key first: that one is used
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise RuntimeError(f"{KEY_FILE} in the engine's data directory is damaged; remove it to make another")
    return key


def _mac(data_dir: Path, listing: tuple, payload: bytes) -> bytes:
    # case-insensitive, as the NameContains / JobNameContains filters are ("ABC" lists what "abc" lists)
    entries = [entry.lower() if isinstance(entry, str) else entry for entry in listing]
    scope = json.dumps(entries, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return hmac.new(_key(data_dir.resolve()), scope + b"\n" + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_token(position: int, listing: tuple, data_dir: Path) -> str:
    """The NextToken that continues ``listing`` after ``position``.

    :param position: the id of the last item of the page just returned.
    :param listing: what identifies the listing: the resource listed and every filter of the request.
    :param data_dir: the engine's data directory (where the key lives).
    """
    payload = json.dumps({"after": int(position)}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(data_dir, listing, payload))}"


def decode_token(token: str, listing: tuple, data_dir: Path) -> int:
    """The position a NextToken continues after; BadRequestException unless this engine issued it for
    this same listing.

    :param token: the NextToken of the request.
    :param listing: the listing of the request, as passed to :func:`encode_token`.
    :param data_dir: the engine's data directory (where the key lives).
    """
    try:
        payload_part, _, mac_part = token.partition(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (binascii.Error, ValueError):  # not base64, or not ASCII
        raise BadRequestException(INVALID_TOKEN) from None
    if not hmac.compare_digest(mac, _mac(data_dir, listing, payload)):
        raise BadRequestException(INVALID_TOKEN)
    position = json.loads(payload)["after"]  # signed by this engine: a payload it wrote
    if type(position) is not int or not 0 <= position <= MAX_POSITION:
        raise BadRequestException(INVALID_TOKEN)
    return position
