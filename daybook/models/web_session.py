"""Server-side browser sessions, stored by Flask-Session's SQLAlchemy backend."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from daybook.models.base import Base


class WebSession(Base):
    # Flask-Session's backend reads and writes these columns by name; `expiry` is naive UTC
    # because that is what the library compares it with.
    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    expiry: Mapped[datetime | None] = mapped_column(sa.DateTime, index=True)
    # The digest of the login token in `data` (services.auth), so that the login is read in the
    # same statement as the session.
    login_hash: Mapped[str | None] = mapped_column(sa.String(64))
