"""The contract every route keeps: credentials, scopes, body checks, problem+json, CORS."""

from __future__ import annotations

import io

import pytest

from tests.api.conftest import API, Api, assert_problem, create, make_token
from tests.factories import PASSWORD

# Every API route, with a body it would accept. {entry}, {trashed} and {token} are filled in.
READ_ROUTES = [
    ("GET", "/me", None),
    ("GET", "/entries", None),
    ("GET", "/entries/{entry}", None),
    ("GET", "/trash", None),
    ("GET", "/search?q=x", None),
    ("GET", "/tags", None),
    ("GET", "/tokens", None),
]
WRITE_ROUTES = [
    ("POST", "/entries", {"title": "x"}),
    ("POST", "/entries/preview", {"body": "x"}),
    ("PATCH", "/entries/{entry}", {"title": "x"}),
    ("DELETE", "/entries/{entry}", None),
    ("POST", "/entries/{trashed}/restore", None),
    ("DELETE", "/trash/{trashed}", None),
    ("PATCH", "/tags/work", {"name": "job"}),
    ("DELETE", "/tags/work", None),
    ("POST", "/tokens", {"name": "x", "scopes": ["read"]}),
    ("DELETE", "/tokens/{token}", None),
]
PUBLIC_ROUTES = [
    ("POST", "/auth/token", {"username": "alice", "password": PASSWORD}),
    ("POST", "/auth/refresh", {"refresh_token": "x"}),
]
SESSION_ROUTES = [("POST", "/auth/logout", {})]
ALL_ROUTES = READ_ROUTES + WRITE_ROUTES + PUBLIC_ROUTES + SESSION_ROUTES


@pytest.fixture
def ids(api, user) -> dict[str, int]:
    entry = create(api, tags=["work"])
    trashed = create(api, title="in the bin")
    api.delete(f"/entries/{trashed['id']}")
    spare = api.post("/tokens", json={"name": "spare", "scopes": ["read"]}).get_json()
    return {"entry": entry["id"], "trashed": trashed["id"], "token": spare["id"]}


def call(api: Api, method: str, path: str, body, ids: dict[str, int], **kwargs):
    headers = kwargs.pop("headers", {})
    if method == "PATCH" and path.startswith("/entries/"):
        headers = {"If-Match": "*", **headers}
    return api.open(method, path.format(**ids), json=body, headers=headers, **kwargs)


def test_every_api_route_is_in_this_table(app):
    table = {(m, p.split("?")[0]) for m, p, _b in ALL_ROUTES}
    rules = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.rule.startswith(API):
            path = rule.rule.removeprefix(API)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                rules.add((method, path))
    normalised = {
        (m, p.replace("<int:entry_id>", "{entry}").replace("<int:token_id>", "{token}"))
        for m, p in rules
    }
    templated = {
        (m, p.replace("{trashed}", "{entry}").replace("/work", "/<path:name>")) for m, p in table
    }
    assert normalised == templated


@pytest.mark.parametrize(("method", "path", "body"), READ_ROUTES + WRITE_ROUTES + SESSION_ROUTES)
def test_every_private_route_needs_credentials(anon, ids, method, path, body):
    response = call(anon.with_token(None), method, path, body, ids)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), READ_ROUTES)
def test_a_read_token_reads(reader, ids, method, path, body):
    assert call(reader, method, path, body, ids).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITE_ROUTES)
def test_a_read_token_cannot_write(reader, api, ids, method, path, body):
    before = (
        api.get("/entries").get_json(),
        api.get("/trash").get_json(),
        api.get("/tags").get_json(),
    )
    response = call(reader, method, path, body, ids)
    body = assert_problem(response, 403)
    assert body["detail"] == "This token may only read; it lacks the write scope."
    after = (
        api.get("/entries").get_json(),
        api.get("/trash").get_json(),
        api.get("/tags").get_json(),
    )
    assert after == before


@pytest.mark.parametrize(("method", "path", "body"), WRITE_ROUTES)
def test_a_write_token_writes(api, ids, method, path, body):
    response = call(api, method, path, body, ids)
    assert response.status_code in (200, 201, 204), response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "body"), PUBLIC_ROUTES)
def test_login_routes_need_no_token(anon, user, method, path, body):
    response = anon.open(method, path, json=body)
    assert response.status_code in (200, 401)
    assert response.status_code == 200 or "invalid_token" not in response.headers.get(
        "WWW-Authenticate", ""
    )


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
def test_every_route_answers_in_json(api, ids, method, path, body):
    response = call(api, method, path, body, ids)
    assert response.status_code < 500
    if response.status_code == 204:
        assert response.get_data() == b""
    else:
        assert response.mimetype in ("application/json", "application/problem+json")
        assert response.get_json() is not None


# -- body checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [r for r in WRITE_ROUTES if r[2]])
def test_wrong_content_type_is_415(api, ids, method, path, body):
    headers = {"If-Match": "*"} if method == "PATCH" else {}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = api.open(
            method,
            path.format(**ids),
            data="title=x",
            headers={"Content-Type": content_type, **headers},
        )
        assert_problem(response, 415, detail="Send the body as application/json.")


