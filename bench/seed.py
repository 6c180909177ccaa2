"""Fast seeding for the benchmark: a migrated data directory, one user and N entries.

Entries are written with SQLAlchemy Core executemany in one transaction, not one by one through
services.entries.create_entry: their bodies come from a few hundred template bodies whose HTML,
plain text, excerpt and word count are computed once with daybook.services.markdown, exactly as
create_entry computes them. The search index is filled in the same transaction with the same
rows index_entry would write (rowid, title, plain-text body, space-separated tags).
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

USERNAME = "bench"
EMAIL = "bench@example.com"
PASSWORD = "bench-Quiet-Harbour-7391"
TAG_POOL_SIZE = 50
YEARS = 5
CHUNK = 5_000

# Short English glue words so the text reads like prose; the content words are generated.
GLUE = (
    "the and a to of in i it was that for on with at we my this but so had as not be "
    "then after before about from up out all some more than when just very what there"
).split()
ONSETS = "b bl br c ch cr d dr f fl g gr h j k l m n p pl pr qu r s sh sl st t th tr v w z".split()
VOWELS = "a e i o u ai ea ee oa ou io".split()
CODAS = ["", "", "n", "r", "l", "s", "t", "m", "nd", "st", "rk", "ng", "ck", "sh", "x"]


@dataclass
class Template:
    body: str
    body_html: str
    plain: str
    excerpt: str
    word_count: int
    words: frozenset[str]


@dataclass
class SeedReport:
    entries: int
    live_ids: list[int]
    search_word: str
    search_matches: int
    tag_names: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    db_bytes: int = 0


def make_vocabulary(rng: random.Random, size: int = 4_000) -> list[str]:
    """Return `size` distinct pronounceable made-up words, in a fixed order for a given seed."""
    words: list[str] = []
    seen = set(GLUE)
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 2, 3, 3))
        word = "".join(
            rng.choice(ONSETS)
            + rng.choice(VOWELS)
            + (rng.choice(CODAS) if i == syllables - 1 else "")
            for i in range(syllables)
        )
        if 3 <= len(word) <= 12 and word not in seen:
            seen.add(word)
            words.append(word)
    return words


class TextMaker:
    """Sentences, paragraphs and Markdown bodies drawn from a Zipf-weighted vocabulary."""

    def __init__(self, rng: random.Random, vocabulary: list[str]):
        self.rng = rng
        self.vocabulary = vocabulary
        # Zipf: the k-th word is picked in proportion to 1/k, as words are in real text.
        self.weights = [1 / (k + 1) for k in range(len(vocabulary))]
        self._cum = list(_accumulate(self.weights))

    def word(self) -> str:
        if self.rng.random() < 0.35:
            return self.rng.choice(GLUE)
        return self.rng.choices(self.vocabulary, cum_weights=self._cum, k=1)[0]

    def words(self, low: int, high: int) -> list[str]:
        return [self.word() for _ in range(self.rng.randint(low, high))]

    def sentence(self) -> str:
        words = self.words(6, 18)
        for i, w in enumerate(words):
            roll = self.rng.random()
            if roll < 0.03:
                words[i] = f"*{w}*"
            elif roll < 0.045:
                words[i] = f"**{w}**"
            elif roll < 0.055:
                words[i] = f"`{w}`"
            elif roll < 0.06:
                words[i] = f"[{w}](https://example.com/{w})"
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice(".......?!")

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 6)))

    def title(self) -> str:
        text = " ".join(self.words(2, 7))
        return text[0].upper() + text[1:]

    def body(self) -> str:
        blocks: list[str] = []
        for _ in range(self.rng.randint(2, 5)):
            roll = self.rng.random()
            if roll < 0.10:
                blocks.append("## " + self.title())
            elif roll < 0.22:
                blocks.append(
                    "\n".join(
                        "- " + " ".join(self.words(2, 8)) for _ in range(self.rng.randint(2, 5))
                    )
                )
            elif roll < 0.27:
                blocks.append(
                    "\n".join(
                        f"- [{self.rng.choice(' x')}] " + " ".join(self.words(2, 6))
                        for _ in range(self.rng.randint(2, 4))
                    )
                )
            elif roll < 0.31:
                a, b = self.rng.sample(self.vocabulary[:200], 2)
                blocks.append(
                    f"```python\ndef {a}({b}):\n    return {b} * {self.rng.randint(2, 99)}\n```"
                )
            elif roll < 0.35:
                blocks.append("> " + self.sentence())
            blocks.append(self.paragraph())
        return "\n\n".join(blocks)


def _accumulate(values: list[float]):
    total = 0.0
    for v in values:
        total += v
        yield total


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def make_templates(maker: TextMaker, count: int) -> list[Template]:
    """Render `count` Markdown bodies once, the way services.entries does for each entry."""
    from daybook.services import markdown

    templates = []
    for _ in range(count):
        body = maker.body()
        plain = markdown.plain_text(body)
        templates.append(
            Template(
                body=body,
                body_html=markdown.render(body),
                plain=plain,
                excerpt=markdown.excerpt(plain),
                word_count=markdown.word_count(plain),
                words=frozenset(_tokens(plain)),
            )
        )
    return templates


def make_tag_names(rng: random.Random, vocabulary: list[str]) -> list[str]:
    names: list[str] = []
    pool = vocabulary[50:400]
    while len(names) < TAG_POOL_SIZE:
        word = rng.choice(pool)
        roll = rng.random()
        name = (
            f"{word}-{rng.choice(pool)}"
            if roll < 0.15
            else (f"work/{word}" if roll < 0.25 else word)
        )
        if name not in names:
            names.append(name)
    return names


def migrate_and_create_user(app) -> int:
    """Bring the database to head and create the benchmark's user; return its id."""
    from flask_migrate import upgrade

    from daybook.services.users import create_user

    with app.app_context():
        upgrade()
        user = create_user(username=USERNAME, email=EMAIL, password=PASSWORD, is_admin=True)
        return user.id


