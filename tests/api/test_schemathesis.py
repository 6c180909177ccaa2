"""Schemathesis against /api/v1/openapi.json: no 5xx, and every answer is the documented one.

The document is read once, at import, from an app on a throwaway directory. Each operation then
runs against an app of its own, holding a user with entries, tags and a read-write token.
"""

from __future__ import annotations

import collections
import tempfile
from dataclasses import dataclass, field

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode

from daybook import create_app
from daybook.extensions import db
from daybook.services import tokens
from tests.factories import make_entry, make_user

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        "generation": {"database": "none"},
        "checks": {
            # The services hold rules a JSON Schema cannot state (a future expiry, a cursor
            # Daybook gave out, a title that is not blank, If-Match), so some schema-valid
            # requests rightly get 412, 422 or 428; the contract tests pin those answers.
            "positive_data_acceptance": {"enabled": False},
        },
    }
)


def _document() -> dict:
    """Read the OpenAPI document the app serves, from an app on a throwaway directory."""
    # This runs at collection, before the fixtures that clear DAYBOOK_* variables: name the
    # database too, so that a DAYBOOK_DATABASE_URL in the environment is never touched.
    with tempfile.TemporaryDirectory() as tmp:
        settings = {
            "DATA_DIR": tmp,
            "DATABASE_URL": f"sqlite:///{tmp}/daybook.sqlite3",
            "SECRET_KEY": "test-secret-key-0123456789",
        }
        app = create_app(settings)
        document = app.test_client().get("/api/v1/openapi.json").get_json()
        with app.app_context():
            db.engine.dispose()
    return document


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@dataclass
class Caller:
    app: Flask
    token_id: int
    headers: dict[str, str]
    statuses: collections.Counter = field(default_factory=collections.Counter)


@pytest.fixture
def caller(make_app):
    """An app with a user, three entries with tags and a read-write token for them."""
    app = make_app(API_RATE_LIMIT="1000000/minute")
    with app.app_context():
        user = make_user("ada")
        make_entry(user, title="Standup", body="Fixed the *build*.", tags=["work", "ci"])
        make_entry(user, title="Walk", body="Rain all day.", tags=["life"])
        make_entry(user, title="Notes", body="Reading about CRDTs.", tags=["work"])
        for n in range(3):  # something for DELETE /tokens/{token_id} to revoke
            tokens.create_token(user, name=f"spare {n}", scopes=["read"])
        token, secret = tokens.create_token(user, name="schemathesis", scopes=["read", "write"])
        caller = Caller(app, token.id, {"Authorization": f"Bearer {secret}"})
        db.session.remove()
    yield caller
    # Every answer a 401 (or 405) would mean the token never worked and nothing was tested.
    assert set(caller.statuses) - {401, 405}, caller.statuses


@schema.parametrize()
@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        # One app per operation, shared by its examples, is what `caller` is for.
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api(case, caller):
    if case.method == "DELETE" and str((case.path_parameters or {}).get("token_id")) == str(
        caller.token_id
    ):
        return  # revoking the token in use would turn every later call into a 401
    headers = dict(caller.headers)
    header_info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header_info is not None and header_info.mode == GenerationMode.NEGATIVE:
        # A case made to break the headers may have dropped Authorization on purpose; adding
        # the token back would turn it into a valid request that is rightly accepted.
        headers.pop("Authorization")
    if case.method == "PATCH" and case.path.startswith("/api/v1/entries/"):
        # Without If-Match every PATCH stops at 428; "*" lets the generated bodies reach the update.
        headers["If-Match"] = "*"
    case.operation.app = case.operation.schema.app = caller.app
    response = case.call_and_validate(headers=headers)
    caller.statuses[response.status_code] += 1
