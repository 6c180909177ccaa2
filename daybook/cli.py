"""The `daybook` command line: database, users, trash, backups, export, import and the worker."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from daybook.config import ConfigError
from daybook.database import write_intent
from daybook.errors import NotFound, ValidationError


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _user(username: str):
    from daybook.services import users

    user = users.find_user(username)
    if user is None:
        _fail(f"No user named {username!r}.")
    return user


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{field}: {message}" for field, message in exc.fields.items())


@click.group("user")
def user_group() -> None:
    """Manage accounts."""
    write_intent.set(True)


@user_group.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
@with_appcontext
def user_create(username: str, email: str, password: str, admin: bool) -> None:
    """Create an account (the first one is always an admin)."""
    from daybook.services import users

    first = users.count_users() == 0
    try:
        user = users.create_user(
            username=username, email=email, password=password, is_admin=admin or first
        )
    except ValidationError as exc:
        _fail(_validation_message(exc))
    click.echo(f"Created {'admin ' if user.is_admin else ''}user {user.username} <{user.email}>.")


@user_group.command("list")
@with_appcontext
def user_list() -> None:
    """List accounts."""
    from daybook.services import users

    for user in users.list_users():
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.id}\t{user.username}\t{user.email}\t{role}\t{user.created_at:%Y-%m-%d}")


@user_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def user_set_password(username: str, password: str) -> None:
    """Set a user's password; every login they had ends."""
    from daybook.services import users

    user = _user(username)
    try:
        users.set_password(user, password)
    except ValidationError as exc:
        _fail(_validation_message(exc))
    click.echo(f"Password changed for {user.username}; their sessions were ended.")


@user_group.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def user_delete(username: str, yes: bool) -> None:
    """Delete a user and all their entries."""
    from daybook.services import users

    user = _user(username)
    if not yes:
        click.confirm(f"Delete {user.username} and all their entries?", abort=True)
    name = user.username
    users.delete_user(user)
    click.echo(f"Deleted user {name}.")


@user_group.command("invite")
@click.argument("username")
@with_appcontext
def user_invite(username: str) -> None:
    """Make a one-time registration link as the admin USERNAME."""
    from daybook.services import auth

    try:
        token = auth.create_invite(_user(username))
    except NotFound as exc:
        _fail(str(exc))
    click.echo(f"/register?invite={token}")


@click.group("trash")
def trash_group() -> None:
    """Manage the trash."""
    write_intent.set(True)


@trash_group.command("purge")
@click.option("--days", type=int, default=None, help="Purge entries trashed longer ago than this.")
@click.option("--queue", "queued", is_flag=True, help="Leave it to a worker, as a job.")
@with_appcontext
def trash_purge(days: int | None, queued: bool) -> None:
    """Delete entries that have been in the trash longer than DAYBOOK_TRASH_DAYS."""
    from daybook.services import entries

    if queued:
        _enqueue("trash_purge", {} if days is None else {"days": days})
        return
    keep = current_app.config["DAYBOOK"].trash_days if days is None else days
    count = entries.purge_expired_trash(keep)
    click.echo(f"Purged {count} entr{'y' if count == 1 else 'ies'} from the trash.")


@click.group("search")
def search_group() -> None:
    """Maintain the search index."""
    write_intent.set(True)


@search_group.command("reindex")
@click.option("--queue", "queued", is_flag=True, help="Leave it to a worker, as a job.")
@with_appcontext
def search_reindex(queued: bool) -> None:
    """Rebuild the search index from the entries."""
    from daybook.services import search

    if queued:
        _enqueue("search_reindex")
        return
    click.echo(f"Indexed {search.rebuild_index()} entries.")


def _enqueue(kind: str, params: dict | None = None) -> None:
    from daybook.jobs import enqueue
    from daybook.jobs.queue import QueueUnavailable

    try:
        job_id = enqueue(kind, params=params)
    except QueueUnavailable as exc:
        _fail(str(exc))
    click.echo(f"Queued job {job_id}; `daybook worker` runs it.")


@click.command("worker")
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=2,
    show_default=True,
    help="Jobs run at the same time, each in its own process.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=25.0,
    show_default=True,
    help="Seconds SIGTERM waits for running jobs before queueing them again.",
)
@click.option("--parent-pid", type=int, default=None, hidden=True)
@with_appcontext
def worker(workers: int, shutdown_timeout: float, parent_pid: int | None) -> None:
    """Run queued and scheduled jobs until stopped; SIGTERM lets running jobs finish."""
    from daybook.jobs.runner import WorkerError, run_worker

    try:
        run_worker(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            workers=workers,
            shutdown_timeout=shutdown_timeout,
            parent_pid=parent_pid,
        )
    except WorkerError as exc:
        _fail(str(exc))


@click.command("check")
@with_appcontext
def check() -> None:
    """Check the settings and the database, then print where things are."""
    settings = current_app.config["DAYBOOK"]
    click.echo(f"Data directory: {settings.data_dir}")
    click.echo(f"Database: {current_app.extensions['sqlalchemy'].engine.url.render_as_string()}")
    click.echo("Settings are valid.")


def register(app: Flask) -> None:
    """Add Daybook's commands to `flask --app daybook` and the `daybook` script."""
    for command in (user_group, trash_group, search_group, check, worker):
        app.cli.add_command(command)
    from daybook.backup_cli import register as register_backup

    register_backup(app)


def _create_app():
    from daybook import create_app

    return create_app()


cli = FlaskGroup(
    name="daybook",
    create_app=_create_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
    add_default_commands=False,
    help="Daybook, a self-hosted journal.",
)


def main() -> None:
    """Run the `daybook` console script; a bad setting ends it with one sentence."""
    try:
        cli.main(prog_name="daybook")
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
