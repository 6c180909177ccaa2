"""Markdown to safe HTML: markdown-it-py, Pygments for code, nh3 for the final allowlist."""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from functools import cache

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Bump when the output for the same source changes; cached HTML older than this is re-rendered.
RENDER_VERSION = 2  # 2: task-list items wrapped in <label>

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "section",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "input": {"type", "checked", "disabled"},
    "ol": {"start"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
}
SAFE_CLASS = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
SAFE_ID = re.compile(r"^(h-|fn)[\w:-]{0,80}$")
DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|webp|avif);base64,[a-z0-9+/=\s]+$", re.I)
SAFE_URL = re.compile(r"^(https?:|mailto:|#|/(?!/)|[^:/?#]*(?:[/?#]|$))", re.I)


def _slug(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).lower()
    return "h-" + re.sub(r"[^\w]+", "-", text).strip("-")[:60]


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang.strip().split()[0]) if lang.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes and wraps it in <pre><code> itself
    name = lexer.aliases[0] if lexer.aliases else "text"
    body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="highlight"><code class="language-{name}">{body}</code></pre>\n'


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"linkify": True, "typographer": False, "highlight": _highlight})
    md.enable(["table", "strikethrough", "linkify"])
    md.use(tasklists_plugin, label=True).use(footnote_plugin).use(
        anchors_plugin, max_level=6, slug_func=_slug
    )
    return md


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    if name == "class":
        kept = [c for c in value.split() if SAFE_CLASS.fullmatch(c)]
        return " ".join(kept) or None
    if name == "id":
        return value if SAFE_ID.fullmatch(value) else None
    if name == "href":
        return value if SAFE_URL.match(value.strip()) else None
    if name == "src":
        value = value.strip()
        if DATA_IMAGE.fullmatch(value) and tag == "img":
            return value
        return value if SAFE_URL.match(value) and not value.lower().startswith("mailto:") else None
    return value


def sanitise(html: str) -> str:
    """Reduce HTML to the allowlist: no script, handlers, styles, forms, frames, SVG or MathML."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={
            "script",
            "style",
            "svg",
            "math",
            "noscript",
            "template",
            "iframe",
            "object",
            "embed",
            "textarea",
            "select",
            "title",
            "xmp",
            "noembed",
        },
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        # Task-list boxes are the only inputs, and never editable.
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
        strip_comments=True,
    )


def render(source: str) -> str:
    """Render Markdown to sanitised HTML."""
    return sanitise(_parser().render(source or ""))


def plain_text(source: str) -> str:
    """Return the text of a Markdown source with the markup dropped."""
    return _plain(_parser().render(source or ""))


def render_with_text(source: str) -> tuple[str, str]:
    """Return the sanitised HTML and the plain text of a Markdown source, parsing it once."""
    html = _parser().render(source or "")
    return sanitise(html), _plain(html)


def _plain(html: str) -> str:
    text = nh3.clean(html, tags=set(), clean_content_tags={"script", "style"})
    # The cleaner hands back HTML text; decode every entity (&nbsp;, &#39;, …), not only a few.
    text = html_lib.unescape(text)
    return re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()


def word_count(text: str) -> int:
    """Count the words of plain text."""
    return len(re.findall(r"\w+(?:['’-]\w+)*", text))


def excerpt(text: str, length: int = 240) -> str:
    """Return the first `length` characters of plain text, cut at a word."""
    if len(text) <= length:
        return text
    cut = text[:length].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def pygments_css() -> str:
    """Return the stylesheet for highlighted code, light and dark."""
    light = HtmlFormatter(style="friendly").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(".highlight")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
