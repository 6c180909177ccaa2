"""Daybook: a self-hosted journal and work log."""

from __future__ import annotations

import inspect
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask

from daybook.config import ENV_PREFIX, SETTINGS, load_settings

__version__ = "0.1.0"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then DAYBOOK_* environment, then `config`, then each part.

    `config` keys named like settings (`DATA_DIR`, `REGISTRATION`, …) override the environment;
    any other key goes into Flask's config as is.

    Raises: ConfigError when a setting is unusable.
    """
    config = dict(config or {})
    overrides = {ENV_PREFIX + k: str(config.pop(k)) for k in list(config) if k in SETTINGS}
    settings = load_settings(overrides=overrides)

    app = _openapi_app(str(settings.data_dir))
    app.config.update(_defaults())
    app.config.update(settings.flask_config())
    app.config.update(config)

    register_proxy(app)
    register_logging(app)
    register_metrics(app)
    register_extensions(app)
    register_jobs(app)
    register_blueprints(app)
    register_api(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def _defaults() -> dict[str, Any]:
    return {
        "SESSION_PERMANENT": False,
        "SESSION_COOKIE_NAME": "daybook_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_CLEANUP_N_REQUESTS": 500,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=7),
        "REMEMBER_COOKIE_NAME": "daybook_remember",
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # A journal editor stays open for hours; the token lives as long as the session.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_HEADER_LIMIT": "RateLimit-Limit",
        "RATELIMIT_HEADER_REMAINING": "RateLimit-Remaining",
        "RATELIMIT_HEADER_RESET": "RateLimit-Reset",
    }


def register_proxy(app: Flask) -> None:
    """Trust X-Forwarded-* from exactly as many proxies as configured, and no more."""
    count = app.config["DAYBOOK"].proxy_count
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]


def register_logging(app: Flask) -> None:
    from daybook.request_log import init_request_log

    init_request_log(app)


def register_metrics(app: Flask) -> None:
    # Early, so that its timer starts before the other extensions' before_request hooks run.
    from daybook.metrics import register

    register(app)


def register_extensions(app: Flask) -> None:
    from daybook import models  # noqa: F401 - registers every table on the metadata
    from daybook.database import include_object, register_database
    from daybook.extensions import csrf, db, limiter, login_manager, migrate
    from daybook.redis_store import init_redis
    from daybook.services import auth
    from daybook.sessions import init_sessions
    from daybook.web.auth import send_to_login

    register_database(app)
    init_redis(app)
    migrate.init_app(
        app,
        db,
        directory=str(MIGRATIONS_DIR),
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    init_sessions(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    # The message goes out as Daybook's own flash (a cookie; see web.flashes), not Flask's.
    login_manager.unauthorized_handler(send_to_login)
    login_manager.session_protection = "basic"
    login_manager.user_loader(auth.load_login)


def register_jobs(app: Flask) -> None:
    """Give the app its job queue: Huey on Redis, or on a SQLite file in the data directory."""
    from daybook.jobs import init_app

    init_app(app)


def register_blueprints(app: Flask) -> None:
    from daybook.health import bp as health_bp
    from daybook.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(health_bp)


@lru_cache(maxsize=4096)
def _is_coroutine_function(func) -> bool:
    return inspect.iscoroutinefunction(func)


def _openapi_app(instance_path: str) -> Flask:
    # flask-openapi3's OpenAPI is a Flask app that also builds the OpenAPI document from the
    # API's pydantic models; its own documentation UI loads from a CDN, so ours replaces it.
    from flask_openapi3 import Info, OpenAPI

    from daybook.api.errors import from_pydantic

    class DaybookApp(OpenAPI):
        def ensure_sync(self, func):
            # Flask asks `inspect` whether every hook and view is a coroutine function, some 17
            # times a request; the answer never changes for a function.
            return self.async_to_sync(func) if _is_coroutine_function(func) else func

    return DaybookApp(
        __name__,
        instance_path=instance_path,
        info=Info(
            title="Daybook API", version="1", description="The journal, over JSON. See docs/api.md."
        ),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_callback=from_pydantic,
        doc_ui=False,
    )


def register_api(app: Flask) -> None:
    from daybook.api import register_api as register
    from daybook.api.docs import register as register_docs

    register(app)
    register_docs(app)


def register_errorhandlers(app: Flask) -> None:
    from daybook.web.errors import register

    register(app)


def register_security_headers(app: Flask) -> None:
    from daybook.web.headers import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from daybook.web import csrf_tokens, filters, flashes

    filters.register(app)
    flashes.register(app)
    csrf_tokens.register(app)


def register_commands(app: Flask) -> None:
    from daybook.cli import register

    register(app)
