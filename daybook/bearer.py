"""The token of an `Authorization: Bearer <token>` header, read one way for the whole app."""

from __future__ import annotations

from flask import request


def sent_bearer() -> str | None:
    """Return the token of the request's `Authorization: Bearer <token>` header, or None."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header[:7].lower() == "bearer " else None
