"""Prometheus metrics at /metrics: requests by endpoint, and totals read at scrape time.

Request metrics live in the process (one set per gunicorn worker, summed across workers through
prometheus-client's multiprocess directory when PROMETHEUS_MULTIPROC_DIR is set; gunicorn.conf.py
sets it). Entry, user and job figures are read from the database when Prometheus scrapes, so they
are the same whichever process answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from daybook.bearer import sent_bearer
from daybook.extensions import db
from daybook.models import Entry, Job, User, utcnow
from daybook.models.job import JOB_STATES
from daybook.request_log import log

# `*_created` series double the output and say nothing an operator needs here.
disable_created_metrics()

# Module level: a process creates each metric once, however many apps it builds (tests build
# many). The labels are bounded: endpoint names come from the URL map, never from the raw path.
REQUESTS = Counter(
    "daybook_http_requests",
    "HTTP requests answered, by Flask endpoint and status.",
    ["endpoint", "status"],
)
LATENCY = Histogram(
    "daybook_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
# Job run times cover the jobs finished this long ago or less: what the workers do now.
JOB_WINDOW = timedelta(hours=24)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    rule = request.url_rule
    endpoint = rule.endpoint if rule is not None else "none"
    REQUESTS.labels(endpoint, str(response.status_code)).inc()
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    return response


def _job_seconds(dialect: str) -> sa.ColumnElement[float]:
    if dialect == "postgresql":
        return sa.extract("epoch", Job.finished_at - Job.started_at)
    return (sa.func.julianday(Job.finished_at) - sa.func.julianday(Job.started_at)) * 86400.0


def _job_durations() -> Iterator[tuple[str, list[tuple[str, int]], float]]:
    """Yield each kind's recently finished jobs as cumulative bucket counts and total seconds."""
    seconds = _job_seconds(db.engine.dialect.name)
    over = [sa.func.sum(sa.case((seconds <= bound, 1), else_=0)) for bound in JOB_BUCKETS]
    rows = db.session.execute(
        sa.select(Job.kind, sa.func.count(), sa.func.sum(seconds), *over)
        .where(Job.state.in_(("done", "failed")), Job.started_at.is_not(None))
        .where(Job.finished_at >= utcnow() - JOB_WINDOW)
        .group_by(Job.kind)
    ).all()
    for kind, count, total, *within in rows:
        buckets = [(str(float(b)), int(n or 0)) for b, n in zip(JOB_BUCKETS, within, strict=True)]
        yield kind, [*buckets, ("+Inf", int(count))], float(total or 0)


class DatabaseCollector:
    """Count users, entries and jobs when Prometheus scrapes, with a few aggregate queries."""

    def collect(self) -> Iterator[Metric]:
        try:
            users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
            # Two plain counts: a GROUP BY on `deleted_at IS NULL` sorts, and is several times slower.
            entries_all = db.session.scalar(sa.select(sa.func.count()).select_from(Entry)) or 0
            trashed = db.session.scalar(
                sa.select(sa.func.count()).select_from(Entry).where(Entry.deleted_at.is_not(None))
            )
            job_rows = db.session.execute(
                sa.select(Job.state, sa.func.count()).group_by(Job.state)
            ).all()
            durations = list(_job_durations())
        except SQLAlchemyError as exc:
            log().warning("metrics_database_unavailable", error=type(exc).__name__)
            return
        finally:
            db.session.rollback()
        yield GaugeMetricFamily("daybook_users", "Accounts.", value=users or 0)
        entries = GaugeMetricFamily(
            "daybook_entries", "Entries, live or in the trash.", labels=["state"]
        )
        entries.add_metric(["live"], entries_all - (trashed or 0))
        entries.add_metric(["trashed"], trashed or 0)
        yield entries
        jobs = GaugeMetricFamily("daybook_jobs", "Jobs in the table, by state.", labels=["state"])
        by_state = dict(job_rows)
        for state in JOB_STATES:
            jobs.add_metric([state], by_state.get(state, 0))
        yield jobs
        # A gauge histogram: the window moves on, so the counts fall as well as rise.
        duration = GaugeHistogramMetricFamily(
            "daybook_job_duration_seconds",
            "Run time of the jobs finished (done or failed) in the last 24 hours, by kind.",
            labels=["kind"],
        )
        for kind, buckets, total in durations:
            duration.add_metric([kind], buckets, gsum_value=total)
        yield duration


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _from_loopback() -> bool:
    """Tell whether the client, and every hop that passed the request on, is this machine.

    ProxyFix has already replaced REMOTE_ADDR with the forwarded client; the peer that actually
    connected is kept in `werkzeug.proxy_fix.orig`. Without ProxyFix, a forwarded request from
    a proxy on this machine would look local, so any X-Forwarded-For makes it not local.
    """
    original = request.environ.get("werkzeug.proxy_fix.orig")
    if original is None and "X-Forwarded-For" in request.headers:
        return False
    peer = original["REMOTE_ADDR"] if original else request.remote_addr
    return _is_loopback(peer) and _is_loopback(request.remote_addr)


def _has_token(expected: str) -> bool:
    sent = sent_bearer()
    if not expected or sent is None:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Under gunicorn: every worker's request metrics, summed, from their shared files.
        MultiProcessCollector(registry, path=directory)
    else:
        # One process: its own metrics (requests, and the process and Python collectors).
        registry.register(REGISTRY)
    registry.register(DatabaseCollector())
    return registry


def metrics() -> Response:
    """Serve the metrics to loopback clients and to holders of the metrics token."""
    if not (_from_loopback() or _has_token(current_app.config["DAYBOOK"].metrics_token)):
        abort(403)
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(current_app.extensions["daybook_metrics"])
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def register(app: Flask) -> None:
    """With DAYBOOK_METRICS=1, time every request and serve /metrics; otherwise do nothing."""
    if not app.config["DAYBOOK"].metrics:
        return
    app.extensions["daybook_metrics"] = _registry()
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
