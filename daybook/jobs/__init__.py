"""Background jobs on Huey: a queue per app, job functions that take ids, and the worker.

`queue` builds the app's Huey and enqueues; `tasks` says what each job does and when the
scheduled ones run; `runner` runs a job with its state recorded, and runs the worker;
`records` keeps the `job` rows; `exports` writes and finds the exports users download.
"""

from daybook.jobs.queue import enqueue, get_huey, init_app

__all__ = ["enqueue", "get_huey", "init_app"]
