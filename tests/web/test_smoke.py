"""The first-run journey through the pages."""

from daybook.services import users


def test_first_run_setup_write_find_edit_delete(app, client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/setup"
    client.fetch_csrf("/setup")
    response = client.form(
        "/setup",
        {
            "username": "Ada",
            "email": "ada@example.com",
            "password": "a long enough secret",
            "password_confirm": "a long enough secret",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert users.find_user("ada").is_admin
    assert client.get("/setup").status_code == 404

    client.fetch_csrf("/entries/new")
    response = client.form(
        "/entries/new",
        {
            "title": "Shipped search",
            "body": "We shipped **FTS5** today.",
            "tags": "work, shipped",
            "occurred_at": "",
        },
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/entries/")
    page = client.get(location).get_data(as_text=True)
    assert "<strong>FTS5</strong>" in page and "#shipped" in page

    results = client.get("/search?q=fts5").get_data(as_text=True)
    assert "Shipped search" in results and "<mark>" in results
