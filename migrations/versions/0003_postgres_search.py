"""postgres search

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

The search index for PostgreSQL: one row per live entry with a generated, weighted tsvector and a
GIN index over it. SQLite keeps its FTS5 table from 0001; there this revision does nothing.

The text search configuration `daybook_english` behaves like SQLite's porter + unicode61 with
remove_diacritics: English stemming, accents folded (unaccent), and no stop words, so that every
typed word has to be present, as it has to be on SQLite.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # unaccent is a trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # The snowball template without a StopWords file keeps every word.
    op.execute(
        "CREATE TEXT SEARCH DICTIONARY daybook_english_stem "
        "(TEMPLATE = snowball, Language = english)"
    )
    op.execute("CREATE TEXT SEARCH CONFIGURATION daybook_english (COPY = english)")
    op.execute(
        "ALTER TEXT SEARCH CONFIGURATION daybook_english "
        "ALTER MAPPING FOR asciiword, asciihword, hword_asciipart WITH daybook_english_stem"
    )
    op.execute(
        "ALTER TEXT SEARCH CONFIGURATION daybook_english "
        "ALTER MAPPING FOR word, hword, hword_part WITH unaccent, daybook_english_stem"
    )
    op.execute(
        "ALTER TEXT SEARCH CONFIGURATION daybook_english "
        "ALTER MAPPING FOR numword, numhword WITH unaccent, simple"
    )
    # Weights A, B, C rank a title above tags above the body, as bm25's weights do on SQLite.
    op.execute(
        """
        CREATE TABLE entry_search (
            entry_id integer NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            tags text NOT NULL,
            document tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('daybook_english', coalesce(title, '')), 'A')
                || setweight(to_tsvector('daybook_english', coalesce(tags, '')), 'B')
                || setweight(to_tsvector('daybook_english', coalesce(body, '')), 'C')
            ) STORED,
            CONSTRAINT pk_entry_search PRIMARY KEY (entry_id),
            CONSTRAINT fk_entry_search_entry_id_entry FOREIGN KEY (entry_id)
                REFERENCES entry (id) ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX ix_entry_search_document ON entry_search USING gin (document)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS entry_search")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS daybook_english")
    op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS daybook_english_stem")
    # unaccent stays: other objects in the database may have come to use it.
