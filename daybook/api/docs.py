"""The OpenAPI document and the browsable reference, served from vendored files."""

from __future__ import annotations

from flask import Flask, jsonify, render_template

# Swagger UI sets style attributes from script; everything else stays as strict as elsewhere.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def register(app: Flask) -> None:
    """Serve /api/v1/openapi.json and the reference at /api/docs."""

    # Plain Flask rules (add_url_rule), so that the document does not describe itself.
    def openapi_json():
        return jsonify(app.api_doc)  # type: ignore[attr-defined]

    def api_docs():
        return render_template("api/docs.html"), 200, {"Content-Security-Policy": DOCS_CSP}

    app.add_url_rule("/api/v1/openapi.json", "api_openapi_json", openapi_json)
    app.add_url_rule("/api/docs", "api_docs", api_docs)
