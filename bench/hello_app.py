"""The baseline: a bare Flask app answering "hello", served by gunicorn with Daybook's settings.

bench/run.py starts it as `gunicorn --config gunicorn.conf.py --pythonpath bench hello_app:app`,
so it gets the same worker class, threads, worker count, keep-alive and timeouts as Daybook.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
