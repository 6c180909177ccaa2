"""The JSON API at /api/v1: bearer tokens or the browser session, problem+json errors."""

from __future__ import annotations

import hashlib
import json

from flask import Flask, Response, current_app, g, request
from flask_login import current_user
from flask_openapi3 import APIBlueprint, Tag
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError as BadCSRFToken

from daybook import errors as domain
from daybook.api.errors import from_domain, from_http_exception, problem
from daybook.api.schemas import problems
from daybook.bearer import sent_bearer
from daybook.extensions import limiter
from daybook.services import tokens

PUBLIC_ENDPOINTS = {"api.auth_token", "api.auth_refresh"}
MAX_BODY = 2 * 1024 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

bp = APIBlueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    abp_security=[{"bearer": []}],
    # 422 here too: a bad path or query parameter can fail validation on any route, and
    # flask-openapi3 would otherwise document that answer as its own application/json list.
    abp_responses=problems(400, 401, 403, 413, 415, 422, 429),
)
TAG_ENTRIES = Tag(name="entries", description="Journal entries and the trash")
TAG_TAGS = Tag(name="tags", description="Tags with counts, rename, merge, delete")
TAG_AUTH = Tag(name="auth", description="Tokens and sessions")


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise a pydantic model (or plain data) as JSON."""
    data = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body)
    response = Response(data, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _bearer() -> str | None:
    if "Authorization" not in request.headers:
        return None
    token = sent_bearer()
    if token is None:
        raise tokens.InvalidToken("Send the token as 'Authorization: Bearer <token>'.")
    return token


def _foreign_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == request.host_url.rstrip("/"):
        return False
    return origin not in current_app.config["DAYBOOK"].cors_origins


def _check_body() -> Response | None:
    # One byte over the limit: a streamed body (no Content-Length) is cut there, not refused.
    request.max_content_length = MAX_BODY + 1
    if request.content_length is not None and request.content_length > MAX_BODY:
        return problem(413, "The request body is larger than 2 MB.")
    if len(request.get_data(cache=True)) > MAX_BODY:
        return problem(413, "The request body is larger than 2 MB.")
    if request.method in ("POST", "PATCH", "PUT") and (request.content_length or request.data):
        if not request.is_json:
            return problem(415, "Send the body as application/json.")
        try:
            # Parse once here; a body of `null` is JSON too, and is left to the schema (422).
            json.loads(request.get_data())
        except (ValueError, RecursionError):
            # RecursionError: nesting deeper than the parser's stack, which is no entry either.
            return problem(400, "The body is not valid JSON.")
    return None


@bp.before_request
def authenticate() -> Response | None:
    """Find who is calling: a bearer token, or this site's own pages with their session."""
    refused = _check_body()
    if refused is not None:
        return refused
    if _foreign_origin():
        return problem(403, "Requests from this origin are not allowed (see DAYBOOK_CORS_ORIGINS).")
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return None
    try:
        bearer = _bearer()
        if bearer is not None:
            g.credential = tokens.authenticate(bearer, current_app.secret_key)
        elif current_user.is_authenticated:
            if request.method not in SAFE_METHODS:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            g.credential = tokens.Credential(
                current_user._get_current_object(), frozenset({"read", "write"})
            )
        else:
            return problem(
                401, "Authenticate with a bearer token.", headers={"WWW-Authenticate": "Bearer"}
            )
    except tokens.InvalidToken as exc:
        return problem(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    except (CSRFError, BadCSRFToken):
        # validate_csrf raises wtforms' ValidationError for a missing or forged token.
        return problem(
            403, "Calls from a browser session need the page's CSRF token in X-CSRFToken."
        )
    if request.method not in SAFE_METHODS and "write" not in g.credential.scopes:
        return problem(403, "This token may only read; it lacks the write scope.")
    return None


def caller():
    """Return the user the current API request acts for."""
    return g.credential.user


@bp.errorhandler(domain.DaybookError)
def domain_error(exc: domain.DaybookError) -> Response:
    return from_domain(exc)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    return from_http_exception(exc)


def register_api(app: Flask) -> None:
    """Mount the API, exempt from form CSRF (it checks its own), with CORS for listed origins."""
    from daybook.api import auth, entries, tags  # noqa: F401 - routes register on import
    from daybook.extensions import csrf

    csrf.exempt(bp)
    app.register_api(bp)  # type: ignore[attr-defined]
    origins = app.config["DAYBOOK"].cors_origins
    if origins:
        from flask_cors import CORS

        CORS(
            app,
            resources={r"/api/v1/*": {"origins": list(origins)}},
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "X-CSRFToken",
            ],
            expose_headers=[
                "ETag",
                "Idempotent-Replayed",
                "Location",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "Retry-After",
            ],
        )


def _token_key() -> str:
    return "token:" + hashlib.sha256((sent_bearer() or "").encode()).hexdigest()[:32]


def _address_key() -> str:
    return "addr:" + (request.remote_addr or "unknown")


def _without_token() -> bool:
    return sent_bearer() is None


def _api_rate() -> str:
    return current_app.config["DAYBOOK"].api_rate_limit


# One bucket for the whole API (shared limits, not one per route), counted per token and per
# client address, so made-up tokens buy no fresh allowance. Registered once, at import: the
# blueprint and the limiter are shared by every app a process builds (tests build many).
limiter.shared_limit(_api_rate, "api-token", key_func=_token_key, exempt_when=_without_token)(bp)
limiter.shared_limit(_api_rate, "api-address", key_func=_address_key)(bp)
