"""A full disk refuses a write with a clear answer (507) and damages nothing saved before.

The data directory is a small tmpfs of the test's own (we run as root in CI and in the dev
container); it is filled to the last byte while the server runs, then freed again.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import only_on_sqlite
from tests.durability.checks import search_finds
from tests.durability.writers import (
    Browser,
    Sent,
    api_token,
    make_payload,
    next_marker,
    post_entry_api,
    post_entry_form,
)

pytestmark = [
    pytest.mark.durability,
    only_on_sqlite("the database does not live in the data directory on PostgreSQL"),
]

DISK_SIZE = "16m"
SAVED_EACH_WAY = 5


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of DISK_SIZE mounted for this test alone."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # RLIMIT_FSIZE is no stand-in: SQLite reports EFBIG as an I/O error (503), not a full
        # disk, so this test needs a file system of its own to fill.
        pytest.skip(
            f"cannot mount a tmpfs to fill ({result.stderr.strip() or 'mount failed'}); "
            "the disk-full test needs root (CAP_SYS_ADMIN)"
        )
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file into `directory` until its file system has no byte left; return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1 << 20, 1 << 14, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    free = shutil.disk_usage(directory).free
    assert free == 0, f"{free} bytes are still free after filling {directory}"
    return filler


def empty_write_ahead_log(database: Path) -> None:
    """Checkpoint the WAL and cut it to nothing, so the next write must grow a file.

    SQLite reuses a WAL's space after a checkpoint: without this, a small write could still
    fit into the full disk, and which one fails would depend on what was written before.
    """
    conn = sqlite3.connect(database, timeout=30)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    assert busy == 0, "the WAL could not be checkpointed: a reader held it"


def test_a_full_disk_refuses_writes_clearly_and_damages_nothing(
    site_factory, small_disk, durability_seed
):
    site = site_factory("disk", data_dir=small_disk / "data")
    checker = site.checker()  # made now: the app it builds may want to write a file or two
    rng = random.Random(durability_seed)
    run = f"{durability_seed:x}"
    server = site.server(workers=2).start(timeout=90)
    api, browser = Browser(server.port), Browser(server.port)
    try:
        token = api_token(server.port)
        browser.login()
        csrf = browser.csrf("/entries/new")

        def write(via: str, follow: bool = True) -> Sent:
            marker = next_marker(run)
            title, body, tags = make_payload(marker, rng)
            if via == "api":
                entry_id = post_entry_api(api, token, title, body, tags)
            else:
                entry_id = post_entry_form(browser, csrf, title, body, tags)
                if follow:
                    browser.request("GET", f"/entries/{entry_id}")
            return Sent(marker, via, entry_id, title, body, tags)

        saved = [write(via) for via in ("api", "form") * SAVED_EACH_WAY]
        # The last one is saved just before the disk fills; its page, with the "Entry saved."
        # message that must leave the session, is asked for just after.
        saved.append(write("form", follow=False))
        empty_write_ahead_log(site.data_dir / "daybook.sqlite3")
        filler = fill(small_disk)

        status, _, data = browser.request("GET", f"/entries/{saved[-1].entry_id}")
        page = data.decode(errors="replace")
        assert status == 200 or (status == 507 and "Disk full" in page), (
            f"an entry's page, whose session could not be saved on the full disk, answered "
            f"{status}:\n{page[:1000]}\nserver log:\n{site.log_tail()}"
        )

        title, body, tags = make_payload(next_marker(run), rng)
        status, resp, data = api.json(
            "POST", "/api/v1/entries", {"title": title, "body": body, "tags": list(tags)}, token
        )
        assert (status, resp.getheader("Content-Type")) == (507, "application/problem+json"), (
            f"the API answered a write on a full disk with {status}: {data[:500]!r}\n"
            f"server log:\n{site.log_tail()}"
        )
        assert json.loads(data)["status"] == 507

        refused_title, body, tags = make_payload(next_marker(run), rng)
        fields = {"csrf_token": csrf, "title": refused_title, "body": body, "tags": " ".join(tags)}
        status, resp, data = browser.form("/entries/new", {**fields, "action": "save"})
        page = data.decode(errors="replace")
        assert status == 507 and "Disk full" in page and "free some space" in page, (
            f"the form answered a write on a full disk with {status}:\n{page[:1000]}\n"
            f"server log:\n{site.log_tail()}"
        )

        # Reading goes on, and nothing saved before is damaged, while the disk is still full.
        status, _, data = api.json("GET", f"/api/v1/entries/{saved[0].entry_id}", token=token)
        assert status == 200, f"reading an entry on a full disk answered {status}: {data[:300]!r}"
        problems = checker.problems(saved)
        assert not problems, "with the disk full:\n" + "\n".join(problems)

        filler.unlink()
        saved += [write("api"), write("form")]
        problems = checker.problems(saved) + search_finds(server.port, token, saved[-4:])
        assert not problems, "after space was freed:\n" + "\n".join(problems)
        leaked = checker.present_titles([title, refused_title])
        assert not leaked, f"writes refused with 507 were saved after all: {leaked}"
    finally:
        api.reset()
        browser.reset()
        server.stop()

    problems = checker.problems(saved)
    assert not problems, "after the server stopped:\n" + "\n".join(problems)
