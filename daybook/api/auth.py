"""Tokens over JSON: password login for a token pair, refresh, logout, personal tokens."""

from __future__ import annotations

from flask import Response, current_app, g, request, url_for

from daybook.api import TAG_AUTH, bp, caller, json_response
from daybook.api.errors import problem
from daybook.api.schemas import (
    LogoutRequest,
    PasswordLogin,
    RefreshRequest,
    TokenCreate,
    TokenList,
    TokenOut,
    TokenPairOut,
    TokenPath,
    problems,
)
from daybook.errors import ValidationError
from daybook.models import ApiToken
from daybook.request_log import log
from daybook.services import auth, tokens


def _pair(pair: tokens.TokenPair) -> Response:
    body = TokenPairOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=pair.expires_in,
    )
    return json_response(body, headers={"Cache-Control": "no-store"})


# `security=[{}]` documents "no credentials needed": flask-openapi3 appends the blueprint's
# bearer requirement, so an empty list would leave the login routes documented as needing one.
@bp.post(
    "/auth/token",
    tags=[TAG_AUTH],
    security=[{}],
    responses={200: TokenPairOut, **problems(401, 422, 429)},
)
def auth_token(body: PasswordLogin):
    """Trade a username (or email) and password for an access and a refresh token."""
    try:
        user = auth.authenticate(body.username, body.password, address=request.remote_addr)
    except ValidationError:
        # Logged as the login form logs it: someone guessing over the API shows up too.
        log().warning("login failed", login=body.username[:100], address=request.remote_addr)
        return problem(401, auth.BAD_CREDENTIALS, headers={"WWW-Authenticate": "Bearer"})
    return _pair(tokens.issue_pair(user, current_app.secret_key))


@bp.post(
    "/auth/refresh",
    tags=[TAG_AUTH],
    security=[{}],
    responses={200: TokenPairOut, **problems(401, 422)},
)
def auth_refresh(body: RefreshRequest):
    """Spend a refresh token for a new pair; reusing a spent one revokes its whole login."""
    try:
        return _pair(tokens.refresh_pair(body.refresh_token, current_app.secret_key))
    except tokens.InvalidToken as exc:
        return problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"})


@bp.post("/auth/logout", tags=[TAG_AUTH], responses={204: None, **problems(422)})
def auth_logout(body: LogoutRequest):
    """Revoke the login of this access token (and of the refresh token, when sent)."""
    family = g.credential.family
    if family:
        tokens.end_family(family)
    if body.refresh_token:
        tokens.end_refresh_family(caller(), body.refresh_token)
    return Response(status=204)


def token_out(token: ApiToken, secret: str | None = None) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        scopes=token.scopes.split(),
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        token=secret,
    )


@bp.get("/tokens", tags=[TAG_AUTH], responses={200: TokenList})
def token_list():
    """List personal access tokens that are not revoked (never their secrets)."""
    return json_response(TokenList(tokens=[token_out(t) for t in tokens.list_tokens(caller())]))


@bp.post("/tokens", tags=[TAG_AUTH], responses={201: TokenOut, **problems(422)})
def token_create(body: TokenCreate):
    """Create a personal access token; its secret is in this answer only."""
    token, secret = tokens.create_token(
        caller(), name=body.name, scopes=list(body.scopes), expires_at=body.expires_at
    )
    return json_response(
        token_out(token, secret),
        201,
        {"Location": url_for("api.token_list"), "Cache-Control": "no-store"},
    )


@bp.delete("/tokens/<int:token_id>", tags=[TAG_AUTH], responses={204: None, **problems(404)})
def token_delete(path: TokenPath):
    """Revoke a personal access token."""
    tokens.revoke_token(caller(), path.token_id)
    return Response(status=204)
