"""The OpenAPI document and the browsable reference, served from vendored files."""

from __future__ import annotations

import threading

from flask import Flask, jsonify, render_template

# Swagger UI sets style attributes from script; everything else stays as strict as elsewhere.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# Request headers that views read themselves, so that a bad one is refused in Daybook's own words
# (problem+json) rather than by the framework's validation: declared here for the document.
REQUEST_HEADERS: dict[tuple[str, str], dict] = {
    ("/api/v1/entries", "post"): {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Any 1–200 visible ASCII characters. A retry with the same key and the "
        "same body answers as the first request did (`Idempotent-Replayed: true`) instead of "
        "writing the entry twice; the same key with another body is refused (422).",
        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
    },
    ("/api/v1/entries/{entry_id}", "patch"): {
        "name": "If-Match",
        "in": "header",
        "required": True,
        "description": "The entry's `ETag` as it was read, so that a newer edit is never "
        "overwritten: 428 without it, 412 if the entry changed since. `*` overwrites whatever "
        "the version.",
        "schema": {"type": "string"},
    },
}


# The document is built on its first request and kept: two first requests at once (gthread)
# must not both add the headers.
_ADDING_HEADERS = threading.Lock()


def with_request_headers(document: dict) -> dict:
    """Add REQUEST_HEADERS to their operations in the document (once; it is kept and reused)."""
    with _ADDING_HEADERS:
        for (path, method), header in REQUEST_HEADERS.items():
            parameters = document["paths"][path][method].setdefault("parameters", [])
            if not any(p.get("name") == header["name"] for p in parameters):
                parameters.append(header)
    return document


def register(app: Flask) -> None:
    """Serve /api/v1/openapi.json and the reference at /api/docs."""

    # Plain Flask rules (add_url_rule), so that the document does not describe itself.
    def openapi_json():
        return jsonify(with_request_headers(app.api_doc))  # type: ignore[attr-defined]

    def api_docs():
        return render_template("api/docs.html"), 200, {"Content-Security-Policy": DOCS_CSP}

    app.add_url_rule("/api/v1/openapi.json", "api_openapi_json", openapi_json)
    app.add_url_rule("/api/docs", "api_docs", api_docs)
