"""Journal entries and their tags."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from daybook.models.base import Base, UTCDateTime, utcnow

entry_tag = sa.Table(
    "entry_tag",
    Base.metadata,
    sa.Column("entry_id", sa.ForeignKey("entry.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.UniqueConstraint("user_id", "name", name="uq_tag_user_id_name"),)


class Entry(Base):
    __tablename__ = "entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    body_html: Mapped[str] = mapped_column(sa.Text, default="")
    excerpt: Mapped[str] = mapped_column(sa.String(300), default="")
    render_version: Mapped[int] = mapped_column(default=0)
    word_count: Mapped[int] = mapped_column(default=0)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)
    visibility: Mapped[str] = mapped_column(sa.String(16), default="private")

    tags: Mapped[list[Tag]] = relationship(secondary=entry_tag, lazy="selectin", order_by=Tag.name)

    __table_args__ = (
        # The list page: a user's live entries, newest first, walked by (occurred_at, id).
        sa.Index("ix_entry_user_deleted_occurred", "user_id", "deleted_at", "occurred_at", "id"),
        # The same for live entries only: PostgreSQL takes its order from this one.
        sa.Index(
            "ix_entry_live_user_occurred",
            "user_id",
            "occurred_at",
            "id",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        ),
    )

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]
