"""The search page."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import render_template, request
from flask_login import current_user, login_required

from daybook.errors import ValidationError
from daybook.services import search
from daybook.web import bp
from daybook.web.forms import page_arg, parse_local_datetime


def _date_arg(raw: str, field: str, errors: dict[str, str]) -> datetime | None:
    try:
        return parse_local_datetime(raw, field)
    except ValidationError as exc:
        errors.update(exc.fields)
        return None


@bp.get("/search")
@login_required
def search_page():
    """Search the user's entries, ranked, with highlighted snippets."""
    args = {k: request.args.get(k, "")[:500] for k in ("q", "tag", "from", "to")}
    errors: dict[str, str] = {}
    date_from = _date_arg(args["from"], "from", errors)
    date_to = _date_arg(args["to"], "to", errors)
    if date_to is not None and len(args["to"].strip()) == 10:
        date_to += timedelta(days=1)  # a bare date includes that whole day
    result = None
    if args["q"].strip() and not errors:
        result = search.search_entries(
            current_user,
            args["q"],
            tag=args["tag"] or None,
            date_from=date_from,
            date_to=date_to,
            page=page_arg(),
            full_entries=False,
        )
    status = 400 if errors else 200
    return render_template("search/results.html", args=args, result=result, errors=errors), status
