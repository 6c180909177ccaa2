"""`python -m tests.jobs.napping_worker [--workers N] [--shutdown-timeout S]`: the real worker,
with two job kinds added for tests that need a job which takes its time.

`nap` sleeps for `params["seconds"]` within a 60 s limit; `short_nap` has a 1 s limit. The
test process registers the same kinds (`add_naps`) on the app it enqueues from.
"""

from __future__ import annotations

import time

import click

from daybook import create_app
from daybook.jobs.queue import JobKind, register_kind
from daybook.jobs.runner import run_worker
from daybook.models import Job


def nap(job: Job) -> dict:
    """Sleep as long as the job asks."""
    seconds = float(job.params["seconds"])
    time.sleep(seconds)
    return {"slept": seconds}


NAP = JobKind("nap", "Nap", nap, timeout=60, retries=0)
SHORT_NAP = JobKind("short_nap", "Nap with a short time limit", nap, timeout=1, retries=0)


def add_naps(app) -> None:
    """Register the nap kinds on `app`."""
    register_kind(app, NAP)
    register_kind(app, SHORT_NAP)


@click.command()
@click.option("--workers", type=int, default=1)
@click.option("--shutdown-timeout", type=float, default=25.0)
def main(workers: int, shutdown_timeout: float) -> None:
    app = create_app()
    add_naps(app)
    run_worker(app, workers=workers, shutdown_timeout=shutdown_timeout)


if __name__ == "__main__":
    main()
