"""gunicorn settings for Daybook, read from the same DAYBOOK_* variables as the app."""

import sys

from daybook.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:  # one sentence and a non-zero exit, never a traceback
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(2)

wsgi_app = "daybook:create_app()"
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 30
keepalive = 5
# The app logs each request itself, with its request id and user.
accesslog = None
errorlog = "-"
loglevel = "warning"
preload_app = False


def when_ready(server):
    host = "localhost" if _settings.host in ("127.0.0.1", "0.0.0.0", "::") else _settings.host  # noqa: S104
    print(f"Daybook is running at http://{host}:{_settings.port}/  (Ctrl+C stops it)", flush=True)