def seed(
    app,
    n: int,
    *,
    seed_value: int = 20261122,
    templates: int = 500,
    trashed_fraction: float = 0.01,
    search_fraction: float = 0.10,
    log=print,
) -> SeedReport:
    """Migrate, create the user and insert `n` entries with tags and their search index rows."""
    from daybook.extensions import db
    from daybook.models import Entry, Tag, entry_tag
    from daybook.services import markdown

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    user_id = migrate_and_create_user(app)
    timings["migrate_and_user_s"] = time.perf_counter() - t0

    rng = random.Random(seed_value)
    t1 = time.perf_counter()
    vocabulary = make_vocabulary(rng)
    maker = TextMaker(rng, vocabulary)
    with app.app_context():
        bodies = make_templates(maker, max(1, min(templates, n)))
    tag_names = make_tag_names(rng, vocabulary)
    tag_cum = list(_accumulate([1 / (k + 1) ** 0.8 for k in range(len(tag_names))]))
    timings["templates_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=365 * YEARS).total_seconds()
    entry_rows: list[dict] = []
    link_rows: list[dict] = []
    fts_rows: list[dict] = []
    live_ids: list[int] = []
    doc_freq: Counter[str] = Counter()
    for entry_id in range(1, n + 1):
        tpl = bodies[rng.randrange(len(bodies))]
        title = maker.title()
        occurred = now - timedelta(seconds=rng.random() * span)
        created = occurred + timedelta(minutes=rng.randint(0, 600))
        trashed = rng.random() < trashed_fraction
        k = rng.choices((0, 1, 2, 3, 4), weights=(10, 30, 30, 20, 10))[0]
        chosen: list[int] = []
        while len(chosen) < k:
            idx = rng.choices(range(len(tag_names)), cum_weights=tag_cum, k=1)[0]
            if idx not in chosen:
                chosen.append(idx)
        names = sorted(tag_names[i] for i in chosen)
        entry_rows.append(
            {
                "id": entry_id,
                "user_id": user_id,
                "title": title,
                "body": tpl.body,
                "body_html": tpl.body_html,
                "excerpt": tpl.excerpt,
                "render_version": markdown.RENDER_VERSION,
                "word_count": tpl.word_count,
                "occurred_at": occurred,
                "created_at": created,
                "updated_at": created,
                "deleted_at": created + timedelta(days=1) if trashed else None,
                "version": 1,
                "visibility": "private",
            }
        )
        link_rows.extend({"entry_id": entry_id, "tag_id": i + 1} for i in chosen)
        if not trashed:
            live_ids.append(entry_id)
            fts_rows.append(
                {"id": entry_id, "title": title, "body": tpl.plain, "tags": " ".join(names)}
            )
            doc_freq.update(tpl.words | _tokens(title))
    timings["generate_s"] = time.perf_counter() - t2

    with app.app_context():
        engine = db.engine
        t3 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                Tag.__table__.insert(),
                [
                    {"id": i + 1, "user_id": user_id, "name": name}
                    for i, name in enumerate(tag_names)
                ],
            )
            for start in range(0, len(entry_rows), CHUNK):
                conn.execute(Entry.__table__.insert(), entry_rows[start : start + CHUNK])
            if link_rows:
                conn.execute(entry_tag.insert(), link_rows)
            timings["insert_entries_s"] = time.perf_counter() - t3
            t4 = time.perf_counter()
            insert_fts = sa.text(
                "INSERT INTO entry_fts (rowid, title, body, tags) VALUES (:id, :title, :body, :tags)"
            )
            for start in range(0, len(fts_rows), CHUNK):
                conn.execute(insert_fts, fts_rows[start : start + CHUNK])
            timings["insert_index_s"] = time.perf_counter() - t4
        t5 = time.perf_counter()
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            indexed = conn.exec_driver_sql("SELECT count(*) FROM entry_fts").scalar_one()
            if indexed != len(live_ids):
                raise RuntimeError(
                    f"search index holds {indexed} rows for {len(live_ids)} live entries"
                )
            word = _pick_search_word(doc_freq, vocabulary, len(live_ids), search_fraction)
            matches = conn.execute(
                sa.text("SELECT count(*) FROM entry_fts WHERE entry_fts MATCH :q"),
                {"q": f'"{word}"'},
            ).scalar_one()
        timings["checkpoint_s"] = time.perf_counter() - t5
        engine.dispose()
    timings["total_s"] = time.perf_counter() - t0
    db_path = Path(app.config["DAYBOOK"].data_dir) / "daybook.sqlite3"
    return SeedReport(
        entries=n,
        live_ids=live_ids,
        search_word=word,
        search_matches=matches,
        tag_names=tag_names,
        timings=timings,
        db_bytes=db_path.stat().st_size if db_path.exists() else 0,
    )


def _pick_search_word(
    doc_freq: Counter[str], vocabulary: list[str], live: int, fraction: float
) -> str:
    """Return the made-up word found in the share of entries closest to `fraction`."""
    if live == 0:
        return vocabulary[0]
    target = fraction * live
    candidates = [w for w in vocabulary[:500] if doc_freq[w]]
    return min(candidates or vocabulary[:1], key=lambda w: (abs(doc_freq[w] - target), w))
