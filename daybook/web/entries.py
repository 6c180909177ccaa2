"""Entry pages: list, read, write, edit, preview, trash, restore and purge."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from daybook.errors import Conflict, NotFound, ValidationError
from daybook.services import entries, markdown
from daybook.web import bp
from daybook.web.filters import datetime_local
from daybook.web.flashes import flash
from daybook.web.forms import entry_fields, page_arg, parse_local_datetime


def _form_from(entry) -> dict[str, str]:
    return {
        "title": entry.title,
        "body": entry.body,
        "tags": " ".join(entry.tag_names),
        "occurred_at": datetime_local(entry.occurred_at),
        "version": str(entry.version),
    }


def _preview(body: str) -> Markup:
    return Markup(markdown.render(body))  # noqa: S704 - sanitised by nh3 in render()


def _save(form: dict[str, str], entry_id: int | None = None, version: int | None = None):
    occurred_at = parse_local_datetime(form["occurred_at"], "occurred_at")
    fields = {
        "title": form["title"],
        "body": form["body"],
        "tags": form["tags"],
        "occurred_at": occurred_at,
    }
    if entry_id is None:
        return entries.create_entry(current_user, **fields)
    return entries.update_entry(current_user, entry_id, expected_version=version, **fields)


@bp.get("/entries")
@login_required
def entry_list():
    """Show the user's entries, newest first, 20 a page."""
    tag = request.args.get("tag", "").strip()[:64] or None
    page = entries.list_entries(current_user, page=page_arg(), tag=tag)
    return render_template("entries/list.html", page=page, tag=tag)


@bp.route("/entries/new", methods=["GET", "POST"])
@login_required
def entry_new():
    """Write a new entry; Preview re-renders the form with the text rendered below it."""
    if request.method == "GET":
        form = {"title": "", "body": "", "tags": request.args.get("tag", ""), "occurred_at": ""}
        return render_template("entries/form.html", form=form, errors={}, entry=None)
    form = entry_fields()
    if request.form.get("action") == "preview":
        return render_template(
            "entries/form.html", form=form, errors={}, entry=None, preview=_preview(form["body"])
        )
    try:
        entry = _save(form)
    except ValidationError as exc:
        return render_template("entries/form.html", form=form, errors=exc.fields, entry=None), 400
    flash("Entry saved.", "success")
    return redirect(url_for("web.entry_detail", entry_id=entry.id))


@bp.post("/entries/preview")
@login_required
def entry_preview():
    """Return the rendered HTML of a Markdown body, for the editor's live preview."""
    return render_template("entries/_preview.html", preview=_preview(request.form.get("body", "")))


@bp.get("/entries/<int:entry_id>")
@login_required
def entry_detail(entry_id: int):
    """Show one entry, rendered."""
    entry = entries.show_entry(current_user, entry_id)
    return render_template("entries/detail.html", entry=entry, body_html=Markup(entry.body_html))  # noqa: S704


@bp.route("/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def entry_edit(entry_id: int):
    """Edit an entry; a save against an older version shows both and lets the user choose."""
    if request.method == "GET":
        entry = entries.show_entry(current_user, entry_id)
        return render_template("entries/form.html", form=_form_from(entry), errors={}, entry=entry)
    form = entry_fields() | {"version": request.form.get("version", "")}
    try:
        entry = entries.get_entry(current_user, entry_id)
    except NotFound:
        # Trashed in another tab while this one was editing: keep the user's text, let them
        # save it as a new entry or restore the old one, rather than answer 404 and lose it.
        trashed = entries.get_entry(current_user, entry_id, trashed=True)
        return render_template("entries/trashed_conflict.html", form=form, current=trashed), 409
    if request.form.get("action") == "preview":
        return render_template(
            "entries/form.html", form=form, errors={}, entry=entry, preview=_preview(form["body"])
        )
    try:
        version = int(form["version"])
    except ValueError:
        version = None
    try:
        entry = _save(form, entry_id, version)
    except ValidationError as exc:
        return render_template("entries/form.html", form=form, errors=exc.fields, entry=entry), 400
    except Conflict as exc:
        return render_template(
            "entries/conflict.html",
            form=form,
            current=exc.current,
            current_html=Markup(exc.current.body_html),  # noqa: S704
            mine_html=_preview(form["body"]),
        ), 409
    flash("Entry saved.", "success")
    return redirect(url_for("web.entry_detail", entry_id=entry.id))


@bp.route("/entries/<int:entry_id>/delete", methods=["GET", "POST"])
@login_required
def entry_delete(entry_id: int):
    """Ask, then move an entry to the trash."""
    entry = entries.get_entry(current_user, entry_id)
    if request.method == "GET":
        return render_template("entries/delete.html", entry=entry)
    entries.trash_entry(current_user, entry_id)
    # Flash plain text: the session stores it serialised, and the template escapes it.
    flash(f"Moved “{entry.title}” to the trash.", "success")
    return redirect(url_for("web.trash"))


@bp.get("/trash")
@login_required
def trash():
    """Show entries in the trash, which are purged after the configured number of days."""
    page = entries.list_trash(current_user, page=page_arg())
    return render_template(
        "entries/trash.html", page=page, trash_days=current_app.config["DAYBOOK"].trash_days
    )


@bp.post("/entries/<int:entry_id>/restore")
@login_required
def entry_restore(entry_id: int):
    """Bring an entry back from the trash."""
    entry = entries.restore_entry(current_user, entry_id)
    flash(f"Restored “{entry.title}”.", "success")
    return redirect(url_for("web.entry_detail", entry_id=entry.id))


@bp.post("/entries/<int:entry_id>/purge")
@login_required
def entry_purge(entry_id: int):
    """Delete a trashed entry for good."""
    entries.purge_entry(current_user, entry_id)
    flash("Entry deleted for good.", "success")
    return redirect(url_for("web.trash"))
