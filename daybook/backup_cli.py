"""CLI commands for backup, restore, export and import."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from daybook.database import write_intent
from daybook.errors import ValidationError
from daybook.services.backup import DEFAULT_KEEP, BackupError

SHOWN_PROBLEMS = 10


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """Open this command's transactions with BEGIN IMMEDIATE, and stop doing so afterwards.

    Resetting matters where commands run inside a longer-lived context (the test runner).
    """
    token = write_intent.set(True)
    try:
        yield
    finally:
        write_intent.reset(token)


def _user(username: str):
    from daybook.services import users

    user = users.find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    return user


def _passphrase(file: Path | None, *, new: bool) -> str:
    """Return the passphrase from `file`, else DAYBOOK_BACKUP_PASSPHRASE, else ask for it."""
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"Cannot read the passphrase from {file}: {exc}.") from None
        if not lines or not lines[0].strip():
            raise click.ClickException(f"{file} is empty; put the passphrase on its first line.")
        return lines[0].strip()
    configured = current_app.config["DAYBOOK"].backup_passphrase
    if configured:
        return configured
    try:
        answer = click.prompt(
            "New passphrase for the backup" if new else "Passphrase of the backup",
            hide_input=True,
            confirmation_prompt=new,
        )
    except click.Abort:
        raise click.ClickException(
            "No passphrase was given; type it, or use --passphrase-file or "
            "DAYBOOK_BACKUP_PASSPHRASE."
        ) from None
    return answer.strip()


_PASSPHRASE_FILE = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase from the first line of this file.",
)


@click.command("backup")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the backup (default: DAYBOOK_BACKUP_DIR, or <data dir>/backups).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=DEFAULT_KEEP,
    show_default=True,
    help="How many backups to keep in that directory; older ones are deleted.",
)
@click.option(
    "--encrypt/--no-encrypt",
    default=None,
    help="Encrypt with a passphrase (default: only with --passphrase-file or "
    "DAYBOOK_BACKUP_PASSPHRASE).",
)
@_PASSPHRASE_FILE
@with_appcontext
def backup_command(
    dest: Path | None, keep: int, encrypt: bool | None, passphrase_file: Path | None
) -> None:
    """Write the database and data files to a checked, timestamped archive; safe while it runs."""
    from daybook.services import backup

    if encrypt is False and passphrase_file is not None:
        raise click.UsageError("--passphrase-file encrypts the backup; drop it or --no-encrypt.")
    if encrypt is None:
        encrypt = passphrase_file is not None or bool(
            current_app.config["DAYBOOK"].backup_passphrase
        )
    passphrase = _passphrase(passphrase_file, new=True) if encrypt else None
    try:
        result = backup.create_backup(dest, keep=keep, passphrase=passphrase)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for old in result.removed:
        click.echo(f"Removed old backup {old}", err=True)
    click.echo(str(result.path))


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing database (it is kept).")
@_PASSPHRASE_FILE
@with_appcontext
def restore_command(file: Path, force: bool, passphrase_file: Path | None) -> None:
    """Replace the database and data files with the backup FILE. Stop the server first."""
    from daybook.services import backup, backup_restore

    try:
        encrypted = file.is_file() and backup.is_encrypted(file)
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}.") from None
    if encrypted:
        passphrase = _passphrase(passphrase_file, new=False)
    else:  # still encrypts the copy of a replaced PostgreSQL database, like any other backup
        passphrase = current_app.config["DAYBOOK"].backup_passphrase or None
    try:
        with _writing():
            result = backup_restore.restore_backup(file, force=force, passphrase=passphrase)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {file} into {result.database}.")
    if result.replaced:
        click.echo(f"The database it replaced is kept as {result.replaced}.")
    if result.revision_before != result.revision_after:
        click.echo(f"Upgraded its schema from {result.revision_before} to {result.revision_after}.")
    if result.reindexed:
        click.echo("Rebuilt the search index.")
    if result.files:
        s = "" if result.files == 1 else "s"
        click.echo(f"Put back {result.files} file{s} into the data directory.")


def _default_output(username: str, suffix: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path, n = Path(f"daybook-{username}-{stamp}{suffix}"), 1
    while path.exists():
        n += 1
        path = Path(f"daybook-{username}-{stamp}-{n}{suffix}")
    return path.resolve()


def _write_atomically(path: Path, binary: bool, write: Callable[[IO[Any]], int]) -> int:
    """Write through a temporary file beside `path` and rename it, so no half file is left."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with (
            os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        ) as out:
            count = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return count


@click.command("export")
@click.option("--user", "username", required=True, help="Whose journal to export.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown"]),
    default="json",
    show_default=True,
    help="json (for import and other tools) or markdown (a zip of .md files).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: daybook-<user>-<time>.json or .zip here).",
)
@with_appcontext
def export_command(username: str, fmt: str, output: Path | None) -> None:
    """Write all of a user's entries, trash included, to a file."""
    from daybook.services import export

    user = _user(username)
    suffix = ".json" if fmt == "json" else ".zip"
    path = output.expanduser().resolve() if output else _default_output(user.username, suffix)
    writer = export.export_json if fmt == "json" else export.export_markdown
    try:
        count = _write_atomically(path, fmt != "json", lambda out: writer(user, out))
    except OSError as exc:
        raise click.ClickException(f"Cannot write {path}: {exc.strerror or exc}.") from None
    click.echo(f"Exported {count} entr{'y' if count == 1 else 'ies'} to {path}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "username", required=True, help="Whose journal to add the entries to.")
@with_appcontext
def import_command(file: Path, username: str) -> None:
    """Import a JSON export FILE into a user's journal, all or nothing."""
    from daybook.services import export

    try:
        with _writing():
            user = _user(username)
            result = export.import_json(user, file.read_bytes())
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}.") from None
    except ValidationError as exc:
        problems = [f"  {field}: {message}" for field, message in exc.fields.items()]
        if len(problems) > SHOWN_PROBLEMS:
            problems = [
                *problems[:SHOWN_PROBLEMS],
                f"  … and {len(problems) - SHOWN_PROBLEMS} more",
            ]
        raise click.ClickException(
            f"{file} was not imported; nothing was written:\n" + "\n".join(problems)
        ) from None
    click.echo(
        f"Imported {result.created} entr{'y' if result.created == 1 else 'ies'} into "
        f"{user.username}'s journal; skipped {result.skipped} already there."
    )


def register(app: Flask) -> None:
    """Add backup, restore, export and import commands."""
    for command in (backup_command, restore_command, export_command, import_command):
        app.cli.add_command(command)
