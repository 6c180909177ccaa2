"""Production mode across processes: two web processes and a worker sharing only PostgreSQL and Redis.

Each process gets a data directory of its own, so anything they agree on came through the
database or Redis. Runs in the suite's PostgreSQL run (`make test-postgres`).
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from tests.databases import ON_POSTGRES
from tests.factories import csrf_token_from
from tests.live_server import BIN, LiveServer, create_account, daybook, daybook_env
from tests.redis_server import RedisServer

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="the scale-out test runs in the PostgreSQL run (make test-postgres)"
)


class Browser(requests.Session):
    """A visitor with a cookie jar, who can post forms to any of the web processes."""

    def form(self, url: str, page: str, data: dict) -> requests.Response:
        token = csrf_token_from(self.get(page, timeout=10).text)
        return self.post(url, data={"csrf_token": token, **data}, allow_redirects=False, timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, migrated_db, postgres_url):
    """Two gunicorns (2 workers each) and one `daybook worker`, on PostgreSQL and a fresh Redis."""
    migrated_db()  # start from empty tables
    tmp_path = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(tmp_path / "redis").start()
    shared = {"DATABASE_URL": postgres_url, "REDIS_URL": redis.url, "WORKERS": "2"}
    envs = {name: daybook_env(tmp_path / name, **shared) for name in ("web1", "web2", "worker")}
    for env in envs.values():
        (tmp_path / env["DAYBOOK_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    create_account(envs["web1"], "ada", PASSWORD)
    daybook(
        envs["web1"],
        "user",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--password",
        PASSWORD,
    )
    webs = [LiveServer(envs[name], tmp_path / f"{name}.log") for name in ("web1", "web2")]
    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(BIN / "daybook"), "worker", "--workers", "1"],
        env=envs["worker"],
        cwd=envs["worker"]["DAYBOOK_DATA_DIR"],
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        for web in webs:
            web.start()
        yield webs, worker, redis
    finally:
        for web in webs:
            web.stop()
        worker.terminate()
        worker.wait(timeout=60)
        worker_log.close()
        redis.stop()


@pytest.fixture(scope="module")
def ada(cluster):
    """Ada, signed in on the first web process (once: the throttle test locks out 127.0.0.1)."""
    (one, _), _, _ = cluster
    visitor = Browser()
    signed_in = visitor.form(
        f"{one.url}/login", f"{one.url}/login", {"login": "ada", "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    return visitor


def test_two_web_processes_share_logins_entries_search_and_throttle(cluster, ada):
    (one, two), _, _ = cluster

    # The login made on one is valid on the other.
    assert ada.get(f"{two.url}/entries", allow_redirects=False, timeout=10).status_code == 200

    # An entry written through one is read, and found by search, through the other.
    made = ada.form(
        f"{one.url}/entries/new",
        f"{one.url}/entries/new",
        {"title": "Shipped the scale-out", "body": "Quasar rollout finished", "tags": "work"},
    )
    assert made.status_code == 302
    entry_path = made.headers["Location"]
    assert "Quasar rollout" in ada.get(f"{two.url}{entry_path}", timeout=10).text
    found = ada.get(f"{two.url}/search", params={"q": "quasar"}, timeout=10)
    assert "Shipped the scale-out" in found.text

    # A login throttle reached on one holds on the other.
    attacker = Browser()
    for _ in range(5):
        failed = attacker.form(
            f"{one.url}/login", f"{one.url}/login", {"login": "ada", "password": "wrong"}
        )
        assert failed.status_code in (200, 400, 401)
    throttled = attacker.form(
        f"{two.url}/login", f"{two.url}/login", {"login": "ada", "password": PASSWORD}
    )
    assert throttled.status_code == 429


def test_a_job_enqueued_by_one_web_process_is_run_by_the_worker(cluster, ada):
    (one, two), worker, _ = cluster
    queued = ada.form(f"{one.url}/settings/export", f"{one.url}/settings/jobs", {"format": "json"})
    assert queued.status_code == 302
    # The worker has a data directory of its own: the job reached it through Redis, and its
    # state comes back to the other web process through PostgreSQL.
    deadline = time.monotonic() + 60
    while True:
        page = ada.get(f"{two.url}/settings/jobs", timeout=10).text
        if 'data-state="done"' in page:
            break
        assert 'data-state="failed"' not in page, page
        assert worker.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the export job was not run within 60 s"
        time.sleep(0.3)


def test_stopping_a_web_process_loses_no_answered_request(cluster, ada, postgres_url):
    (one, two), _, _ = cluster
    token = csrf_token_from(ada.get(f"{one.url}/entries/new", timeout=10).text)
    acknowledged: list[str] = []
    stop = threading.Event()

    def write(server: LiveServer, label: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            title = f"{label} entry {n}"
            try:
                answer = ada.post(
                    f"{server.url}/entries/new",
                    data={"csrf_token": token, "title": title, "body": "steady", "tags": "load"},
                    allow_redirects=False,
                    timeout=10,
                )
            except requests.ConnectionError:
                continue  # refused while the process stops: never acknowledged
            if answer.status_code == 302:
                acknowledged.append(title)

    writers = [
        threading.Thread(target=write, args=(server, label))
        for server, label in ((one, "one"), (two, "two"))
    ]
    for writer in writers:
        writer.start()
    try:
        time.sleep(1.5)
        assert one.stop() == 0
        time.sleep(0.5)
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
    assert any(t.startswith("one ") for t in acknowledged), "no write reached the stopped process"
    assert any(t.startswith("two ") for t in acknowledged)
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        stored = set(connection.scalars(sa.text("SELECT title FROM entry")))
    engine.dispose()
    missing = [t for t in acknowledged if t not in stored]
    assert not missing, (
        f"{len(missing)} of {len(acknowledged)} answered entries were lost: {missing[:10]}"
    )
