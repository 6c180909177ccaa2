"""Every page, whatever its answer, carries the security headers (routes from the URL map)."""

import pytest

from tests.factories import make_entry

REQUIRED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _paths(app, entry_id: int) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        values = {
            arg: entry_id if arg in ("entry_id", "token_id") else "work" for arg in rule.arguments
        }
        paths.append(rule.build(values, append_unknown=False)[1])
    return sorted(set(paths))


@pytest.mark.parametrize("who", ["anonymous", "owner", "other"])
def test_security_headers_on_every_get_route(app, user, other_user, who):
    from tests.conftest import login

    entry = make_entry(user, title="Headers", tags="work")
    client = app.test_client()
    if who != "anonymous":
        login(client, user.username if who == "owner" else other_user.username)
    paths = _paths(app, entry.id)
    assert "/entries" in paths and "/api/v1/me" in paths
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, path
        for header, value in REQUIRED.items():
            assert response.headers.get(header) == value, (path, header)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], path


def test_a_page_that_sets_its_own_policy_keeps_it_and_gets_the_rest(client):
    from daybook.api.docs import DOCS_CSP

    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers.getlist("Content-Security-Policy") == [DOCS_CSP]
    for header, value in REQUIRED.items():
        assert response.headers.getlist(header) == [value]
    assert response.headers.getlist("Cache-Control") == ["no-store"]


def test_pages_are_not_cached_and_hsts_comes_only_over_https(make_app):
    for https, expected in ((False, []), (True, ["max-age=31536000; includeSubDomains"])):
        app = make_app(HTTPS=str(https).lower())
        response = app.test_client().get("/login")
        assert response.headers.getlist("Strict-Transport-Security") == expected
        assert response.headers.getlist("Cache-Control") == ["no-store"]
        assert response.headers.getlist("X-Frame-Options") == ["DENY"]