def test_json_with_a_charset_is_fine(api):
    response = api.post(
        "/entries",
        data='{"title": "ok"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize("data", ["{bad", '{"title": "x",}', "\xff", "[1, 2"])
def test_malformed_json_is_400(api, data):
    response = api.post("/entries", data=data, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, detail="The body is not valid JSON.")


@pytest.mark.parametrize("data", ["null", "[]", '"title"', "42"])
def test_json_that_is_not_an_object_is_422(api, data):
    response = api.post("/entries", data=data, headers={"Content-Type": "application/json"})
    assert_problem(response, 422)


def test_missing_body_is_422(api):
    assert_problem(api.post("/entries"), 422)


def test_body_over_2_mb_is_413(api):
    big = '{"title": "x", "body": "' + "a" * (2 * 1024 * 1024) + '"}'
    response = api.post("/entries", data=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert api.get("/entries").get_json()["entries"] == []


def test_body_over_2_mb_without_a_length_is_413(api):
    big = b'{"title": "x", "body": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    response = api.post(
        "/entries",
        input_stream=io.BytesIO(big),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413)


def test_body_just_under_2_mb_is_read(api):
    padding = 2 * 1024 * 1024 - 100
    big = '{"title": "x", "body": "' + "a" * padding + '"}'
    response = api.post("/entries", data=big, headers={"Content-Type": "application/json"})
    # Read and validated (the body field allows 1 MB), not refused for its size.
    assert_problem(response, 422)
    assert "body" in response.get_json()["errors"]


# -- routing errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/entries", {"GET", "POST"}),
        ("DELETE", "/entries", {"GET", "POST"}),
        ("PUT", "/entries/1", {"GET", "PATCH", "DELETE"}),
        ("POST", "/entries/1", {"GET", "PATCH", "DELETE"}),
        ("GET", "/entries/1/restore", {"POST"}),
        ("GET", "/auth/token", {"POST"}),
        ("PUT", "/tags/x", {"PATCH", "DELETE"}),
        ("POST", "/me", {"GET"}),
        ("PATCH", "/tokens", {"GET", "POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    response = api.open(method, path)
    assert_problem(response, 405)
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert listed - {"HEAD", "OPTIONS"} == allowed


@pytest.mark.parametrize("path", ["/nope", "/entries/1/nope", "/v2", "/entries/abc"])
def test_unknown_paths_are_404_in_json(api, anon, path):
    for client in (api, anon):
        assert_problem(client.get(path), 404)


def test_unknown_paths_outside_v1_are_json_too(api):
    assert_problem(api.get("/api/v2/entries"), 404)
    assert_problem(api.get("/api/"), 404)


def test_head_works_where_get_does(api):
    response = api.open("HEAD", "/entries")
    assert response.status_code == 200
    assert response.get_data() == b""


# -- origins -------------------------------------------------------------------------------------


def test_a_foreign_origin_is_refused(api):
    response = api.get("/me", headers={"Origin": "https://evil.example"})
    body = assert_problem(response, 403)
    assert "DAYBOOK_CORS_ORIGINS" in body["detail"]
    assert "Access-Control-Allow-Origin" not in response.headers
    assert_problem(api.post("/entries", json={"title": "x"}, headers={"Origin": "null"}), 403)
    assert api.get("/entries").get_json()["entries"] == []


def test_the_sites_own_origin_is_fine(api):
    assert api.get("/me", headers={"Origin": "http://localhost"}).status_code == 200


def test_foreign_origins_cannot_log_in(anon, user):
    response = anon.post(
        "/auth/token",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert_problem(response, 403)


@pytest.fixture
def cors(make_app, user):
    app = make_app(CORS_ORIGINS="https://a.example,https://b.example")
    return Api(app.test_client(), make_token(user))


def test_a_listed_origin_gets_cors_headers(cors):
    response = cors.get("/me", headers={"Origin": "https://a.example"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.example"
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"etag", "location", "idempotent-replayed", "retry-after", "ratelimit-limit"} <= exposed
    errors = cors.get("/entries/999", headers={"Origin": "https://b.example"})
    assert errors.status_code == 404
    assert errors.headers["Access-Control-Allow-Origin"] == "https://b.example"


def test_a_listed_origin_can_preflight(cors):
    response = cors.open(
        "OPTIONS",
        "/entries/1",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, If-Match, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.example"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "if-match", "content-type"} <= allowed
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]


def test_unlisted_origins_stay_refused_when_some_are_listed(cors):
    assert_problem(cors.get("/me", headers={"Origin": "https://c.example"}), 403)
    preflight = cors.open(
        "OPTIONS",
        "/entries",
        headers={"Origin": "https://c.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_no_cors_headers_without_listed_origins(api):
    assert "Access-Control-Allow-Origin" not in api.get("/me").headers


def test_api_answers_are_not_html_even_for_browsers(api):
    response = api.get("/nope", headers={"Accept": "text/html"})
    assert response.mimetype == "application/problem+json"


# -- server errors -------------------------------------------------------------------------------


@pytest.fixture
def untested(make_app, user):
    """An app outside testing mode, where unexpected errors are answered, not raised."""
    app = make_app(TESTING=False)
    return Api(app.test_client(), make_token(user))


def test_an_unexpected_error_is_500_in_json(untested, monkeypatch):
    from daybook.services import tags

    def broken(_user):
        raise RuntimeError("boom")

    monkeypatch.setattr(tags, "list_tags", broken)
    response = untested.get("/tags")
    body = assert_problem(response, 500)
    assert "boom" not in response.get_data(as_text=True)
    assert body["detail"] == "Daybook hit an unexpected error."


def test_busy_storage_is_503_in_json(untested, monkeypatch):
    import sqlalchemy.exc

    from daybook.services import tags

    def locked(_user):
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(tags, "list_tags", locked)
    response = untested.get("/tags")
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
