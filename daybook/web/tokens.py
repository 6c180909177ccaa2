"""Settings → API tokens: create a personal access token, list them, revoke one."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required

from daybook.errors import ValidationError
from daybook.models import utcnow
from daybook.services import tokens
from daybook.web import bp
from daybook.web.flashes import flash
from daybook.web.forms import parse_local_datetime

SCOPE_CHOICES = {"read": ["read"], "read write": ["read", "write"]}


def _page(form=None, errors=None, secret=None, status=200):
    headers = {}
    if secret is not None:
        # The secret is in this answer only: keep it out of every cache and the back button.
        headers["Cache-Control"] = "no-store"
    html = render_template(
        "settings/tokens.html",
        tokens=tokens.list_tokens(current_user),
        form=form or {"name": "", "scope": "read", "expires_at": ""},
        errors=errors or {},
        secret=secret,
        now=utcnow(),
    )
    return html, status, headers


@bp.get("/settings/tokens")
@login_required
def token_list():
    """List the user's personal access tokens, with a form to create one."""
    return _page()


@bp.post("/settings/tokens")
@login_required
def token_create():
    """Create a personal access token and show its secret on this page, this once."""
    form = {k: request.form.get(k, "") for k in ("name", "scope", "expires_at")}
    try:
        _token, secret = tokens.create_token(
            current_user,
            name=form["name"],
            # An unknown choice becomes a list the service refuses, so the rule stays there.
            scopes=SCOPE_CHOICES.get(form["scope"], [form["scope"]]),
            expires_at=parse_local_datetime(form["expires_at"], "expires_at"),
        )
    except ValidationError as exc:
        return _page(form, exc.fields, status=400)
    return _page(secret=secret)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int):
    """Revoke a personal access token; scripts using it stop working at once.

    Raises: NotFound for an unknown or someone else's token (a 404 page).
    """
    tokens.revoke_token(current_user, token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("web.token_list"))
