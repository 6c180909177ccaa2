"""Settings: password, email, time zone, invites and deleting the account."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_login.utils import decode_cookie

from daybook.errors import ValidationError
from daybook.services import auth, users
from daybook.web import bp
from daybook.web.auth import end_browser_session, sign_in
from daybook.web.flashes import flash


def _page(section=None, errors=None, form=None, status=200, invite_url=None):
    # `section` names the form the errors belong to: two forms have a current_password field.
    return render_template(
        "settings/index.html",
        section=section,
        errors=errors or {},
        form=form or {},
        timezones=users.timezone_names(),
        invite_url=invite_url,
        registration=current_app.config["DAYBOOK"].registration,
    ), status


@bp.get("/settings")
@login_required
def settings():
    """Show the settings page."""
    return _page()


@bp.post("/settings/password")
@login_required
def settings_password():
    """Change the password; every other login ends."""
    form = {
        k: request.form.get(k, "")
        for k in ("current_password", "new_password", "new_password_confirm")
    }
    try:
        users.change_password(
            current_user,
            current_password=form["current_password"],
            new_password=form["new_password"],
            confirm=form["new_password_confirm"],
        )
    except ValidationError as exc:
        return _page("password", exc.fields, status=400)
    # Every login, this one included, ended; start a fresh one for this browser only,
    # remembered again if it was remembered before.
    cookie = request.cookies.get(current_app.config["REMEMBER_COOKIE_NAME"])
    remembered = bool(cookie) and decode_cookie(cookie) == current_user.get_id()
    sign_in(current_user._get_current_object(), remember=remembered)  # type: ignore[attr-defined]
    flash("Password changed. You were logged out everywhere else.", "success")
    return redirect(url_for("web.settings"))


@bp.post("/settings/email")
@login_required
def settings_email():
    """Change the email address."""
    form = {"email": request.form.get("email", "")}
    try:
        users.change_email(
            current_user,
            email=form["email"],
            current_password=request.form.get("current_password", ""),
        )
    except ValidationError as exc:
        return _page("email", exc.fields, form, status=400)
    flash("Email changed.", "success")
    return redirect(url_for("web.settings"))


@bp.post("/settings/timezone")
@login_required
def settings_timezone():
    """Set the time zone dates are shown in."""
    try:
        users.set_timezone(current_user, request.form.get("timezone", ""))
    except ValidationError as exc:
        return _page("timezone", exc.fields, status=400)
    flash("Time zone saved.", "success")
    return redirect(url_for("web.settings"))


@bp.post("/settings/invites")
@login_required
def invite_create():
    """Make a one-time registration link (admins, when registration is by invite)."""
    if not current_user.is_admin or current_app.config["DAYBOOK"].registration != "invite":
        abort(404)
    token = auth.create_invite(current_user)
    return _page(invite_url=url_for("web.register", invite=token, _external=True))


@bp.route("/settings/delete", methods=["GET", "POST"])
@login_required
def account_delete():
    """Ask for the password, then delete the account and everything in it."""
    if request.method == "GET":
        return render_template("settings/delete.html", errors={})
    try:
        users.delete_user(current_user, current_password=request.form.get("current_password", ""))
    except ValidationError as exc:
        return render_template("settings/delete.html", errors=exc.fields), 400
    end_browser_session()
    flash("Your account and all its entries were deleted.", "info")
    return redirect(url_for("web.login") if users.count_users() else url_for("web.setup"))
