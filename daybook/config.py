"""Settings: defaults, then DAYBOOK_* environment variables, validated once at start."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "DAYBOOK_"
REGISTRATION_MODES = ("closed", "open", "invite")
BACKUP_SCHEDULES = ("", "hourly", "daily", "weekly")

# Every setting Daybook reads from the environment, with its default (None: computed) and a
# one-line description. docs/configuration.md documents each key; a test holds them in step.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "DATA_DIR": ("./instance", "Directory for the database, secret key, backups and jobs."),
    "DATABASE_URL": (None, "SQLAlchemy URL; SQLite in the data directory when unset."),
    "SECRET_KEY": (None, "Signs cookies; generated once into the data directory when unset."),
    "HOST": ("127.0.0.1", "Address gunicorn binds to."),
    "PORT": ("8000", "Port gunicorn binds to."),
    "WORKERS": ("2", "Number of gunicorn worker processes."),
    "REGISTRATION": ("closed", "Who may create an account: closed, open or invite."),
    "HTTPS": ("0", "Set to 1 when served over HTTPS: Secure cookies and HSTS."),
    "LOG_LEVEL": ("INFO", "Minimum level of log lines written to stdout."),
    "LOG_FORMAT": ("text", "Log lines as key=value text or one JSON object per line."),
    "TRASH_DAYS": ("30", "Days an entry stays in the trash before it is purged."),
    "MAX_UPLOAD_MB": ("4", "Largest request body accepted, in megabytes."),
    "BACKUP_DIR": (None, "Where `daybook backup` writes; `<data dir>/backups` when unset."),
    "PROXY_COUNT": ("0", "How many reverse proxies in front set X-Forwarded-* headers."),
    "CORS_ORIGINS": ("", "Other origins (comma-separated) whose pages may call the API."),
    "API_RATE_LIMIT": ("300/minute", "Requests allowed per token and per client address."),
    "REDIS_URL": ("", "Redis for sessions, rate limits and the job queue; embedded when unset."),
    "BACKUP_SCHEDULE": (
        "",
        "When the worker takes a backup: hourly, daily or weekly; off when unset.",
    ),
    "BACKUP_KEEP": ("14", "How many scheduled backups to keep; older ones are deleted."),
    "BACKUP_PASSPHRASE": ("", "When set, backups are encrypted with this passphrase."),
    "EMBEDDED_WORKER": (
        "1",
        "Without Redis, gunicorn also runs a job worker; 0 when you run `daybook worker` yourself.",
    ),
    "METRICS": ("0", "Set to 1 to serve Prometheus metrics at /metrics."),
    "METRICS_TOKEN": ("", "Bearer token that may read /metrics from other than loopback."),
}


class ConfigError(click.ClickException):
    """A setting is missing, malformed or unusable; the message is one sentence for the user.

    A ClickException, so that `flask --app daybook …` prints it as one line too.
    """

    exit_code = 2


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    host: str
    port: int
    workers: int
    registration: str
    https: bool
    log_level: str
    trash_days: int
    max_upload_mb: int
    backup_dir: Path
    proxy_count: int = 0
    cors_origins: tuple[str, ...] = ()
    api_rate_limit: str = "300/minute"
    log_format: str = "text"
    redis_url: str = ""
    backup_schedule: str = ""
    backup_keep: int = 14
    backup_passphrase: str = field(default="", repr=False)
    embedded_worker: bool = True
    metrics: bool = False
    metrics_token: str = ""

    def flask_config(self) -> dict[str, Any]:
        """Return the Flask config keys these settings imply."""
        return {
            "DAYBOOK": self,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "MAX_CONTENT_LENGTH": self.max_upload_mb * 1024 * 1024,
            "SESSION_COOKIE_SECURE": self.https,
            "REMEMBER_COOKIE_SECURE": self.https,
            "PREFERRED_URL_SCHEME": "https" if self.https else "http",
        }


def _env(name: str, environ: dict[str, str]) -> str | None:
    value = environ.get(ENV_PREFIX + name)
    if value is None or value.strip() == "":
        return SETTINGS[name][0]
    return value.strip()


def _int(name: str, environ: dict[str, str], low: int, high: int) -> int:
    raw = _env(name, environ)
    try:
        value = int(raw or "")
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{ENV_PREFIX}{name} must be between {low} and {high}, not {value}.")
    return value


def _bool(name: str, environ: dict[str, str]) -> bool:
    raw = (_env(name, environ) or "").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name} must be 1 or 0, not {raw!r}.")


def _writable_dir(path: Path, name: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{ENV_PREFIX}{name} {str(path)!r} cannot be created: {exc.strerror}."
        ) from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{ENV_PREFIX}{name} {str(path)!r} is not a writable directory.")
    return path


def _database_url(environ: dict[str, str], data_dir: Path) -> str:
    raw = _env("DATABASE_URL", environ)
    if raw is None:
        return f"sqlite:///{data_dir / 'daybook.sqlite3'}"
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{ENV_PREFIX}DATABASE_URL {raw!r} is not a database URL.") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"{ENV_PREFIX}DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL, not {raw!r}."
        )
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise ConfigError(
                f"{ENV_PREFIX}DATABASE_URL points into {str(parent)!r}, which is not writable."
            )
    return raw


def _secret_key(environ: dict[str, str], data_dir: Path) -> str:
    given = _env("SECRET_KEY", environ)
    if given:
        if len(given) < 16:
            raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be at least 16 characters long.")
        return given
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        _write_new_key(key_file)
    key = key_file.read_text().strip()
    if not key:
        raise ConfigError(
            f"The secret key file {str(key_file)!r} is empty; delete it to make a new one."
        )
    return key


def _write_new_key(key_file: Path) -> None:
    # gunicorn's workers and the job worker start at once on a new data directory. The key is
    # written aside and linked into place, so each sees no file or a whole one (never a file
    # created but not yet written), and the first link wins: all of them read the same key.
    fd, aside = tempfile.mkstemp(dir=key_file.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(aside, key_file)
        except FileExistsError:
            pass
    finally:
        os.unlink(aside)


def load_settings(
    environ: dict[str, str] | None = None, overrides: dict[str, str] | None = None
) -> Settings:
    """Read and validate every DAYBOOK_* setting.

    Raises: ConfigError with one sentence naming the bad setting.
    """
    if environ is None:
        # An optional .env in the working directory fills in what the real environment lacks.
        environ = {**dotenv_values(".env"), **os.environ}
    environ = {k: v for k, v in {**environ, **(overrides or {})}.items() if v is not None}
    data_dir = _writable_dir(
        Path(_env("DATA_DIR", environ) or ".").expanduser().resolve(), "DATA_DIR"
    )
    registration = (_env("REGISTRATION", environ) or "").lower()
    if registration not in REGISTRATION_MODES:
        raise ConfigError(
            f"{ENV_PREFIX}REGISTRATION must be one of {', '.join(REGISTRATION_MODES)}, not {registration!r}."
        )
    log_level = (_env("LOG_LEVEL", environ) or "").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"{ENV_PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}."
        )
    backup_raw = _env("BACKUP_DIR", environ)
    backup_dir = Path(backup_raw).expanduser().resolve() if backup_raw else data_dir / "backups"
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(environ, data_dir),
        secret_key=_secret_key(environ, data_dir),
        host=_env("HOST", environ) or "127.0.0.1",
        port=_int("PORT", environ, 1, 65535),
        workers=_int("WORKERS", environ, 1, 64),
        registration=registration,
        https=_bool("HTTPS", environ),
        log_level=log_level,
        trash_days=_int("TRASH_DAYS", environ, 1, 3650),
        max_upload_mb=_int("MAX_UPLOAD_MB", environ, 2, 1024),
        backup_dir=backup_dir,
        proxy_count=_int("PROXY_COUNT", environ, 0, 10),
        cors_origins=_origins(environ),
        api_rate_limit=_rate_limit(environ),
        log_format=_choice("LOG_FORMAT", environ, ("text", "json")),
        redis_url=_redis_url(environ),
        backup_schedule=_choice("BACKUP_SCHEDULE", environ, BACKUP_SCHEDULES),
        backup_keep=_int("BACKUP_KEEP", environ, 1, 10000),
        backup_passphrase=_env("BACKUP_PASSPHRASE", environ) or "",
        embedded_worker=_bool("EMBEDDED_WORKER", environ),
        metrics=_bool("METRICS", environ),
        metrics_token=_metrics_token(environ),
    )


def _choice(name: str, environ: dict[str, str], choices: tuple[str, ...]) -> str:
    value = (_env(name, environ) or "").lower()
    if value not in choices:
        raise ConfigError(
            f"{ENV_PREFIX}{name} must be one of {', '.join(c for c in choices if c)}, not {value!r}."
        )
    return value


def _origins(environ: dict[str, str]) -> tuple[str, ...]:
    origins = tuple(
        o.strip().rstrip("/") for o in (_env("CORS_ORIGINS", environ) or "").split(",") if o.strip()
    )
    for origin in origins:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
            raise ConfigError(
                f"{ENV_PREFIX}CORS_ORIGINS holds {origin!r}, which is not an origin like https://example.com."
            )
    return origins


def _rate_limit(environ: dict[str, str]) -> str:
    from limits import parse_many

    raw = _env("API_RATE_LIMIT", environ) or ""
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}API_RATE_LIMIT {raw!r} is not a rate like 300/minute."
        ) from None
    return raw


def _redis_url(environ: dict[str, str]) -> str:
    raw = _env("REDIS_URL", environ) or ""
    if raw and not re.fullmatch(r"(redis|rediss|unix)://\S+", raw):
        raise ConfigError(f"{ENV_PREFIX}REDIS_URL must be a redis://host:port/db URL, not {raw!r}.")
    return raw


def _metrics_token(environ: dict[str, str]) -> str:
    token = _env("METRICS_TOKEN", environ) or ""
    if token and len(token) < 16:
        raise ConfigError(f"{ENV_PREFIX}METRICS_TOKEN must be at least 16 characters long.")
    return token
