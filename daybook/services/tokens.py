"""API credentials: personal access tokens, short-lived access JWTs and rotating refresh tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import sqlalchemy as sa

from daybook.errors import NotFound, ValidationError
from daybook.extensions import db
from daybook.models import ApiToken, RefreshToken, User, utcnow
from daybook.models.base import MAX_ID

PAT_PREFIX = "dbk_"
ACCESS_LIFETIME = timedelta(minutes=15)
REFRESH_LIFETIME = timedelta(days=30)
SCOPE_SETS = ({"read"}, {"read", "write"})
MAX_TOKENS_PER_USER = 100
_JWT_AUDIENCE = "daybook-api"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # NUL, line breaks and other C0 controls


@dataclass(frozen=True)
class Credential:
    """Who a bearer token speaks for and what it may do."""

    user: User
    scopes: frozenset[str]
    family: str | None = None  # the refresh family of an access token


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class InvalidToken(Exception):
    """A bearer or refresh token that is unknown, expired or revoked."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _signing_key(secret_key: str) -> bytes:
    # A key of its own for JWTs, derived from the app's secret, 32 bytes whatever its length.
    return hashlib.sha256(b"daybook-api-jwt:" + secret_key.encode()).digest()


# -- personal access tokens ----------------------------------------------------------------------


def create_token(
    user: User, *, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a personal access token; return the record and the secret, shown only once.

    Raises: ValidationError naming the bad field.
    """
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name or len(name) > 100:
        errors["name"] = "Give the token a name of 1–100 characters."
    elif _CONTROL.search(name):
        errors["name"] = "The name must be one line of text."
    if set(scopes or []) not in SCOPE_SETS or len(scopes) != len(set(scopes)):
        errors["scopes"] = 'Scopes must be ["read"] or ["read", "write"].'
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        errors["expires_at"] = "The expiry must be a future time with a time zone."
    live = db.session.scalar(
        sa.select(sa.func.count(ApiToken.id)).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
        )
    )
    if (live or 0) >= MAX_TOKENS_PER_USER:
        errors["name"] = f"You already have {MAX_TOKENS_PER_USER} tokens; revoke some first."
    if errors:
        raise ValidationError(errors)
    secret = PAT_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=_digest(secret),
        scopes=" ".join(s for s in ("read", "write") if s in scopes),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.commit()
    return token, secret


def list_tokens(user: User) -> list[ApiToken]:
    """Return the user's tokens that are not revoked, newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> None:
    """Revoke one of the user's personal access tokens.

    Raises: NotFound, also for someone else's token.
    """
    if not 0 < token_id <= MAX_ID:
        raise NotFound("No such token.")
    token = db.session.scalar(
        sa.select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
        )
    )
    if token is None:
        raise NotFound("No such token.")
    token.revoked_at = utcnow()
    db.session.commit()


def revoke_all(user_id: int) -> None:
    """Revoke every token and refresh family of a user (after a password change); no commit."""
    now = utcnow()
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


# -- access and refresh tokens -------------------------------------------------------------------


def _new_refresh(user: User, family: str, now: datetime) -> str:
    secret = secrets.token_urlsafe(32)
    db.session.add(
        RefreshToken(
            user_id=user.id,
            family=family,
            token_hash=_digest(secret),
            created_at=now,
            expires_at=now + REFRESH_LIFETIME,
        )
    )
    return secret


def _access_token(user: User, family: str, now: datetime, key: str) -> str:
    claims = {
        "sub": str(user.id),
        "fam": family,
        "scope": "read write",
        "aud": _JWT_AUDIENCE,
        "iat": now,
        "exp": now + ACCESS_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(key), algorithm="HS256")


def issue_pair(user: User, key: str) -> TokenPair:
    """Start a new refresh family for a user who just proved their password."""
    now = utcnow()
    family = uuid.uuid4().hex
    refresh = _new_refresh(user, family, now)
    db.session.commit()
    return TokenPair(
        _access_token(user, family, now, key), refresh, int(ACCESS_LIFETIME.total_seconds())
    )


def refresh_pair(refresh_token: str, key: str) -> TokenPair:
    """Spend a refresh token for a new pair; a token spent before revokes its whole family.

    Raises: InvalidToken.
    """
    now = utcnow()
    row = db.session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token or ""))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise InvalidToken("The refresh token is not valid.")
    # Spend it with a conditional update, so two concurrent refreshes cannot both succeed.
    spent = db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if spent != 1:
        _revoke_family(row.family, now)
        db.session.commit()
        raise InvalidToken(
            "The refresh token was already used; every token of its login was revoked."
        )
    user = db.session.get(User, row.user_id)
    refresh = _new_refresh(user, row.family, now)
    db.session.commit()
    return TokenPair(
        _access_token(user, row.family, now, key), refresh, int(ACCESS_LIFETIME.total_seconds())
    )


def _revoke_family(family: str, now: datetime) -> None:
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_family(family: str) -> None:
    """Revoke a refresh family: its refresh tokens and the access tokens that name it."""
    _revoke_family(family, utcnow())
    db.session.commit()


def _family_alive(family: str) -> bool:
    return bool(
        db.session.scalar(
            sa.select(RefreshToken.id)
            .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
            .limit(1)
        )
    )


def authenticate(bearer: str, key: str) -> Credential:
    """Return the credential a bearer token (personal token or access JWT) stands for.

    Raises: InvalidToken.
    """
    now = utcnow()
    if bearer.startswith(PAT_PREFIX):
        token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _digest(bearer)))
        if token is None or token.revoked_at is not None:
            raise InvalidToken("The token is not valid or was revoked.")
        if token.expires_at is not None and token.expires_at <= now:
            raise InvalidToken("The token has expired.")
        user_id, scopes = token.user_id, frozenset(token.scopes.split())
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            # At most once a minute: no write on every request. The read transaction ends
            # first: on SQLite, a read that turns into a write after another connection
            # committed fails at once ("database is locked") instead of waiting its turn.
            token_id = token.id
            db.session.commit()
            db.session.execute(
                sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
            db.session.commit()
        return Credential(db.session.get(User, user_id), scopes)
    try:
        claims = jwt.decode(bearer, _signing_key(key), algorithms=["HS256"], audience=_JWT_AUDIENCE)
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired; refresh it.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The token is not valid.") from None
    family = str(claims.get("fam", ""))
    user = (
        db.session.get(User, int(claims["sub"])) if str(claims.get("sub", "")).isdigit() else None
    )
    if user is None or not _family_alive(family):
        raise InvalidToken("The token was revoked.")
    return Credential(user, frozenset(str(claims.get("scope", "")).split()), family)


def end_refresh_family(user: User, refresh_token: str) -> None:
    """Revoke the family of one of the user's refresh tokens; unknown tokens are ignored."""
    row = db.session.scalar(
        sa.select(RefreshToken).where(
            RefreshToken.token_hash == _digest(refresh_token), RefreshToken.user_id == user.id
        )
    )
    if row is not None:
        end_family(row.family)
