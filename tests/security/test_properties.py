"""Properties that must hold for any input, checked with generated hostile input (hypothesis).

- The Markdown renderer never outputs an executable construct, whatever mix of dangerous
  fragments it is given, and its output is a fixed point of the sanitiser (no mutation when a
  parser reads it again).
- Tag normalisation is idempotent and yields short lowercase names without spaces, control or
  invisible characters; everything else is a ValidationError, never another exception.
- Search queries never fail: not in parsing, not in the database, not through the page.
- Entries made of dangerous fragments survive export and import unchanged and render harmless.
  (The general round trip with arbitrary text is tests/services/test_export.py's.)

Examples are random on each run (no example database, as in tests/services); a failure prints
the input that reproduces it.
"""

from __future__ import annotations

import io
import re
import unicodedata
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daybook.errors import ValidationError
from daybook.services import entries, export, markdown, search
from daybook.services import tags as tag_service
from tests.factories import make_entry, make_user

FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FAST = settings(max_examples=100, deadline=None, database=None)
WITH_APP = settings(max_examples=25, deadline=None, database=None, suppress_health_check=FIXTURES)

# -- the Markdown sanitiser ---------------------------------------------------------------------------

SCHEMES = [
    "javascript:",
    "JaVaScRiPt:",
    "java\tscript:",
    "java\nscript:",
    " javascript:",
    "\x01javascript:",
    "&#106;avascript:",
    "&#x6A;avascript:",
    "javascript&colon;",
    "jav&#x09;ascript:",
    "vbscript:",
    "VBScript:",
    "data:text/html,",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,",
    "data:image/png;base64,iVBORw0KGgo=",
    "DATA:image/png;base64,AAAA",
    "https://example.com/",
    "/entries/1",
    "#top",
    "mailto:a@example.com",
]
FRAGMENTS = [
    "<script>",
    "</script>",
    "<script src=//evil.example/x.js>",
    "<iframe src=",
    "<object data=",
    "<embed src=",
    "<style>",
    "</style>",
    "<svg onload=alert(1)>",
    "<svg><script>",
    "<math><mi xlink:href=",
    "<img src=x onerror=alert(1)>",
    "<img src=",
    '<img src="',
    "<a href=",
    '<a href="',
    "<a href='",
    "</a>",
    "<form action=",
    "<button formaction=",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<base href=",
    "<meta http-equiv=refresh content='0;url=",
    "<link rel=stylesheet href=",
    "<noscript>",
    "<template>",
    "<textarea>",
    "<xmp>",
    "<title>",
    "<select><option>",
    "<table background=",
    "<p style=background:url(",
    ' style="',
    " onclick=",
    ' onmouseover="alert(1)"',
    " ONERROR=",
    " srcset=",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<",
    ">",
    '"',
    "'",
    "`",
    "=",
    "/",
    "\\",
    "&",
    "&lt;",
    "&#60;",
    "&#x3C;",
    "alert(1)",
    ")",
    "(",
    "[x](",
    "![x](",
    "[x]: ",
    "[x][ref]\n\n[ref]: ",
    "<",
    "```\n",
    "```html\n",
    "`",
    "\n",
    "\n\n",
    "    ",
    "> ",
    "- [ ] ",
    "| a |\n|---|\n| ",
    "[^1]\n\n[^1]: ",
    "# ",
    "**",
    "_",
    "~~",
    "\x00",
    "\u202e",
    "\u200b",
]
# Attributes that take a URL, in any element a sanitiser might let through.
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "background",
    "poster",
}
EXECUTABLE_TAGS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "style",
    "svg",
    "math",
    "form",
    "base",
    "meta",
    "link",
    "template",
    "noscript",
}
DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|webp|avif);base64,", re.I)

markdown_sources = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.sampled_from(SCHEMES),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
    ),
    max_size=30,
).map("".join)


def as_a_browser_reads(url: str) -> str:
    """The URL a browser would follow: without surrounding controls, tabs or newlines."""
    url = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", url)
    return re.sub(r"[\t\n\r]", "", url).lower()


def executable_parts(html: str) -> list[str]:
    """Every construct in the HTML that a browser could run, or that could load a page."""
    found = []
    for tag in BeautifulSoup(html, "html.parser").find_all(True):
        if tag.name in EXECUTABLE_TAGS or tag.name not in markdown.ALLOWED_TAGS:
            found.append(f"<{tag.name}>")
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else value
            if name.lower().startswith("on") or name.lower() in ("style", "srcset"):
                found.append(f"<{tag.name} {name}>")
            if name.lower() in URL_ATTRIBUTES:
                url = as_a_browser_reads(value)
                if url.startswith(("javascript:", "vbscript:")):
                    found.append(f"<{tag.name} {name}={value!r}>")
                # The sanitiser's policy: data: URLs only as raster images in <img src>.
                if url.startswith("data:") and not (
                    tag.name == "img" and name == "src" and DATA_IMAGE.match(url)
                ):
                    found.append(f"<{tag.name} {name}={value[:40]!r}>")
    if re.search(r"<\s*/?\s*(script|iframe|object|embed|style)\b", html, re.I):
        found.append("raw tag in the text")
    return found


@FAST
@given(source=markdown_sources)
def test_rendered_markdown_never_holds_anything_executable(source):
    html = markdown.render(source)
    assert executable_parts(html) == [], html


