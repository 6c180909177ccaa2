"""The HTML pages."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from daybook.web import auth, entries, jobs, search, settings, tags, tokens  # noqa: E402, F401
