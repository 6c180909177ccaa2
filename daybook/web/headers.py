"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


_ALWAYS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def register(app: Flask) -> None:
    """Add CSP, nosniff, referrer and framing rules (and HSTS over HTTPS) to every response.

    A view may set any of them itself (the API docs page loosens the CSP), and then keeps it.
    """
    wanted = [
        (name.lower(), name, value)
        for name, value in _ALWAYS + ((_HSTS,) if app.config["DAYBOOK"].https else ())
    ]

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        # The names present, looked at once: werkzeug answers each `in` or setdefault for a
        # missing header by raising and catching an exception, a dozen of them a request.
        present = {name.lower() for name, _ in headers.items()}
        for key, name, value in wanted:
            if key not in present:
                headers.add(name, value)
        if response.mimetype == "text/html" and "cache-control" not in present:
            headers.add("Cache-Control", "no-store")
        return response
