"""Tags over the API: counts, rename, merge and delete, seen in entries and in search."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem, create
from tests.factories import make_entry


def tag_list(api) -> list[dict]:
    response = api.get("/tags")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"tags"}
    return body["tags"]


def entry_tags(api, entry: dict) -> list[str]:
    return api.get(f"/entries/{entry['id']}").get_json()["tags"]


def search_ids(api, q: str) -> list[int]:
    return [hit["entry"]["id"] for hit in api.get(f"/search?q={q}").get_json()["results"]]


def test_tags_with_counts_of_live_entries_by_name(api, user):
    make_entry(user, tags="work ci")
    make_entry(user, tags="work")
    trashed = make_entry(user, tags="life")
    api.delete(f"/entries/{trashed.id}")
    assert tag_list(api) == [
        {"name": "ci", "count": 1},
        {"name": "life", "count": 0},
        {"name": "work", "count": 2},
    ]


def test_no_tags(api):
    assert tag_list(api) == []


def test_rename(api):
    one = create(api, title="one", tags=["old", "keep"])
    two = create(api, title="two", tags=["old"])
    response = api.patch("/tags/old", json={"name": "New"})
    assert response.status_code == 200
    assert response.get_json() == {"name": "new", "count": 2}
    assert tag_list(api) == [{"name": "keep", "count": 1}, {"name": "new", "count": 2}]
    assert entry_tags(api, one) == ["keep", "new"]
    assert entry_tags(api, two) == ["new"]
    assert sorted(search_ids(api, "new")) == sorted([one["id"], two["id"]])
    assert search_ids(api, "old") == []
    assert [e["id"] for e in api.get("/entries?tag=new").get_json()["entries"]] == [
        two["id"],
        one["id"],
    ]
    assert_problem(api.patch("/tags/old", json={"name": "other"}), 404)


def test_rename_onto_an_existing_tag_merges(api):
    one = create(api, title="one", tags=["js"])
    two = create(api, title="two", tags=["js", "javascript"])
    three = create(api, title="three", tags=["javascript"])
    response = api.patch("/tags/js", json={"name": "javascript"})
    assert response.status_code == 200
    assert response.get_json() == {"name": "javascript", "count": 3}
    assert tag_list(api) == [{"name": "javascript", "count": 3}]
    for entry in (one, two, three):
        assert entry_tags(api, entry) == ["javascript"]
    assert search_ids(api, "js") == []
    assert len(search_ids(api, "javascript")) == 3


def test_rename_to_the_same_name(api):
    create(api, tags=["same"])
    response = api.patch("/tags/same", json={"name": "#SAME"})
    assert response.get_json() == {"name": "same", "count": 1}


def test_tag_names_with_a_slash(api):
    entry = create(api, tags=["project/daybook"])
    response = api.patch("/tags/project/daybook", json={"name": "project/journal"})
    assert response.get_json() == {"name": "project/journal", "count": 1}
    assert entry_tags(api, entry) == ["project/journal"]
    assert api.delete("/tags/project/journal").status_code == 204
    assert entry_tags(api, entry) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "two words"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "../etc"}, "name"),
        ({}, "name"),
        ({"name": "ok", "merge": True}, "merge"),
    ],
)
def test_rename_refuses_bad_names(api, payload, field):
    create(api, tags=["old"])
    body = assert_problem(api.patch("/tags/old", json=payload), 422)
    assert field in body["errors"], body
    assert tag_list(api) == [{"name": "old", "count": 1}]


def test_delete_removes_the_tag_from_entries_and_search(api):
    entry = create(api, title="Tagged", body="text", tags=["gone", "stays"])
    response = api.delete("/tags/gone")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert tag_list(api) == [{"name": "stays", "count": 1}]
    assert entry_tags(api, entry) == ["stays"]
    assert search_ids(api, "gone") == []
    assert api.get("/entries?tag=gone").get_json()["entries"] == []
    assert api.get(f"/entries/{entry['id']}").status_code == 200  # the entry stays
    assert_problem(api.delete("/tags/gone"), 404, detail="No such tag.")


def test_tag_of_a_trashed_entry_is_renamed_too(api):
    entry = create(api, tags=["old"])
    api.delete(f"/entries/{entry['id']}")
    api.patch("/tags/old", json={"name": "new"})
    restored = api.post(f"/entries/{entry['id']}/restore").get_json()
    assert restored["tags"] == ["new"]
    assert search_ids(api, "new") == [entry["id"]]


def test_tag_routes_need_an_existing_tag(api):
    assert_problem(api.patch("/tags/missing", json={"name": "x"}), 404)
    assert_problem(api.delete("/tags/missing"), 404)


def test_another_users_tags_are_404(api, other_api):
    create(other_api, tags=["bobs"])
    assert_problem(api.patch("/tags/bobs", json={"name": "mine"}), 404)
    assert_problem(api.delete("/tags/bobs"), 404)
    assert tag_list(api) == []
    assert tag_list(other_api) == [{"name": "bobs", "count": 1}]


def test_merge_does_not_reach_another_users_tag(api, other_api):
    create(other_api, tags=["target"])
    create(api, tags=["source"])
    assert api.patch("/tags/source", json={"name": "target"}).get_json() == {
        "name": "target",
        "count": 1,
    }
    assert tag_list(other_api) == [{"name": "target", "count": 1}]


def test_tag_lookup_ignores_case(api):
    create(api, tags=["work"])
    assert api.patch("/tags/WORK", json={"name": "job"}).status_code == 200


def test_renaming_a_tag_changes_the_etag_of_its_entries(api):
    entry = create(api, tags=["work"])
    etag = f'"{entry["id"]}-{entry["version"]}"'
    api.patch("/tags/work", json={"name": "job"})
    assert api.get(f"/entries/{entry['id']}").headers["ETag"] != etag
    # Otherwise a client editing with the old ETag writes the old tag back, silently.
    stale = api.patch(
        f"/entries/{entry['id']}", json={"tags": ["work", "extra"]}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
