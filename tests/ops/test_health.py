"""Operators' endpoints: alive, and ready to serve."""

from flask_migrate import downgrade, upgrade

from daybook.extensions import db


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_reports_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"]["ok"] is True
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


def test_readyz_is_503_when_migrations_are_behind(app, client):
    downgrade(revision="0001")
    db.session.remove()
    try:
        response = client.get("/readyz")
    finally:
        upgrade()  # the PostgreSQL test database is shared by the tests that follow
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["migrations"]["ok"] is False
    assert body["checks"]["migrations"]["current"] == ["0001"]
