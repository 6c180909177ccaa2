"""`daybook user …`: create, list, set-password, delete and invite on the command line."""

from __future__ import annotations

import contextvars

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry, LoginSession, User
from daybook.services import auth, passwords, users
from tests.factories import PASSWORD, make_entry

GOOD = "a long enough secret"


@pytest.fixture
def run(app):
    """Run `daybook ARGS…` against the test app and return click's result."""
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        # In a copy of the context: the commands mark it as writing, which must not outlive them.
        result = contextvars.copy_context().run(runner.invoke, args=list(args), input=input)
        db.session.expire_all()
        return result

    return invoke


def assert_refused(result, message: str) -> None:
    """Check a command failed with a clear message and no traceback."""
    assert result.exit_code != 0, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def create_args(username: str = "carol", email: str = "carol@example.com", password: str = GOOD):
    return ("user", "create", "--username", username, "--email", email, "--password", password)


def test_create_first_user_is_admin(run):
    result = run(*create_args())
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Created admin user carol <carol@example.com>."
    carol = users.find_user("carol")
    assert carol.is_admin and passwords.verify_password(carol.password_hash, GOOD)
    assert carol.password_hash.startswith("$argon2id$")


def test_create_later_users_are_not_admins_unless_asked(run, user):
    assert run(*create_args()).output.strip() == "Created user carol <carol@example.com>."
    assert not users.find_user("carol").is_admin
    result = run(*create_args("dave", "dave@example.com"), "--admin")
    assert result.exit_code == 0, result.output
    assert users.find_user("dave").is_admin


def test_create_prompts_for_the_password(run):
    result = run(
        "user",
        "create",
        "--username",
        "carol",
        "--email",
        "carol@example.com",
        input=f"{GOOD}\n{GOOD}\n",
    )
    assert result.exit_code == 0, result.output
    assert GOOD not in result.output
    assert passwords.verify_password(users.find_user("carol").password_hash, GOOD)


def test_create_prompt_refuses_mismatched_repeat(run):
    result = run(
        "user",
        "create",
        "--username",
        "carol",
        "--email",
        "carol@example.com",
        input=f"{GOOD}\nsomething else\n",
    )
    assert result.exit_code != 0
    assert users.count_users() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (create_args(username="x"), "username: Use 3–32 characters"),
        (create_args(username="bad name"), "username: Use 3–32 characters"),
        (create_args(email="nope"), "email:"),
        (create_args(password="short"), "password: Use at least 10 characters."),
        (create_args(password="qwertyuiop"), "password: This password is too common"),
    ],
)
def test_create_bad_input(run, args, message):
    assert_refused(run(*args), message)
    assert users.count_users() == 0


def test_create_duplicate(run, user):
    assert_refused(run(*create_args(username="ALICE")), "username: This username is taken.")
    assert_refused(run(*create_args(email="Alice@Example.com")), "email: This email address is")
    assert users.count_users() == 1


def test_create_needs_username_and_email(run):
    result = run("user", "create", "--password", GOOD)
    assert result.exit_code == 2 and "Missing option '--username'" in result.output
    assert users.count_users() == 0


def test_list(run, user, other_user):
    result = run("user", "list")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert [line[1:4] for line in lines] == [
        ["alice", "alice@example.com", "admin"],
        ["bob", "bob@example.com", "user"],
    ]


def test_list_without_users(run):
    result = run("user", "list")
    assert result.exit_code == 0 and result.output == ""


def test_set_password_ends_logins(run, user):
    auth.start_login(user)
    result = run("user", "set-password", "alice", "--password", GOOD)
    assert result.exit_code == 0, result.output
    assert "Password changed for alice" in result.output
    assert passwords.verify_password(users.find_user("alice").password_hash, GOOD)
    assert db.session.scalar(sa.select(sa.func.count(LoginSession.id))) == 0


def test_set_password_prompts(run, user):
    result = run("user", "set-password", "ALICE", input=f"{GOOD}\n{GOOD}\n")
    assert result.exit_code == 0, result.output
    assert passwords.verify_password(users.find_user("alice").password_hash, GOOD)


def test_set_password_refuses_weak_password(run, user):
    assert_refused(
        run("user", "set-password", "alice", "--password", "short"),
        "new_password: Use at least 10 characters.",
    )
    assert passwords.verify_password(users.find_user("alice").password_hash, PASSWORD)


def test_set_password_for_missing_user(run, user):
    assert_refused(
        run("user", "set-password", "nobody", "--password", GOOD), "No user named 'nobody'."
    )


def test_delete_with_yes(run, user, other_user):
    make_entry(user, "Mine")
    kept = make_entry(other_user, "Theirs")
    result = run("user", "delete", "ALICE", "--yes")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Deleted user alice."
    assert users.find_user("alice") is None
    assert db.session.scalars(sa.select(Entry.id)).all() == [kept.id]


def test_delete_asks_first(run, user):
    result = run("user", "delete", "alice", input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert users.count_users() == 1
    result = run("user", "delete", "alice", input="y\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_delete_missing_user(run, user):
    assert_refused(run("user", "delete", "nobody", "--yes"), "No user named 'nobody'.")
    assert users.count_users() == 1


def test_invite(run, user):
    result = run("user", "invite", "alice")
    assert result.exit_code == 0, result.output
    token = result.output.strip().removeprefix("/register?invite=")
    assert token and auth.find_invite(token) is not None


def test_invite_needs_an_admin(run, user, other_user):
    assert_refused(run("user", "invite", "bob"), "Only admins can invite.")
    assert_refused(run("user", "invite", "nobody"), "No user named 'nobody'.")
