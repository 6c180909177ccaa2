"""Request and response bodies of the JSON API; the OpenAPI document is generated from these."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from flask import has_request_context, request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> object:
    # Left alone, pydantic reads a number (or a numeric string) as Unix time; the document
    # promises an RFC 3339 string, so hold requests to that.
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("Expected an RFC 3339 date-time with an offset, like 2025-01-31T09:00:00Z.")


def _in_utc(value: datetime) -> datetime:
    # Year 1 at +14:00 or 9999-12-31 at -14:00 cannot be expressed in UTC; say so here
    # rather than overflow where the value is stored or compared.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("The time is out of range once converted to UTC.") from None


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_utc)]


class EntryCreate(Strict):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=1_048_576)
    tags: list[str] = Field(default_factory=list, max_length=50)
    occurred_at: Timestamp | None = None


class EntryUpdate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=1_048_576)
    tags: list[str] | None = Field(default=None, max_length=50)
    occurred_at: Timestamp | None = None


class EntryPreview(Strict):
    body: str = Field(max_length=1_048_576, description="Markdown to render.")


class TagUpdate(Strict):
    name: str = Field(
        min_length=1, max_length=64, description="New name; an existing tag's name merges the two."
    )


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "write"]] = Field(min_length=1, max_length=2)
    expires_at: Timestamp | None = None


class PasswordLogin(Strict):
    username: str = Field(min_length=1, max_length=254, description="Username or email.")
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(Strict):
    """Optional: without a body, the login of the access token sent ends."""

    model_config = ConfigDict(extra="forbid", openapi_extra={"required": False})  # type: ignore[typeddict-unknown-key]

    refresh_token: str | None = Field(default=None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, data: object) -> object:
        # flask-openapi3 hands over None both for no body and for a body of `null`; only
        # the first is allowed.
        if data is None and has_request_context() and not request.get_data():
            return {}
        return data


class EntryPath(BaseModel):
    entry_id: int = Field(ge=1, le=2**62)


class TagPath(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class TokenPath(BaseModel):
    token_id: int = Field(ge=1, le=2**62)


class EntryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=500)
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    sort: Literal["-occurred_at", "occurred_at", "-updated_at", "updated_at"] = "-occurred_at"
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: int = Field(default=1, ge=1, le=100_000)


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=500)
    tag: str | None = Field(default=None, max_length=64)
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None
    page: int = Field(default=1, ge=1, le=100_000)


# -- responses -----------------------------------------------------------------------------------


class EntryLinks(BaseModel):
    self: str
    html: str


class EntryOut(BaseModel):
    id: int
    title: str
    body: str
    html: str
    tags: list[str]
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    version: int
    word_count: int
    links: EntryLinks


class EntryList(BaseModel):
    entries: list[EntryOut]
    next: str | None = Field(description="URL of the next page, or null on the last one.")


class PreviewOut(BaseModel):
    html: str = Field(description="The Markdown rendered and sanitised, as an entry's html.")


class TagOut(BaseModel):
    name: str
    count: int


class TagList(BaseModel):
    tags: list[TagOut]


class SearchHit(BaseModel):
    entry: EntryOut
    title_html: str = Field(description="Title with matches in <mark>; HTML-escaped.")
    snippet_html: str = Field(description="Excerpt with matches in <mark>; HTML-escaped.")


class SearchResults(BaseModel):
    results: list[SearchHit]
    next: str | None


class Me(BaseModel):
    id: int
    username: str
    email: str
    timezone: str
    is_admin: bool
    created_at: datetime


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    token: str | None = Field(
        default=None, description="The secret; present only in the answer to its creation."
    )


class TokenList(BaseModel):
    tokens: list[TokenOut]


class TokenPairOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class Problem(BaseModel):
    """An error, as RFC 9457 application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = Field(default=None, description="A message per invalid field.")
    current_version: int | None = Field(
        default=None, description="On 412: the entry's version now."
    )


_PROBLEM_SCHEMA = Problem.model_json_schema()


def problems(*statuses: int) -> dict[int, dict]:
    """Document error statuses as application/problem+json bodies."""
    return {
        status: {"content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}}
        for status in statuses
    }