@FAST
@given(source=markdown_sources)
def test_rendered_markdown_is_a_fixed_point_of_the_sanitiser(source):
    # Read again by an HTML parser (nh3's is html5ever, as a browser's), it does not change:
    # no mutation turns harmless markup into something else on the second parse.
    html = markdown.render(source)
    assert markdown.sanitise(html) == html


@FAST
@given(source=markdown_sources)
def test_plain_text_and_excerpts_hold_no_markup(source):
    text = markdown.plain_text(source)
    excerpt = markdown.excerpt(text)
    for value in (text, excerpt):
        assert "\x00" not in value
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value)


# -- tag names ---------------------------------------------------------------------------------------

# Invisible or layout characters that must never be part of a name someone reads.
FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
tag_like = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"#?[\w./ -]{0,70}", fullmatch=True),
    st.text(alphabet="aAİıßſǅΣςﬁ\u0130\u212a#./-_ \t\n\u200b\u202e\u00ad0123456789", max_size=70),
)


@FAST
@given(raw=tag_like)
def test_tag_normalisation_is_idempotent_and_yields_clean_names(raw):
    try:
        name = tag_service.normalise_tag(raw)
    except ValidationError as exc:
        assert set(exc.fields) == {"tags"}
        return
    assert tag_service.normalise_tag(name) == name
    assert name == name.lower()
    assert 1 <= len(name) <= tag_service.MAX_TAG_LENGTH
    assert not any(unicodedata.category(c) in FORBIDDEN_CATEGORIES for c in name), repr(name)
    assert not any(c.isspace() for c in name)
    assert not name.startswith(("#", "/", ".", "-")) and "//" not in name
    assert not name.endswith("/")


@FAST
@given(raw=st.one_of(tag_like, st.lists(tag_like, max_size=60)))
def test_parsed_tag_lists_are_unique_bounded_and_survive_a_second_parse(raw):
    try:
        names = tag_service.parse_tags(raw)
    except ValidationError as exc:
        assert set(exc.fields) == {"tags"}
        return
    assert len(names) == len(set(names)) <= tag_service.MAX_TAGS_PER_ENTRY
    assert tag_service.parse_tags(" ".join(names)) == names
    assert all(tag_service.normalise_tag(n) == n for n in names)


# -- search queries ----------------------------------------------------------------------------------

query_text = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80),
    st.lists(
        st.sampled_from(
            ['"', "-", "*", "(", ")", "AND", "OR", "NOT", "NEAR", ":", "^", "title:", "word", " "]
        ),
        max_size=25,
    ).map("".join),
)
QUOTED_TERM = re.compile(r'"[\w ]*"\*?')


@FAST
@given(text=query_text)
def test_parsed_queries_reach_the_engine_only_as_quoted_words(text):
    parsed = search.parse_query(text)
    assert len(parsed.terms) <= search.MAX_TERMS
    expression = parsed.fts()
    if expression is None:
        assert not parsed.positive
        return
    # Everything outside the quoted words is the parser's own AND, NOT, OR and brackets.
    rest = QUOTED_TERM.sub("", expression)
    assert re.fullmatch(r"[ ()]*(?:(?:AND|OR|NOT)[ ()]*)*", rest), expression


@pytest.fixture
def searcher(app):
    user = make_user()
    make_entry(user, title="Searchable words", body='alpha beta gamma * " - ( )', tags="x")
    return user


@WITH_APP
@given(text=query_text)
def test_searching_never_fails(app, searcher, text):
    result = search.search_entries(searcher, text, tag=text[:64] or None)
    assert isinstance(result.hits, list)


@WITH_APP
@given(text=query_text)
def test_the_search_page_never_fails(app, auth_client, text):
    response = auth_client.get(f"/search?q={quote(text)}&tag={quote(text[:20])}")
    assert response.status_code == 200
    api = auth_client.get(f"/api/v1/search?q={quote(text or 'x')}")
    assert api.status_code in (200, 422)


# -- export and import of hostile entries -----------------------------------------------------------

titles = st.lists(st.sampled_from(FRAGMENTS + SCHEMES + ["word"]), min_size=1, max_size=8).map(
    lambda parts: "".join(parts).replace("\n", " ").replace("\x00", "").strip() or "t"
)
hostile_entries = st.lists(
    st.tuples(titles, markdown_sources.map(lambda body: body.replace("\x00", ""))),
    min_size=1,
    max_size=4,
)


@WITH_APP
@given(generated=hostile_entries)
def test_hostile_entries_survive_export_and_import_and_stay_harmless(app, generated):
    source, target = make_user(), make_user()
    made = []
    for title, body in generated:
        try:
            made.append(entries.create_entry(source, title=title, body=body, tags="x"))
        except ValidationError:
            continue  # a title over 200 characters, say: refused before it is stored
    out = io.StringIO()
    export.export_json(source, out)
    result = export.import_json(target, out.getvalue())
    assert result.created == len(made)
    imported = [entries.get_entry(target, c.id) for c in entries.list_entries(target).items]
    assert sorted((e.title, e.body) for e in imported) == sorted((e.title, e.body) for e in made)
    for entry in imported:
        assert executable_parts(entry.body_html) == [], entry.body_html
