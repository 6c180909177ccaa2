"""Flask extensions, created unbound and initialised by create_app."""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from daybook.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# General request limits (the API's); login throttling lives in the database (services.auth).
# With DAYBOOK_REDIS_URL the counters live in Redis; while Redis is away each process counts in
# memory rather than failing requests, and the short timeouts keep a dead Redis from stalling them.
limiter = Limiter(
    key_func=get_remote_address,
    default_limits=[],
    key_prefix="daybook",
    swallow_errors=True,
    in_memory_fallback_enabled=True,
    storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 2.0},
)


@limiter.request_filter
def _outside_api() -> bool:
    # Only the API has limits (api/__init__.py); every page is spared the limiter's bookkeeping.
    return (request.blueprint or "").partition(".")[0] != "api"
