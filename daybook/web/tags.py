"""Tag pages: the list with counts, rename or merge, delete."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required

from daybook.errors import ValidationError
from daybook.services import tags
from daybook.web import bp
from daybook.web.flashes import flash


@bp.get("/tags")
@login_required
def tag_list():
    """List the user's tags with how many entries carry each."""
    return render_template("tags/list.html", tags=tags.list_tags(current_user))


# `path:` because tag names may hold a slash ("project/daybook").
@bp.route("/tags/<path:name>/edit", methods=["GET", "POST"])
@login_required
def tag_edit(name: str):
    """Rename a tag; a name that already exists merges the two."""
    tag = tags.get_tag(current_user, name)
    if request.method == "GET":
        return render_template("tags/edit.html", tag=tag, form={"new_name": tag.name}, errors={})
    form = {"new_name": request.form.get("new_name", "")}
    try:
        new_name = tags.rename_tag(current_user, tag.name, form["new_name"])
    except ValidationError as exc:
        return render_template("tags/edit.html", tag=tag, form=form, errors=exc.fields), 400
    flash(f"Tag “{name}” is now “{new_name}”.", "success")
    return redirect(url_for("web.tag_list"))


@bp.route("/tags/<path:name>/delete", methods=["GET", "POST"])
@login_required
def tag_delete(name: str):
    """Ask, then remove a tag from every entry (the entries stay)."""
    tag = tags.get_tag(current_user, name)
    if request.method == "GET":
        return render_template("tags/delete.html", tag=tag)
    tags.delete_tag(current_user, tag.name)
    flash(f"Tag “{tag.name}” deleted.", "success")
    return redirect(url_for("web.tag_list"))
