"""The PostgreSQL side of backups: pg_dump in custom format, and a restore in one transaction.

The client programs run without a shell, with the password in PGPASSWORD (never in their
arguments, which any local user can list). A restore drops and recreates the database's schema
and replays pg_restore's output through psql inside one transaction, so that it either replaces
everything (tables a newer Daybook added included) or changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from daybook.services.backup_archive import BackupError

REQUIRED_TABLES = ("alembic_version", "entry")
# A restore waits this long for the locks it needs; a server still running holds them.
LOCK_TIMEOUT = "10s"
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ", re.M)


@dataclass(frozen=True)
class Server:
    """How the client programs reach the database: a libpq URI and their environment."""

    conninfo: str
    env: dict[str, str]
    shown: str


def server(database_url: str) -> Server:
    """Return how pg_dump, pg_restore and psql reach the database of `database_url`."""
    url = make_url(database_url)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    # URL.set(password=None) would keep the password: build the URL again without it.
    bare = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return Server(
        bare.render_as_string(hide_password=False), env, url.render_as_string(hide_password=True)
    )


def program(name: str) -> str:
    """Return the path of the PostgreSQL client program `name`.

    Raises: BackupError when it is not installed.
    """
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} was not found on the PATH; install the PostgreSQL client programs of your "
            "server's version (on Debian: apt install postgresql-client) to back up or restore."
        )
    return found


def _last_words(output: bytes | str) -> str:
    """Return the end of a client program's error output, without a closing full stop."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[-2:]).rstrip(".") if lines else "no message"


def _reason(exc: SQLAlchemyError) -> str:
    return _last_words(str(getattr(exc, "orig", None) or exc))


