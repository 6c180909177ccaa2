"""The OpenAPI document is a valid OpenAPI 3.1 description of every API route."""

from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator


def test_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_describes_every_api_route(app, client):
    documented = {
        (path, method.upper())
        for path, operations in client.get("/api/v1/openapi.json").get_json()["paths"].items()
        for method in operations
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api_openapi_json":
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", f"{{{argument}}}").replace(
                f"<path:{argument}>", f"{{{argument}}}"
            )
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_document_names_the_request_headers_the_api_reads(client):
    # The views read these headers themselves; a client generated from the document must still
    # know to send them.
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    def headers(path: str, method: str) -> dict[str, bool]:
        parameters = paths[path][method].get("parameters", [])
        return {p["name"]: p["required"] for p in parameters if p["in"] == "header"}

    assert headers("/api/v1/entries", "post") == {"Idempotency-Key": False}
    assert headers("/api/v1/entries/{entry_id}", "patch") == {"If-Match": True}
    # Asked for twice, the document is the same: the headers are added once.
    assert client.get("/api/v1/openapi.json").get_json()["paths"] == paths
