"""Errors as application/problem+json (RFC 9457), for every status the API can answer."""

from __future__ import annotations

import json

from flask import Response
from pydantic import ValidationError as PydanticValidationError
from werkzeug.exceptions import HTTPException

from daybook import errors

MAX_FIELD_ERRORS = 50
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
    507: "Insufficient storage",
}


def problem(
    status: int,
    detail: str,
    *,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, object] = {
        "type": f"https://daybook.invalid/problems/{status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if fields:
        body["errors"] = fields
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def from_http_exception(exc: HTTPException) -> Response:
    """Turn a werkzeug HTTP error into problem+json, keeping its headers (Allow, Retry-After…)."""
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = exc.description or TITLES.get(status, "Error")
    if status == 413:
        detail = "The request body is larger than Daybook accepts."
    elif status == 429:
        detail = f"Too many requests: the limit is {detail}. Wait as Retry-After says."
    return problem(status, detail, headers=headers)


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def from_pydantic(exc: PydanticValidationError) -> Response:
    """Answer a request that failed its schema with 422 and a message per field."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        if len(fields) >= MAX_FIELD_ERRORS:
            break  # a body of 100,000 unknown keys gets a short answer, not 100,000 lines
        fields.setdefault(
            _location(tuple(error.get("loc", ()))), error.get("msg", "Invalid value.")
        )
    return problem(422, "The request does not match the schema.", fields=fields)


def from_domain(exc: errors.DaybookError) -> Response:
    """Map a service's domain error to its status."""
    if isinstance(exc, errors.ValidationError):
        return problem(422, "Some fields are invalid.", fields=exc.fields)
    if isinstance(exc, errors.NotFound):
        return problem(404, str(exc) or "Not found.")
    if isinstance(exc, errors.PermissionDenied):
        return problem(403, str(exc) or "Forbidden.")
    if isinstance(exc, errors.Throttled):
        return problem(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, errors.Conflict):
        return problem(409, str(exc))
    return problem(400, str(exc))
