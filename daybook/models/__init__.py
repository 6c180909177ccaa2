"""Typed SQLAlchemy models; importing this package registers every table."""

from daybook.models.base import Base, utcnow
from daybook.models.entry import Entry, Tag, entry_tag
from daybook.models.job import Job
from daybook.models.token import ApiToken, IdempotentRequest, RefreshToken
from daybook.models.user import Invite, LoginAttempt, LoginSession, User
from daybook.models.web_session import WebSession

__all__ = [
    "ApiToken",
    "IdempotentRequest",
    "RefreshToken",
    "Base",
    "Entry",
    "Invite",
    "Job",
    "LoginAttempt",
    "LoginSession",
    "Tag",
    "User",
    "entry_tag",
    "utcnow",
    "WebSession",
]
