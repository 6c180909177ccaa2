"""Daybook with one more page that does nothing: what every signed-in request costs by itself.

Served by bench/run.py exactly like Daybook (`gunicorn --config gunicorn.conf.py`, same data
directory, so the same session cookie works) to split a page's cost into the part every request
pays (database-backed session, Flask-Login's user lookup, CSRF, request log, security headers)
and the part its view adds.
"""

from flask_login import login_required

from daybook import create_app

app = create_app()


@app.get("/_bench/empty")
@login_required
def empty() -> str:
    return "ok"
