"""Settings: defaults, validation with one clear sentence, the secret key file, documentation."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from daybook.config import SETTINGS, ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults(tmp_path):
    settings = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path)})
    assert settings.data_dir == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / 'daybook.sqlite3'}"
    assert (settings.host, settings.port, settings.registration) == ("127.0.0.1", 8000, "closed")


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    first = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path)}).secret_key
    second = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_a_process_starting_while_another_writes_the_key_reads_a_whole_key(tmp_path, monkeypatch):
    # gunicorn's workers and the job worker start at once on a new data directory: here a
    # second one loads the settings while the first is in the middle of writing the new key.
    from daybook import config

    made = config.secrets.token_urlsafe
    meanwhile: list[str] = []

    def key_while_another_starts(length: int) -> str:
        if not meanwhile:
            meanwhile.append("")  # first: the second load writes a key through here too
            meanwhile[0] = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path)}).secret_key
        return made(length)

    monkeypatch.setattr(config.secrets, "token_urlsafe", key_while_another_starts)
    first = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path)}).secret_key
    assert first == meanwhile[0] and len(first) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_given_secret_key_wins(tmp_path):
    settings = load_settings({"DAYBOOK_DATA_DIR": str(tmp_path), "DAYBOOK_SECRET_KEY": "s" * 20})
    assert settings.secret_key == "s" * 20
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("DAYBOOK_REGISTRATION", "sometimes", "DAYBOOK_REGISTRATION must be one of"),
        ("DAYBOOK_PORT", "eighty", "DAYBOOK_PORT must be a whole number"),
        ("DAYBOOK_PORT", "70000", "DAYBOOK_PORT must be between"),
        ("DAYBOOK_DATABASE_URL", "not a url", "is not a database URL"),
        ("DAYBOOK_DATABASE_URL", "mysql://x@y/z", "must be a sqlite:// or postgresql"),
        ("DAYBOOK_SECRET_KEY", "short", "at least 16 characters"),
        ("DAYBOOK_HTTPS", "maybe", "DAYBOOK_HTTPS must be 1 or 0"),
        ("DAYBOOK_LOG_LEVEL", "LOUD", "DAYBOOK_LOG_LEVEL must be"),
        ("DAYBOOK_LOG_FORMAT", "xml", "DAYBOOK_LOG_FORMAT must be one of text, json"),
    ],
)
def test_invalid_settings_name_the_setting(tmp_path, key, value, phrase):
    with pytest.raises(ConfigError, match=re.escape(phrase)):
        load_settings({"DAYBOOK_DATA_DIR": str(tmp_path), key: value})


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="DAYBOOK_DATA_DIR"):
        load_settings({"DAYBOOK_DATA_DIR": str(blocker / "sub")})


def test_dotenv_fills_in_missing_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"DAYBOOK_DATA_DIR={tmp_path / 'd'}\nDAYBOOK_PORT=9123\n")
    monkeypatch.setenv("DAYBOOK_PORT", "9124")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "d"
    assert settings.port == 9124  # the real environment wins over .env


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `DAYBOOK_([A-Z_]+)`", doc, re.M))
    assert set(SETTINGS) <= documented, f"undocumented: {sorted(set(SETTINGS) - documented)}"


def test_every_setting_read_in_code_is_declared():
    source = "\n".join(p.read_text() for p in (ROOT / "daybook").rglob("*.py"))
    used = set(re.findall(r'_(?:env|int|bool)\("([A-Z_]+)"', source))
    assert used <= set(SETTINGS), f"read but not declared: {sorted(used - set(SETTINGS))}"


def _run(args, tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAYBOOK_")}
    environ.update(env)
    return subprocess.run(
        args, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )


def test_cli_refuses_bad_setting_with_one_sentence(tmp_path):
    daybook = str(Path(sys.executable).with_name("daybook"))
    result = _run(
        [daybook, "check"], tmp_path, DAYBOOK_DATA_DIR=str(tmp_path), DAYBOOK_REGISTRATION="bogus"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DAYBOOK_REGISTRATION must be one of closed, open, invite" in result.stderr


def test_gunicorn_refuses_bad_setting_with_one_sentence(tmp_path):
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = _run(
        [gunicorn, "--config", str(ROOT / "gunicorn.conf.py")],
        tmp_path,
        DAYBOOK_DATA_DIR=str(tmp_path),
        DAYBOOK_DATABASE_URL="nonsense://",
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DAYBOOK_DATABASE_URL" in result.stderr


def test_cli_check_reports_valid_settings(tmp_path):
    daybook = str(Path(sys.executable).with_name("daybook"))
    result = _run([daybook, "check"], tmp_path, DAYBOOK_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Settings are valid." in result.stdout
