"""Tokens that protect the reviewer's forms against cross-site request forgery.

Why our own: the reviewer app is a FastAPI app mounted in Airflow 3's api-server, and that stack has no
CSRF protection to reuse. Airflow 2's forms used Flask-WTF (a Flask session); the api-server has no
server-side session and authenticates a browser by its JWT in the ``_token`` cookie, which a browser
also attaches to a form another site posts to us. So each form carries a token the attacker's page
cannot read or compute: an HMAC, keyed with the api-server's ``[api] secret_key``, of the user's id and
the time the token was issued. It is bound to the user (another user's token is refused) and expires
after ``TOKEN_TTL``; it needs no state, so it works across api-server workers that share the key (Airflow
requires them to). It does not depend on the JWT itself, which the api-server refreshes mid-session.
"""

from __future__ import annotations

import hashlib
import hmac
import time

#: 12 h: a reviewer's working day on one page load; after that, reloading the page gives a new token
TOKEN_TTL = 12 * 3600


def _secret() -> bytes:
    from airflow.configuration import conf

    return conf.get("api", "secret_key").encode()


def _mac(user_id: str, issued: int, secret: bytes) -> str:
    return hmac.new(secret, f"{user_id}\x00{issued}".encode(), hashlib.sha256).hexdigest()


def issue(user_id: str, *, now: float | None = None, secret: bytes | None = None) -> str:
    """A token for this user's forms.

    :param user_id: the Airflow user's id.
    :param now: the time (seconds since the epoch); the clock if None.
    :param secret: the key; the api-server's secret_key if None.
    """
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_mac(user_id, issued, secret or _secret())}"


def valid(token: str | None, user_id: str, *, now: float | None = None, secret: bytes | None = None) -> bool:
    """Whether a form's token was issued to this user by this server, less than ``TOKEN_TTL`` ago.

    :param token: the form's token.
    :param user_id: the Airflow user posting the form.
    :param now: the time; the clock if None.
    :param secret: the key; the api-server's secret_key if None.
    """
    issued_text, _, mac = (token or "").partition(".")
    if not issued_text.isdigit() or not mac:
        return False
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not 0 <= age <= TOKEN_TTL:
        return False
    return hmac.compare_digest(mac, _mac(user_id, issued, secret or _secret()))
