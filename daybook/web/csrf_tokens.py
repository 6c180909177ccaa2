"""The signed CSRF token, signed once per session token rather than once for every page.

Flask-WTF signs the session's raw token afresh on each request that draws a form: an HMAC and
a serialisation, a tenth of an empty page's cost. Daybook's tokens never expire
(WTF_CSRF_TIME_LIMIT is None), so the token signed for a session is as good the next time.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, g, session
from itsdangerous import URLSafeTimedSerializer

SIGNED_TOKENS_KEPT = 4096


@lru_cache(maxsize=SIGNED_TOKENS_KEPT)
def _signed(secret_key: str | bytes, raw: str) -> str:
    return URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").dumps(raw)


def _reuse_signed_token() -> None:
    config = current_app.config
    if config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return  # a signed token then carries its age: sign afresh
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    raw = session.get(field)
    if isinstance(raw, str) and field not in g:
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        setattr(g, field, _signed(secret, raw))


def register(app: Flask) -> None:
    app.before_request(_reuse_signed_token)
