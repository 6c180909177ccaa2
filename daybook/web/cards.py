"""The HTML of entry cards on the list page, kept once drawn.

The list page is the most visited page, and drawing its 20 cards with Jinja took about a third
of its time. A card's HTML depends only on the card's fields, the reader's time zone and the
path Daybook is served under, so it is kept under exactly those (an edit changes the fields,
so it never shows a stale card), per process, for the most recently drawn cards.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, render_template, request
from markupsafe import Markup

from daybook.services.entry_cards import EntryCard
from daybook.web.filters import user_zone

CARDS_KEPT = 4096


@lru_cache(maxsize=CARDS_KEPT)
def _drawn(card: EntryCard, _zone: str, _script_root: str) -> Markup:
    return Markup(render_template("entries/_card.html", entry=card))  # noqa: S704 - a template


def entry_card(card: EntryCard) -> Markup:
    """Return the <li> of one card, drawn now or earlier for the same fields, zone and path."""
    return _drawn(card, user_zone().key, request.script_root)


def register(app: Flask) -> None:
    app.jinja_env.globals["entry_card"] = entry_card
