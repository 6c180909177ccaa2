"""First-run setup, registration, login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_url, login_user, logout_user
from flask_login.signals import user_loaded_from_cookie

from daybook.errors import ValidationError
from daybook.request_log import log
from daybook.services import auth, users
from daybook.sessions import regenerate_session
from daybook.web import bp
from daybook.web.flashes import flash

ACCOUNT_FIELDS = ("username", "email", "password", "password_confirm")


def send_to_login():
    """Answer a signed-out visit to a page that needs a login: to the login form, and back."""
    flash("Please log in to see that page.", "info")
    return redirect(login_url("web.login", next_url=request.url))


def safe_next(target: str | None) -> str | None:
    """Return `target` when it is a path on this site, else None (no open redirects)."""
    if not target or len(target) > 2000:
        return None
    # Browsers drop tabs and newlines and read a backslash as "/": "/\t/x.com" is "//x.com".
    if any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


@user_loaded_from_cookie.connect
def _rotate_after_remember(app, **_extra) -> None:
    """Give a browser let in by its remember-me cookie a fresh session id, as at login."""
    regenerate_session(app, session)


def sign_in(user, remember: bool = False) -> None:
    """Start a login for this browser under a fresh session id."""
    # A fresh session id at login, so a session id planted before login is worth nothing.
    regenerate_session(current_app, session)
    session.clear()
    auth.start_login(user, user_agent=request.user_agent.string)
    login_user(user, remember=remember)


def end_browser_session() -> None:
    """Forget this browser's session under a new id and tell it to drop the remember-me cookie."""
    regenerate_session(current_app, session)
    session.clear()
    # After clear(): logout_user leaves the note that makes Flask-Login delete the cookie.
    logout_user()


def _account_form() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in ACCOUNT_FIELDS}


@bp.get("/")
def index():
    """Send newcomers to setup or login and everyone else to their entries."""
    if users.count_users() == 0:
        return redirect(url_for("web.setup"))
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    return redirect(url_for("web.entry_list"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first account, an admin; gone once any account exists."""
    if users.count_users() > 0:
        abort(404)
    if request.method == "GET":
        return render_template("auth/setup.html", form={}, errors={})
    form = _account_form()
    try:
        user = users.create_user(**form, is_admin=True)
    except ValidationError as exc:
        return render_template("auth/setup.html", form=form, errors=exc.fields), 400
    sign_in(user)
    flash("Welcome to Daybook. Write your first entry.", "success")
    return redirect(url_for("web.entry_new"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account when registration is open or an invite is presented."""
    mode = current_app.config["DAYBOOK"].registration
    invite = request.values.get("invite", "")
    if mode == "closed" or users.count_users() == 0:
        abort(404)
    if mode == "invite" and auth.find_invite(invite) is None:
        abort(404)
    if request.method == "GET":
        return render_template("auth/register.html", form={}, errors={}, invite=invite)
    form = _account_form()
    try:
        if mode == "invite":
            user = auth.register_with_invite(invite, **form)
        else:
            user = users.create_user(**form)
    except ValidationError as exc:
        return render_template(
            "auth/register.html", form=form, errors=exc.fields, invite=invite
        ), 400
    sign_in(user)
    flash("Your account is ready.", "success")
    return redirect(url_for("web.entry_list"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with a username or email and a password."""
    if users.count_users() == 0:
        return redirect(url_for("web.setup"))
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("web.entry_list"))
    form = {"login": request.form.get("login", ""), "remember": request.form.get("remember")}
    if request.method == "GET":
        return render_template("auth/login.html", form=form, errors={}, next=next_url)
    try:
        user = auth.authenticate(
            form["login"], request.form.get("password", ""), address=request.remote_addr
        )
    except ValidationError as exc:
        log().warning("login failed", login=form["login"][:100], address=request.remote_addr)
        return render_template("auth/login.html", form=form, errors=exc.fields, next=next_url), 400
    sign_in(user, remember=bool(form["remember"]))
    log().info("login", user_id=user.id)
    return redirect(next_url or url_for("web.entry_list"))


@bp.post("/logout")
def logout():
    """End this login: the session and the remember-me cookie both stop working."""
    # Not login_required: a browser whose login already ended would be sent to log in
    # and then on to a GET of this POST-only address.
    if current_user.is_authenticated:
        auth.end_login(current_user.get_id())
    end_browser_session()
    flash("You are logged out.", "info")
    return redirect(url_for("web.login"))
