"""Entries over the API: exact shapes, ETag and If-Match, idempotent create, trash, ownership."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, IdempotentRequest
from daybook.services import entries, search
from tests.api.conftest import API, Api, assert_entry, assert_problem, assert_time, create
from tests.factories import make_entry


def etag_of(entry: dict) -> str:
    return f'"{entry["id"]}-{entry["version"]}"'


# -- create --------------------------------------------------------------------------------------


def test_create_answers_201_with_the_entry(api):
    response = api.post(
        "/entries",
        json={
            "title": "Standup",
            "body": "Fixed the **build**.\n\n- one\n- two",
            "tags": ["Work", "#CI", "work"],
            "occurred_at": "2026-03-04T09:30:00+01:00",
        },
    )
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = assert_entry(
        response.get_json(),
        title="Standup",
        body="Fixed the **build**.\n\n- one\n- two",
        tags=["ci", "work"],
        version=1,
        word_count=5,
        deleted_at=None,
    )
    assert body["html"] == (
        "<p>Fixed the <strong>build</strong>.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
    )
    assert assert_time(body["occurred_at"]) == datetime(2026, 3, 4, 8, 30, tzinfo=UTC)
    assert body["created_at"] == body["updated_at"]
    assert response.headers["Location"] == f"{API}/entries/{body['id']}"
    assert response.headers["ETag"] == etag_of(body)
    assert "Idempotent-Replayed" not in response.headers


def test_create_defaults(api):
    body = assert_entry(create(api, title="Just a title"), body="", html="", tags=[], word_count=0)
    assert body["occurred_at"] == body["created_at"]


def test_created_entry_is_the_one_the_web_shows(api, auth_client):
    body = create(api, title="Seen on the web", body="Hello *web*")
    page = auth_client.get(body["links"]["html"])
    assert page.status_code == 200
    assert "Seen on the web" in page.get_data(as_text=True)


def test_html_is_sanitised_and_title_is_left_as_text(api):
    body = create(
        api,
        title="<script>alert(1)</script>",
        body='[x](javascript:alert(1))\n\n<img src=x onerror="alert(1)">\n\n<script>x</script>',
    )
    assert body["title"] == "<script>alert(1)</script>"  # JSON carries text; clients escape it
    assert "onerror" not in body["html"]
    assert 'href="javascript:' not in body["html"]
    assert "<script" not in body["html"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"title": "x", "body": None}, "body"),
        ({"title": "x", "body": "nul\x00"}, "body"),
        ({"title": "x", "tags": "work"}, "tags"),
        ({"title": "x", "tags": ["a b"]}, "tags"),
        ({"title": "x", "tags": ["x" * 65]}, "tags"),
        ({"title": "x", "tags": [f"t{n}" for n in range(51)]}, "tags"),
        ({"title": "x", "occurred_at": "2026-03-04T09:30:00"}, "occurred_at"),
        ({"title": "x", "occurred_at": "yesterday"}, "occurred_at"),
        ({"title": "x", "occurred_at": 1700000000}, "occurred_at"),
        ({"title": "x", "occurred_at": "1800-01-01T00:00:00Z"}, "occurred_at"),
        ({"title": "x", "occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ({"title": "x", "occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
        ({"title": "x", "visibility": "public"}, "visibility"),
        ({"title": "x", "id": 7}, "id"),
        ({"title": "x", "version": 3}, "version"),
    ],
)
def test_create_refuses_bad_fields(api, payload, field):
    body = assert_problem(api.post("/entries", json=payload), 422)
    assert field in body["errors"], body
    assert isinstance(body["errors"][field], str) and body["errors"][field]
    assert db.session.scalar(sa.select(sa.func.count(Entry.id))) == 0


def test_unknown_fields_are_each_named(api):
    body = assert_problem(
        api.post("/entries", json={"title": "x", "mood": 3, "colour": "red"}), 422
    )
    assert body["errors"] == {
        "mood": "Extra inputs are not permitted",
        "colour": "Extra inputs are not permitted",
    }


def test_a_body_of_a_megabyte_is_accepted(api):
    body = create(api, body="word " * 200_000)
    assert body["word_count"] == 200_000


# -- idempotent create ---------------------------------------------------------------------------


def entry_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Entry.id)))


def test_same_key_and_body_returns_the_first_entry(api):
    payload = {"title": "Once", "tags": ["a"]}
    first = api.post("/entries", json=payload, headers={"Idempotency-Key": "k-1"})
    again = api.post("/entries", json=payload, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json() == first.get_json()
    assert entry_count() == 1


def test_replay_shows_the_entry_as_it_is_now(api):
    payload = {"title": "Once"}
    first = api.post("/entries", json=payload, headers={"Idempotency-Key": "k"}).get_json()
    api.patch(f"/entries/{first['id']}", json={"title": "Edited"}, headers={"If-Match": "*"})
    again = api.post("/entries", json=payload, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201
    assert again.get_json()["title"] == "Edited"
    assert entry_count() == 1


def test_same_key_with_another_body_is_422(api):
    api.post("/entries", json={"title": "One"}, headers={"Idempotency-Key": "k-2"})
    response = api.post("/entries", json={"title": "Two"}, headers={"Idempotency-Key": "k-2"})
    assert_problem(response, 422, detail="This Idempotency-Key was used for a different request.")
    assert entry_count() == 1


def test_different_keys_make_different_entries(api):
    api.post("/entries", json={"title": "Same"}, headers={"Idempotency-Key": "a"})
    api.post("/entries", json={"title": "Same"}, headers={"Idempotency-Key": "b"})
    api.post("/entries", json={"title": "Same"})
    assert entry_count() == 3


def test_keys_belong_to_one_user(api, other_api, user, other_user):
    mine = api.post("/entries", json={"title": "Mine"}, headers={"Idempotency-Key": "shared"})
    theirs = other_api.post(
        "/entries", json={"title": "Theirs"}, headers={"Idempotency-Key": "shared"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.get_json()["title"] == "Theirs"
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    # Bob's key stays his: reusing it for another body is refused, whatever Alice sent.
    copy = other_api.post("/entries", json={"title": "Mine"}, headers={"Idempotency-Key": "shared"})
    assert_problem(copy, 422)


def test_a_failed_create_does_not_spend_the_key(api):
    bad = api.post("/entries", json={"title": ""}, headers={"Idempotency-Key": "retry"})
    assert bad.status_code == 422
    good = api.post("/entries", json={"title": "Fixed"}, headers={"Idempotency-Key": "retry"})
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good.headers


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 201])
def test_malformed_idempotency_keys_are_422(api, key):
    response = api.post("/entries", json={"title": "x"}, headers={"Idempotency-Key": key})
    assert_problem(response, 422)
    assert entry_count() == 0


def test_replay_after_the_entry_was_purged_is_409(api):
    first = api.post(
        "/entries", json={"title": "Gone"}, headers={"Idempotency-Key": "p"}
    ).get_json()
    api.delete(f"/entries/{first['id']}")
    assert api.delete(f"/trash/{first['id']}").status_code == 204
    again = api.post("/entries", json={"title": "Gone"}, headers={"Idempotency-Key": "p"})
    assert_problem(again, 409)
    assert db.session.scalar(sa.select(sa.func.count(IdempotentRequest.id))) == 1


def test_concurrent_retries_make_one_entry(app, write_token):
    payload = {"title": "Raced", "body": "x"}
    barrier = threading.Barrier(4)
    answers = []

    def send():
        client = Api(app.test_client(), write_token)
        barrier.wait()
        answers.append(client.post("/entries", json=payload, headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * 4
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert entry_count() == 1


def test_losing_the_race_for_a_key_answers_as_a_retry(api, monkeypatch):
    # Two requests with one key both find it unused; the second to commit hits the unique
    # constraint, and must answer with the first one's entry, leaving nothing half-written.
    payload = {"title": "Raced", "tags": ["t"]}
    first = api.post("/entries", json=payload, headers={"Idempotency-Key": "k"}).get_json()
    real = entries.find_idempotent
    calls = []

    def not_yet(user, key):
        calls.append(key)
        return None if len(calls) == 1 else real(user, key)

    monkeypatch.setattr(entries, "find_idempotent", not_yet)
    again = api.post("/entries", json=payload, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first["id"]
    assert entry_count() == 1
    assert search.index_mismatches() == []
    assert api.get("/tags").get_json()["tags"] == [{"name": "t", "count": 1}]


# -- read ----------------------------------------------------------------------------------------


def test_get_answers_the_entry_with_its_etag(api):
    created = create(api, title="Read me", body="*hi*", tags=["x"])
    response = api.get(f"/entries/{created['id']}")
    assert response.status_code == 200
    assert response.headers["ETag"] == etag_of(created)
    assert response.get_json() == created


def test_entries_written_on_the_web_show_up(api, user):
    entry = make_entry(user, title="Web", body="From a *form*", tags="a b")
    body = assert_entry(api.get(f"/entries/{entry.id}").get_json(), title="Web", tags=["a", "b"])
    assert body["html"] == "<p>From a <em>form</em></p>\n"


@pytest.mark.parametrize("entry_id", ["999999", str(2**62)])
def test_missing_entry_is_404(api, entry_id):
    assert_problem(api.get(f"/entries/{entry_id}"), 404, detail="No such entry.")


@pytest.mark.parametrize("entry_id", ["-1", "abc", "1.5"])
def test_entry_ids_that_are_not_numbers_are_404(api, entry_id):
    assert_problem(api.get(f"/entries/{entry_id}"), 404)


@pytest.mark.parametrize("entry_id", ["0", str(2**62 + 1), str(10**30)])
def test_ids_out_of_range_are_refused_by_the_schema(api, entry_id):
    body = assert_problem(api.get(f"/entries/{entry_id}"), 422)
    assert set(body["errors"]) == {"entry_id"}


# -- update with If-Match ------------------------------------------------------------------------


def test_patch_without_if_match_is_428(api):
    created = create(api, title="Before")
    response = api.patch(f"/entries/{created['id']}", json={"title": "After"})
    assert_problem(response, 428)
    assert api.get(f"/entries/{created['id']}").get_json()["title"] == "Before"


def test_patch_with_the_current_etag_changes_only_the_fields_sent(api):
    created = create(api, title="Before", body="Body stays", tags=["keep"])
    response = api.patch(
        f"/entries/{created['id']}", json={"title": "After"}, headers={"If-Match": etag_of(created)}
    )
    assert response.status_code == 200
    body = assert_entry(
        response.get_json(), title="After", body="Body stays", tags=["keep"], version=2
    )
    assert response.headers["ETag"] == etag_of(body) != etag_of(created)
    assert body["occurred_at"] == created["occurred_at"]
    assert body["created_at"] == created["created_at"]
    assert assert_time(body["updated_at"]) >= assert_time(created["updated_at"])


def test_patch_every_field(api):
    created = create(api, title="t", body="b", tags=["old"])
    response = api.patch(
        f"/entries/{created['id']}",
        json={
            "title": "T",
            "body": "new *body*",
            "tags": ["New", "other"],
            "occurred_at": "2020-02-02T02:02:02Z",
        },
        headers={"If-Match": etag_of(created)},
    )
    assert_entry(
        response.get_json(),
        title="T",
        body="new *body*",
        html="<p>new <em>body</em></p>\n",
        tags=["new", "other"],
        occurred_at="2020-02-02T02:02:02Z",
        word_count=2,
    )
    assert api.get("/tags").get_json()["tags"] == [
        {"name": "new", "count": 1},
        {"name": "old", "count": 0},
        {"name": "other", "count": 1},
    ]


def test_patch_can_clear_body_and_tags(api):
    created = create(api, body="text", tags=["a"])
    response = api.patch(
        f"/entries/{created['id']}", json={"body": "", "tags": []}, headers={"If-Match": "*"}
    )
    assert_entry(response.get_json(), body="", html="", tags=[], word_count=0)


def test_patch_with_a_stale_etag_is_412_with_the_current_version(api):
    created = create(api, title="v1")
    api.patch(
        f"/entries/{created['id']}", json={"title": "v2"}, headers={"If-Match": etag_of(created)}
    )
    stale = api.patch(
        f"/entries/{created['id']}", json={"title": "lost?"}, headers={"If-Match": etag_of(created)}
    )
    assert_problem(stale, 412, current_version=2)
    assert api.get(f"/entries/{created['id']}").get_json()["title"] == "v2"


def test_if_match_star_and_lists(api):
    created = create(api)
    star = api.patch(f"/entries/{created['id']}", json={"title": "star"}, headers={"If-Match": "*"})
    assert star.status_code == 200
    current = star.get_json()
    listed = api.patch(
        f"/entries/{created['id']}",
        json={"title": "listed"},
        headers={"If-Match": f'"nope", {etag_of(current)}'},
    )
    assert listed.status_code == 200
    assert listed.get_json()["version"] == 3


@pytest.mark.parametrize("value", ["", "garbage", '"1-1"x', '"99-1"'])
def test_if_match_that_matches_nothing_is_412(api, value):
    created = create(api)
    response = api.patch(
        f"/entries/{created['id']}", json={"title": "x"}, headers={"If-Match": value}
    )
    assert_problem(response, 412, current_version=1)


def test_etag_of_another_entry_does_not_match(api):
    one, two = create(api), create(api)
    response = api.patch(
        f"/entries/{two['id']}", json={"title": "x"}, headers={"If-Match": etag_of(one)}
    )
    # Both are at version 1, but an ETag names its entry too.
    assert_problem(response, 412, current_version=1)


def test_patch_refuses_bad_and_unknown_fields(api):
    created = create(api)
    for payload, field in [
        ({"title": ""}, "title"),
        ({"title": "  "}, "title"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"version": 9}, "version"),
        ({"deleted_at": None}, "deleted_at"),
    ]:
        response = api.patch(f"/entries/{created['id']}", json=payload, headers={"If-Match": "*"})
        assert field in assert_problem(response, 422)["errors"], payload
    assert api.get(f"/entries/{created['id']}").get_json()["version"] == 1


def test_two_clients_racing_with_one_etag(app, write_token):
    created = create(Api(app.test_client(), write_token), title="Start")
    tag = etag_of(created)
    barrier = threading.Barrier(2)
    answers: dict[str, object] = {}

    def edit(title: str) -> None:
        client = Api(app.test_client(), write_token)
        barrier.wait()
        answers[title] = client.patch(
            f"/entries/{created['id']}", json={"title": title}, headers={"If-Match": tag}
        )

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("Alice's", "Bob's")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200, 412]
    winner = next(t for t, a in answers.items() if a.status_code == 200)
    loser = next(a for a in answers.values() if a.status_code == 412)
    assert loser.get_json()["current_version"] == 2
    now = Api(app.test_client(), write_token).get(f"/entries/{created['id']}").get_json()
    assert now["title"] == winner
    assert now["version"] == 2


def test_a_write_between_the_check_and_the_save_is_412(api, monkeypatch):
    # Simulate another writer committing after the view compared the ETag: the conditional
    # update in the service must still refuse to overwrite it.
    created = create(api, title="Start")
    original = entries.update_entry

    def sneak_in(user, entry_id, **fields):
        db.session.execute(
            sa.update(Entry).where(Entry.id == entry_id).values(version=Entry.version + 1)
        )
        db.session.commit()
        return original(user, entry_id, **fields)

    monkeypatch.setattr(entries, "update_entry", sneak_in)
    response = api.patch(
        f"/entries/{created['id']}", json={"title": "Mine"}, headers={"If-Match": etag_of(created)}
    )
    assert_problem(response, 412, current_version=2)
    monkeypatch.undo()
    assert api.get(f"/entries/{created['id']}").get_json()["title"] == "Start"


def test_web_edit_changes_the_etag(api, auth_client):
    created = create(api, title="API")
    auth_client.form(
        f"/entries/{created['id']}/edit",
        {"title": "Web", "body": "", "tags": "", "occurred_at": "", "version": "1"},
    )
    stale = api.patch(
        f"/entries/{created['id']}",
        json={"title": "API again"},
        headers={"If-Match": etag_of(created)},
    )
    assert_problem(stale, 412, current_version=2)


# -- trash, restore, purge -----------------------------------------------------------------------


def test_delete_moves_to_the_trash_and_restore_brings_back(api):
    created = create(api, title="Bin me", tags=["t"])
    response = api.delete(f"/entries/{created['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(api.get(f"/entries/{created['id']}"), 404)
    assert api.get("/entries").get_json()["entries"] == []
    assert api.get("/tags").get_json()["tags"] == [{"name": "t", "count": 0}]
    trash = api.get("/trash")
    assert trash.status_code == 200
    listed = trash.get_json()
    assert listed["next"] is None
    [trashed] = listed["entries"]
    assert_entry(trashed, id=created["id"], title="Bin me", version=2)
    assert_time(trashed["deleted_at"])
    assert_problem(api.delete(f"/entries/{created['id']}"), 404)

    restored = api.post(f"/entries/{created['id']}/restore")
    assert restored.status_code == 200
    body = assert_entry(restored.get_json(), id=created["id"], deleted_at=None, version=3)
    assert restored.headers["ETag"] == etag_of(body)
    assert api.get("/trash").get_json() == {"entries": [], "next": None}
    assert api.get(f"/entries/{created['id']}").status_code == 200
    assert_problem(api.post(f"/entries/{created['id']}/restore"), 404)


def test_purge_deletes_a_trashed_entry_for_good(api):
    created = create(api, title="Forever gone")
    assert_problem(api.delete(f"/trash/{created['id']}"), 404)  # only from the trash
    api.delete(f"/entries/{created['id']}")
    response = api.delete(f"/trash/{created['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert api.get("/trash").get_json()["entries"] == []
    assert_problem(api.post(f"/entries/{created['id']}/restore"), 404)
    assert db.session.get(Entry, created["id"]) is None


def test_trash_pages(api, user):
    for n in range(23):
        entries.trash_entry(user, make_entry(user, title=f"e{n}").id)
    first = api.get("/trash").get_json()
    assert len(first["entries"]) == 20
    assert first["next"] == f"{API}/trash?page=2"
    second = api.get(first["next"]).get_json()
    assert len(second["entries"]) == 3
    assert second["next"] is None
    seen = [e["id"] for e in first["entries"] + second["entries"]]
    assert len(set(seen)) == 23
    assert_problem(api.get("/trash?page=0"), 422)
    assert_problem(api.get("/trash?limit=5"), 422)


# -- preview -------------------------------------------------------------------------------------


def test_preview_renders_markdown_without_saving(api):
    response = api.post("/entries/preview", json={"body": "# Hi\n\n*there*\n\n<script>x</script>"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"html"}
    assert "<em>there</em>" in body["html"]
    assert "<script" not in body["html"]
    assert entry_count() == 0
    assert_problem(api.post("/entries/preview", json={"body": "x", "title": "y"}), 422)


# -- ownership -----------------------------------------------------------------------------------


def test_another_users_entry_is_404_everywhere(api, other_api, other_user):
    theirs = create(other_api, title="Bob's secret", tags=["private"])
    eid = theirs["id"]
    assert_problem(api.get(f"/entries/{eid}"), 404)
    assert_problem(
        api.patch(f"/entries/{eid}", json={"title": "x"}, headers={"If-Match": "*"}), 404
    )
    assert_problem(api.patch(f"/entries/{eid}", json={"title": "x"}), 404)  # 404 before 428
    assert_problem(api.delete(f"/entries/{eid}"), 404)
    assert_problem(api.post(f"/entries/{eid}/restore"), 404)
    other_api.delete(f"/entries/{eid}")
    assert_problem(api.post(f"/entries/{eid}/restore"), 404)
    assert_problem(api.delete(f"/trash/{eid}"), 404)
    assert api.get("/trash").get_json()["entries"] == []
    assert api.get("/entries").get_json()["entries"] == []
    # And nothing of Bob's changed.
    restored = other_api.post(f"/entries/{eid}/restore").get_json()
    assert (restored["title"], restored["tags"]) == ("Bob's secret", ["private"])


def test_an_entry_cannot_be_tagged_with_someone_elses_tag(api, other_api):
    create(other_api, tags=["shared-name"])
    mine = create(api, tags=["shared-name"])
    assert api.get("/tags").get_json()["tags"] == [{"name": "shared-name", "count": 1}]
    assert other_api.get("/tags").get_json()["tags"] == [{"name": "shared-name", "count": 1}]
    api.delete("/tags/shared-name")
    assert other_api.get("/tags").get_json()["tags"] == [{"name": "shared-name", "count": 1}]
    assert api.get(f"/entries/{mine['id']}").get_json()["tags"] == []
