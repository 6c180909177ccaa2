"""Markdown rendering: the features people write with, plain text, excerpts and word counts."""

from __future__ import annotations

from bs4 import BeautifulSoup

from daybook.services import markdown


def soup_of(source: str) -> BeautifulSoup:
    return BeautifulSoup(markdown.render(source), "html.parser")


def test_commonmark_basics():
    soup = soup_of("Some **bold**, _italic_ and `code`.\n\n> quoted\n\n1. one\n2. two\n\n---")
    assert soup.find("strong").get_text() == "bold"
    assert soup.find("em").get_text() == "italic"
    assert soup.find("code").get_text() == "code"
    assert soup.find("blockquote").get_text(strip=True) == "quoted"
    assert [li.get_text() for li in soup.find("ol").find_all("li")] == ["one", "two"]
    assert soup.find("hr") is not None


def test_tables():
    soup = soup_of("| Day | Done |\n|:----|-----:|\n| Mon | 3 |\n| Tue | 5 |")
    table = soup.find("table")
    assert [th.get_text() for th in table.find("thead").find_all("th")] == ["Day", "Done"]
    rows = [
        [td.get_text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")
    ]
    assert rows == [["Mon", "3"], ["Tue", "5"]]


def test_strikethrough():
    soup = soup_of("~~dropped~~ kept")
    assert soup.find("s").get_text() == "dropped"


def test_task_list_items_label_their_checkboxes():
    html = markdown.render("- [x] shipped it\n- [ ] write it up")
    labels = BeautifulSoup(html, "html.parser").find_all("label")
    assert [label.get_text(strip=True) for label in labels] == ["shipped it", "write it up"]
    assert all(label.find("input", type="checkbox") for label in labels)


def test_task_lists_are_disabled_checkboxes():
    soup = soup_of("- [ ] open task\n- [x] done task")
    boxes = soup.find_all("input")
    assert len(boxes) == 2
    assert all(b["type"] == "checkbox" and b.has_attr("disabled") for b in boxes)
    assert not boxes[0].has_attr("checked") and boxes[1].has_attr("checked")
    assert [li.get_text(strip=True) for li in soup.find_all("li")] == ["open task", "done task"]


def test_footnotes():
    soup = soup_of("Claim.[^src]\n\n[^src]: The source.")
    ref = soup.find("sup").find("a")
    target = ref["href"].lstrip("#")
    note = soup.find(id=target)
    assert note is not None and "The source." in note.get_text()


def test_autolinks():
    soup = soup_of("See https://example.com/page and www.example.org, or <https://x.example/>.")
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert hrefs == ["https://example.com/page", "http://www.example.org", "https://x.example/"]
    assert all(set(a["rel"]) == {"noopener", "noreferrer", "nofollow"} for a in soup.find_all("a"))


def test_heading_anchors_are_unique_and_prefixed():
    soup = soup_of("# Weekly review\n\n## Weekly review\n\n### Café & co!")
    ids = [h["id"] for h in soup.find_all(["h1", "h2", "h3"])]
    assert ids[0] == "h-weekly-review"
    assert len(set(ids)) == 3
    assert all(i.startswith("h-") for i in ids)
    assert ids[2] == "h-café-co"


def test_fenced_code_is_highlighted_on_the_server():
    soup = soup_of("```python\ndef greet(name):\n    return 'hi ' + name\n```")
    pre = soup.find("pre")
    assert "highlight" in pre["class"]
    code = pre.find("code")
    assert "language-python" in code["class"]
    assert code.find("span", class_="k").get_text() == "def"
    assert code.get_text() == "def greet(name):\n    return 'hi ' + name\n"


def test_fenced_code_in_unknown_language_stays_plain_text():
    soup = soup_of("```nosuchlanguage\n<b>x</b>\n```")
    pre = soup.find("pre")
    assert "highlight" not in (pre.get("class") or [])
    assert pre.find("b") is None and pre.get_text() == "<b>x</b>\n"


def test_images_and_relative_links_are_kept():
    soup = soup_of('![a cat](https://example.com/cat.png "Cat") [entry](/entries/3) [top](#h-top)')
    img = soup.find("img")
    assert img["src"] == "https://example.com/cat.png" and img["alt"] == "a cat"
    assert [a["href"] for a in soup.find_all("a")] == ["/entries/3", "#h-top"]


def test_render_of_nothing_is_empty():
    assert markdown.render("") == ""
    assert markdown.render(None) == ""  # type: ignore[arg-type]


def test_plain_text_drops_markup_and_decodes_entities():
    text = markdown.plain_text(
        '# Title\n\nHe said "hi" & left <b>early</b> — it\'s&nbsp;fine &copy;'
    )
    assert text == 'Title He said "hi" & left early — it\'s fine ©'


def test_plain_text_keeps_code_as_text():
    assert markdown.plain_text("Ran `<script>alert(1)</script>` today") == (
        "Ran <script>alert(1)</script> today"
    )


def test_plain_text_drops_raw_script_and_style():
    assert markdown.plain_text("a <script>evil()</script> b <style>p{}</style> c") == "a b c"


def test_word_count():
    assert markdown.word_count("") == 0
    assert markdown.word_count("One two, three... don't re-read 42") == 6
    assert markdown.word_count(markdown.plain_text("# Head\n\n- [ ] task one\n- two")) == 4


def test_excerpt_is_cut_at_a_word():
    text = "word " * 100
    short = markdown.excerpt(text.strip(), length=22)
    assert short == "word word word word…"
    assert markdown.excerpt("short text") == "short text"


def test_pygments_css_covers_light_and_dark():
    css = markdown.pygments_css()
    assert ".highlight" in css and "prefers-color-scheme: dark" in css


def test_plain_text_turns_control_characters_into_spaces():
    assert markdown.plain_text("bell\x07ring \x02marked\x03 end") == "bell ring marked end"
