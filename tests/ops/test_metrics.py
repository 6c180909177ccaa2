"""/metrics: off by default, for loopback and token holders only, counting what it should."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daybook.extensions import db
from daybook.models import Job, utcnow
from daybook.models.job import JOB_STATES
from daybook.services import entries
from tests.factories import make_entry, make_user
from tests.live_server import LiveServer, daybook_env

TOKEN = "metrics-token-0123456789abcdef"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.5"}


def value(text: str, name: str, **labels: str) -> float:
    """Return one sample's value from a text exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


@pytest.fixture
def metrics_app(make_app):
    app = make_app(METRICS=1, METRICS_TOKEN=TOKEN)
    with app.app_context():
        yield app


@pytest.fixture
def scrape(metrics_app):
    client = metrics_app.test_client()

    def get() -> str:
        response = client.get("/metrics")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_loopback_client_reads_metrics(metrics_app):
    client = metrics_app.test_client()
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for name in (
        "daybook_http_requests_total",
        "daybook_http_request_duration_seconds_bucket",
        "daybook_users",
        "daybook_entries",
    ):
        assert f"\n{name}" in text, name


def test_prometheus_can_ask_for_openmetrics(metrics_app):
    response = metrics_app.test_client().get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.mimetype == "application/openmetrics-text"
    assert response.get_data(as_text=True).endswith("# EOF\n")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}],
    ids=["no token", "wrong token", "not bearer"],
)
def test_other_clients_are_refused_without_the_token(metrics_app, headers):
    response = metrics_app.test_client().get("/metrics", headers=headers, environ_base=OUTSIDE)
    assert response.status_code == 403
    assert "daybook_" not in response.get_data(as_text=True)


def test_the_token_opens_metrics_to_other_clients(metrics_app):
    response = metrics_app.test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=OUTSIDE
    )
    assert response.status_code == 200
    assert "daybook_http_requests_total" in response.get_data(as_text=True)


def test_no_token_is_accepted_when_none_is_set(make_app):
    app = make_app(METRICS=1)
    response = app.test_client().get(
        "/metrics", headers={"Authorization": "Bearer "}, environ_base=OUTSIDE
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("proxy_count", "peer", "forwarded_for"),
    [
        (1, "127.0.0.1", "203.0.113.5"),  # nginx on this host passing on an outside client
        (0, "127.0.0.1", "203.0.113.5"),  # the same, with ProxyFix not configured
        (1, "203.0.113.5", "127.0.0.1"),  # an outside client claiming to be local
    ],
)
def test_forwarded_requests_from_outside_are_not_loopback(
    make_app, proxy_count, peer, forwarded_for
):
    app = make_app(METRICS=1, PROXY_COUNT=proxy_count)
    response = app.test_client().get(
        "/metrics", headers={"X-Forwarded-For": forwarded_for}, environ_base={"REMOTE_ADDR": peer}
    )
    assert response.status_code == 403


def test_a_local_client_through_the_proxy_is_loopback(make_app):
    app = make_app(METRICS=1, PROXY_COUNT=1)
    response = app.test_client().get("/metrics", headers={"X-Forwarded-For": "::1"})
    assert response.status_code == 200


def test_requests_are_counted_by_endpoint_name(metrics_app, scrape):
    client = metrics_app.test_client()
    before = scrape()
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/page/42")
    after = scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    total = "daybook_http_requests_total"
    assert delta(total, endpoint="health.healthz", status="200") == 2
    assert delta(total, endpoint="none", status="404") == 1
    assert delta("daybook_http_request_duration_seconds_count", endpoint="health.healthz") == 2
    assert "/no/such/page" not in after


def test_users_and_entries_are_counted_at_scrape_time(metrics_app, scrape):
    assert value(scrape(), "daybook_users") == 0
    ada = make_user("ada")
    make_user("bob")
    make_entry(ada)
    make_entry(ada)
    entries.trash_entry(ada, make_entry(ada).id)
    text = scrape()
    assert value(text, "daybook_users") == 2
    assert value(text, "daybook_entries", state="live") == 2
    assert value(text, "daybook_entries", state="trashed") == 1


def _worker_pids(directory: Path) -> set[int]:
    return {int(f.stem.split("_")[1]) for f in directory.glob("counter_*.db")}


def test_gunicorn_workers_add_up_their_requests(tmp_path, data_dir, postgres_url):
    """Two workers, one count: /metrics sums what every worker answered, even one now gone."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"left over from an earlier run")
    database = {"DATABASE_URL": postgres_url} if postgres_url else {}
    env = daybook_env(data_dir, WORKERS="2", METRICS="1", **database)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    server = LiveServer(env, tmp_path / "gunicorn.log").start()

    def get(path: str = "/healthz") -> str:
        with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as response:
            return response.read().decode()

    try:
        assert not (shared / "counter_1.db").exists()
        for _ in range(10):
            get()
        # The kernel hands most connections to one worker. Kill it: gunicorn starts another,
        # the remaining requests go to other processes, and the dead one's counts remain.
        first = min(_worker_pids(shared))
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while Path(f"/proc/{first}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(10):
            get()
        pids = _worker_pids(shared)
        text = get("/metrics")
    finally:
        server.kill()
    assert len(pids) >= 2, pids
    assert first in pids
    # 20 requests here, plus LiveServer.start()'s probes (more than one on a busy machine).
    healthz = value(text, "daybook_http_requests_total", endpoint="health.healthz", status="200")
    assert healthz >= 21
    assert value(text, "daybook_entries", state="live") == 0
    assert "\ndaybook_users " in text


def test_jobs_are_counted_by_state_and_timed_by_kind(metrics_app, scrape):
    ada = make_user("ada")
    now = utcnow()

    def job(kind, state, seconds=0.0, finished_ago=timedelta(hours=1)):
        started = None if state == "queued" else now - finished_ago - timedelta(seconds=seconds)
        finished = now - finished_ago if state in ("done", "failed") else None
        db.session.add(
            Job(user_id=ada.id, kind=kind, state=state, started_at=started, finished_at=finished)
        )

    job("export", "done", 2)
    job("export", "done", 40)
    job("export", "failed", 400)
    job("purge_trash", "done", 0.3)
    job("purge_trash", "done", 0.3, finished_ago=timedelta(days=2))  # before the 24-hour window
    job("export", "running")
    job("export", "queued")
    job("export", "queued")
    db.session.commit()
    text = scrape()
    assert [value(text, "daybook_jobs", state=s) for s in JOB_STATES] == [2, 1, 4, 1]

    def bucket(kind, le):
        return value(text, "daybook_job_duration_seconds_bucket", kind=kind, le=le)

    assert [bucket("export", le) for le in ("1.0", "5.0", "60.0", "300.0", "900.0", "+Inf")] == [
        0,
        1,
        2,
        2,
        3,
        3,
    ]
    assert bucket("purge_trash", "0.5") == bucket("purge_trash", "+Inf") == 1
    assert value(text, "daybook_job_duration_seconds_gsum", kind="export") == pytest.approx(442)
    assert value(text, "daybook_job_duration_seconds_gcount", kind="export") == 3
