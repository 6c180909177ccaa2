"""What every page shares: security headers, friendly errors, request logging, body limits."""

import re

import pytest


def test_security_headers_on_pages(client, user):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_and_secure_cookies_over_https(make_app, user):
    app = make_app(HTTPS=1)
    client = app.test_client()
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in response.headers["Set-Cookie"]


def test_not_found_page_is_friendly(auth_client):
    response = auth_client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing here" in response.get_data(as_text=True)


def test_method_not_allowed(auth_client):
    assert auth_client.get("/logout").status_code == 405


def test_oversized_body_gets_413_page(auth_client):
    response = auth_client.form("/entries/new", {"title": "big", "body": "x" * (5 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than Daybook accepts" in response.get_data(as_text=True)


def test_server_error_page_without_traceback(app, auth_client, monkeypatch):
    from daybook.services import entries

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(entries, "list_entries", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = auth_client.get("/entries")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and "kaboom" not in page and "Traceback" not in page


def test_request_log_line(auth_client, capsys):
    response = auth_client.get("/entries", headers={"X-Request-ID": "req-12345"})
    assert response.headers["X-Request-ID"] == "req-12345"
    line = [ln for ln in capsys.readouterr().out.splitlines() if "req-12345" in ln][-1]
    for part in ("method='GET'", "path='/entries'", "status=200", "duration_ms=", "user_id=1"):
        assert part in line


@pytest.mark.parametrize("bad_id", ["<script>", "a" * 100, "x y"])
def test_untrusted_request_id_is_replaced(client, user, bad_id, capsys):
    response = client.get("/login", headers={"X-Request-ID": bad_id})
    assert response.headers["X-Request-ID"] != bad_id
    assert len(response.headers["X-Request-ID"]) == 32


def test_every_page_works_without_javascript_markup(auth_client):
    # No inline scripts anywhere: the CSP forbids them, so the pages must not rely on them.
    for path in ("/entries", "/entries/new", "/tags", "/search", "/trash", "/settings"):
        page = auth_client.get(path).get_data(as_text=True)
        assert "<script>" not in page and " onclick=" not in page, path


def test_disk_full_gets_a_clear_page_and_nothing_is_half_written(app, auth_client, monkeypatch):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from daybook.services import entries

    def disk_full(*args, **kwargs):
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(entries, "create_entry", disk_full)
    response = auth_client.form("/entries/new", {"title": "t", "body": "b"})
    assert response.status_code == 507
    assert "disk Daybook writes to is full" in response.get_data(as_text=True)


def test_proxy_count_trusts_forwarded_address_only_when_configured(make_app, user):
    from flask import request

    seen = []
    direct = make_app()
    direct.before_request(lambda: seen.append(request.remote_addr))
    direct.test_client().get("/login", headers={"X-Forwarded-For": "203.0.113.9"})
    proxied = make_app(PROXY_COUNT=1)
    proxied.before_request(lambda: seen.append(request.remote_addr))
    proxied.test_client().get("/login", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["127.0.0.1", "203.0.113.9"]


def test_json_log_format_gives_one_object_per_line_with_the_request_id(make_app, user, capsys):
    import json

    app = make_app(LOG_FORMAT="json")
    capsys.readouterr()
    app.test_client().get("/login", headers={"X-Request-ID": "json-req-1"})
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if "json-req-1" in ln]
    assert lines and lines[-1]["event"] == "request"
    assert lines[-1]["request_id"] == "json-req-1" and lines[-1]["status"] == 200


def test_links_follow_the_mount_point_of_each_request(app, auth_client, user):
    # Template links are remembered between requests; a Daybook served under a path prefix
    # (SCRIPT_NAME, as behind a proxy) must not get the links built for another prefix.
    from tests.factories import make_entry

    entry = make_entry(user, title="Mounted", tags="work")

    def hrefs(root: str = "") -> set[str]:
        html = auth_client.get("/entries", base_url=f"http://localhost{root}").get_data(
            as_text=True
        )
        return set(re.findall(r'href="([^"]+)"', html))

    plain = hrefs()
    mounted = hrefs("/journal")
    assert {f"/entries/{entry.id}", "/entries?tag=work"} <= plain
    assert {f"/journal/entries/{entry.id}", "/journal/entries?tag=work"} <= mounted
    assert not any(h.startswith("/journal") for h in hrefs())
