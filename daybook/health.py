"""Health endpoints for operators and load balancers: /healthz (alive) and /readyz (ready)."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from daybook import redis_store
from daybook.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Answer while the process can serve requests at all."""
    return jsonify(status="ok")


def _migrations_at_head() -> dict[str, object]:
    migrate = current_app.extensions["migrate"]
    heads = set(ScriptDirectory(migrate.directory).get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return {"ok": current == heads, "current": sorted(current), "head": sorted(heads)}


@bp.get("/readyz")
def readyz():
    """Report whether the database answers, its schema is current and Redis (when configured)
    answers; 503 when not."""
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(db.select(1))
        checks["database"] = {"ok": True}
        checks["migrations"] = _migrations_at_head()
    except SQLAlchemyError as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    finally:
        db.session.rollback()
    redis = redis_store.client()
    if redis is not None:
        try:
            redis.ping()
            checks["redis"] = {"ok": True}
        except RedisError as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    ready = all(check["ok"] for check in checks.values()) and "migrations" in checks
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