def _run(args: list[str], env: dict[str, str], what: str) -> bytes:
    result = subprocess.run(  # noqa: S603 (a program found by `program`, no shell)
        args, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {_last_words(result.stderr)}.")
    return result.stdout


def in_use(engine: Engine) -> bool:
    """Tell whether any table of the database's schema (but alembic_version) holds a row.

    Raises: BackupError when the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            tables = conn.scalars(
                sa.text(
                    "SELECT quote_ident(tablename) FROM pg_tables "
                    "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                )
            ).all()
            return any(
                conn.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {table})"))  # noqa: S608
                for table in tables
            )
    except SQLAlchemyError as exc:
        raise BackupError(f"Cannot read the database: {_reason(exc)}.") from None


def dump(engine: Engine, database_url: str, target: Path) -> str:
    """Write the database to `target` with pg_dump (custom format); return its schema revision.

    pg_dump reads the snapshot of a transaction of ours, so the revision read in that
    transaction is the one the dump holds, however busy the server is.

    Raises: BackupError.
    """
    pg_dump = program("pg_dump")
    where = server(database_url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
                revisions = conn.scalars(sa.text("SELECT version_num FROM alembic_version")).all()
                args = [
                    pg_dump,
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={where.conninfo}",
                ]
                _run(args, where.env, "pg_dump")
    except SQLAlchemyError as exc:
        raise BackupError(
            f"Cannot back up the database at {where.shown}: {_reason(exc)}."
        ) from None
    if len(revisions) != 1:
        raise BackupError(f"The database at {where.shown} does not record one schema revision.")
    os.chmod(target, 0o600)
    return revisions[0]


def check_dump(path: Path, shown: str) -> str:
    """Check that `path` is a pg_dump archive of a Daybook database; return its schema revision.

    Raises: BackupError saying what is wrong with it.
    """
    pg_restore = program("pg_restore")
    env = dict(os.environ)
    listing = _run([pg_restore, "--list", str(path)], env, f"Reading {shown}").decode()
    tables = {name for _schema, name in _TOC_TABLE.findall(listing)}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(
            f"{shown} is not a Daybook database: it has no {' or '.join(missing)} table."
        )
    data = _run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(path)],
        env,
        f"Reading {shown}",
    ).decode()
    revisions = _copied_rows(data)
    if len(revisions) != 1 or not revisions[0]:
        raise BackupError(f"{shown} does not record one schema revision; it cannot be restored.")
    return revisions[0]


def _copied_rows(script: str) -> list[str]:
    rows, copying = [], False
    for line in script.splitlines():
        if copying:
            if line == "\\.":
                break
            rows.append(line)
        elif line.startswith("COPY ") and line.endswith("FROM stdin;"):
            copying = True
    return rows


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _schema(engine: Engine) -> tuple[str, list[str]]:
    """Return the name of the database's schema and the statements that recreate it empty."""
    with engine.connect() as conn:
        name = conn.scalar(sa.text("SELECT coalesce(current_schema(), 'public')"))
        quoted = _quoted(name)
        owner = conn.scalar(
            sa.text(
                "SELECT coalesce((SELECT nspowner::regrole::text FROM pg_namespace "
                "WHERE nspname = :name), quote_ident(current_user))"
            ),
            {"name": name},
        )
        # Who else may use it (PUBLIC, by default, on `public`), granted again as it was.
        grants = conn.execute(
            sa.text(
                "SELECT coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC'), a.privilege_type "
                "FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE n.nspname = :name AND a.grantee <> n.nspowner"
            ),
            {"name": name},
        ).all()
    statements = [
        f"DROP SCHEMA IF EXISTS {quoted} CASCADE",
        f"CREATE SCHEMA {quoted} AUTHORIZATION {owner}",
    ]
    statements += [
        f"GRANT {privilege} ON SCHEMA {quoted} TO {grantee}" for grantee, privilege in grants
    ]
    return name, statements


def restore(engine: Engine, database_url: str, path: Path) -> None:
    """Replace the database's schema with the dump at `path`, all in one transaction.

    The caller closes the application's connections first.

    Raises: BackupError, with the database as it was.
    """
    pg_restore, psql = program("pg_restore"), program("psql")
    where = server(database_url)
    try:
        schema, statements = _schema(engine)
    except SQLAlchemyError as exc:
        raise BackupError(f"Cannot read the database: {_reason(exc)}.") from None
    finally:
        engine.dispose()
    # The schema is made here, owned as before; pg_restore would only sometimes make it (never
    # `public`), so its entry is left out of the list of what pg_restore replays.
    listing = _run([pg_restore, "--list", str(path)], where.env, "pg_restore").decode()
    entry = re.compile(rf"^(\d+; \d+ \d+ SCHEMA - {re.escape(schema)} )", re.M)
    contents = path.with_name(f"{path.name}.list")
    contents.write_text(entry.sub(r";\1", listing))
    # Everything in the schema goes, whatever made it: tables of a newer Daybook would otherwise
    # be left behind, in the way of the migrations run after the restore.
    preamble = "".join(
        f"{statement};\n"
        for statement in [
            "BEGIN",
            "SET client_min_messages = warning",
            f"SET lock_timeout = '{LOCK_TIMEOUT}'",
            *statements,
        ]
    )
    script = [pg_restore, "--no-owner", "--no-privileges", f"--use-list={contents}", "--file=-"]
    _replay([*script, str(path)], psql, where, preamble)


def _replay(pg_restore: list[str], psql: str, where: Server, preamble: str) -> None:
    """Pipe pg_restore's script into psql between our BEGIN and COMMIT.

    COMMIT is sent only once pg_restore has succeeded. Otherwise psql is stopped inside the
    transaction (also when we are interrupted), and the server rolls it back.
    """
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        producer = subprocess.Popen(  # noqa: S603 (a program found by `program`, no shell)
            pg_restore,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=restore_err,
            env=where.env,
        )
        consumer = subprocess.Popen(  # noqa: S603 (a program found by `program`, no shell)
            [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={where.conninfo}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=where.env,
        )
        source, sink = producer.stdout, consumer.stdin
        assert source is not None and sink is not None  # noqa: S101 (both are pipes)
        committed = False
        try:
            with contextlib.suppress(BrokenPipeError):  # psql stopped at an error: see below
                sink.write(preamble.encode())
                while chunk := source.read(1024 * 1024):
                    sink.write(chunk)
                if producer.wait() == 0:
                    sink.write(b"COMMIT;\n")
                    sink.close()
                    committed = True
        finally:
            if not committed:
                consumer.kill()
            producer.kill()
            for process in (producer, consumer):
                process.wait()
            source.close()
            with contextlib.suppress(BrokenPipeError):
                sink.close()
        if committed and consumer.returncode == 0:
            return
        psql_failed = consumer.returncode not in (0, -signal.SIGKILL)
        output = psql_err if psql_failed else restore_err
        output.seek(0)
        raise BackupError(
            "The restore failed and the database was left as it was "
            f"({'psql' if psql_failed else 'pg_restore'}: {_last_words(output.read())})."
        )
