"""Encrypted backups: the sealed stream itself, and `daybook backup --encrypt` / `restore`."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from daybook.extensions import db
from daybook.models import Entry
from daybook.services import backup, backup_crypto
from daybook.services.backup_crypto import DecryptingReader, DecryptionError, EncryptingWriter
from tests.databases import ON_POSTGRES
from tests.factories import make_entry

PASSPHRASE = "correct horse battery staple"
DEFAULT_LOG2_N = backup_crypto.SCRYPT_LOG2_N
CANNOT_OPEN = "cannot be decrypted: wrong passphrase or the file was altered."


@pytest.fixture(autouse=True)
def _cheap_key_derivation(monkeypatch):
    # The real cost makes each derivation take most of a second; nothing here depends on it.
    monkeypatch.setattr(backup_crypto, "SCRYPT_LOG2_N", 10)


def _seal(data: bytes, passphrase: str = PASSPHRASE, chunk_size: int = 64) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, passphrase, chunk_size=chunk_size)
    for start in range(0, len(data), 7):  # in pieces that straddle the chunks
        writer.write(data[start : start + 7])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, passphrase: str = PASSPHRASE) -> bytes:
    reader = DecryptingReader(io.BytesIO(sealed), passphrase)
    data = reader.read()
    reader.verify_rest()
    return data


# -- the sealed stream -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 128, 1000])
def test_sealed_data_opens_again(size):
    data = os.urandom(size)
    sealed = _seal(data)
    assert _open(sealed) == data
    assert sealed.startswith(backup_crypto.MAGIC)
    if size >= 16:
        assert data[:16] not in sealed


def test_sealed_data_can_be_read_in_small_pieces():
    data = os.urandom(300)
    reader = DecryptingReader(io.BytesIO(_seal(data)), PASSPHRASE)
    pieces = []
    while piece := reader.read(5):
        pieces.append(piece)
    assert b"".join(pieces) == data


def test_the_key_is_expensive_to_guess_and_the_header_records_its_cost():
    assert DEFAULT_LOG2_N >= 15
    assert (backup_crypto.SCRYPT_R, backup_crypto.SCRYPT_P) == (8, 1)
    first, second = _seal(b"same"), _seal(b"same")
    header = first[len(backup_crypto.MAGIC) : backup_crypto.HEADER_SIZE]
    version, kdf, log2_n, r, p, salt, _prefix, chunk = backup_crypto._HEADER.unpack(header)
    assert (version, kdf, log2_n, r, p, chunk) == (1, 1, 10, 8, 1, 64)
    assert salt not in second  # a fresh salt, hence a fresh key, for every file
    assert first[backup_crypto.HEADER_SIZE :] != second[backup_crypto.HEADER_SIZE :]


def test_a_wrong_passphrase_is_refused():
    with pytest.raises(DecryptionError, match="^wrong passphrase or the file was altered$"):
        _open(_seal(b"secret"), "not the passphrase")


def test_every_altered_byte_is_noticed():
    sealed = _seal(os.urandom(100))  # a full chunk and a final one
    for offset in range(len(sealed)):
        altered = bytearray(sealed)
        altered[offset] ^= 1
        with pytest.raises(DecryptionError):
            _open(bytes(altered))


def test_every_cut_is_noticed():
    sealed = _seal(os.urandom(100))
    for length in range(len(sealed)):
        with pytest.raises(DecryptionError):
            _open(sealed[:length])


def test_bytes_after_the_end_are_noticed():
    with pytest.raises(DecryptionError):
        _open(_seal(b"secret") + b"\x00")


def test_chunks_in_another_order_are_noticed():
    sealed = _seal(bytes(200))
    size = 4 + 64 + 16
    head, body = sealed[: backup_crypto.HEADER_SIZE], sealed[backup_crypto.HEADER_SIZE :]
    swapped = head + body[size : 2 * size] + body[:size] + body[2 * size :]
    with pytest.raises(DecryptionError):
        _open(swapped)


def test_a_header_cannot_ask_for_gigabytes():
    sealed = bytearray(_seal(b"secret"))
    sealed[len(backup_crypto.MAGIC) + 2] = 30  # 2**30 × r × 128 bytes of scrypt memory
    with pytest.raises(DecryptionError, match="wrong passphrase or the file was altered"):
        _open(bytes(sealed))


def test_an_unknown_format_version_is_named():
    sealed = bytearray(_seal(b"secret"))
    sealed[len(backup_crypto.MAGIC)] = 2
    with pytest.raises(DecryptionError, match="made by a newer Daybook, or altered"):
        _open(bytes(sealed))


# -- the commands ----------------------------------------------------------------------------


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _live_titles() -> set[str]:
    db.session.remove()
    return set(db.session.scalars(sa.select(Entry.title).where(Entry.deleted_at.is_(None))))


def _encrypted_backup(runner, dest: Path) -> Path:
    result = runner.invoke(
        args=["backup", "--dest", str(dest), "--encrypt"], input=f"{PASSPHRASE}\n{PASSPHRASE}\n"
    )
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def test_encrypted_backup_round_trip(app, runner, user, data_dir, tmp_path):
    make_entry(user, title="Confidential walrus", body="nobody may read this " * 50)
    (data_dir / "attachments").mkdir()
    (data_dir / "attachments" / "note.txt").write_text("a private attachment")
    saved = _encrypted_backup(runner, tmp_path / "b")

    assert saved.name.endswith(".tar.enc") and backup.BACKUP_NAME.match(saved.name)
    sealed = saved.read_bytes()
    assert sealed.startswith(backup_crypto.MAGIC)
    assert b"Confidential" not in sealed and b"private attachment" not in sealed
    assert b"nobody may read" not in sealed
    assert not tarfile.is_tarfile(saved)
    assert saved.stat().st_mode & 0o777 == 0o600

    make_entry(user, title="After the backup")
    (data_dir / "attachments" / "note.txt").write_text("changed")
    result = runner.invoke(args=["restore", str(saved), "--force"], input=f"{PASSPHRASE}\n")

    assert result.exit_code == 0, result.output
    assert _live_titles() == {"Confidential walrus"}
    assert (data_dir / "attachments" / "note.txt").read_text() == "a private attachment"
    if ON_POSTGRES:  # the database it replaced is saved as a backup, encrypted like this one
        (replaced,) = app.config["DAYBOOK"].backup_dir.glob("daybook-replaced-*")
        assert replaced.name.endswith(".tar.enc")
        assert replaced.read_bytes().startswith(backup_crypto.MAGIC)


def test_passphrase_from_a_file_or_the_setting(make_app, user, tmp_path):
    make_entry(user, title="Scripted")
    secret = tmp_path / "passphrase"
    secret.write_text(f"{PASSPHRASE}\n")
    configured = make_app(BACKUP_PASSPHRASE=PASSPHRASE)
    with configured.app_context():
        cli = configured.test_cli_runner()
        # --passphrase-file alone encrypts; no prompt is shown.
        made = cli.invoke(
            args=["backup", "--dest", str(tmp_path / "b"), "--passphrase-file", str(secret)]
        )
        assert made.exit_code == 0, made.output
        saved = Path(made.stdout.strip())
        assert saved.read_bytes().startswith(backup_crypto.MAGIC)
        # DAYBOOK_BACKUP_PASSPHRASE opens it, and encrypts backups unless told otherwise.
        restored = cli.invoke(args=["restore", str(saved), "--force"])
        assert restored.exit_code == 0, restored.output
        by_setting = cli.invoke(args=["backup", "--dest", str(tmp_path / "b")])
        assert Path(by_setting.stdout.strip()).name.endswith(".tar.enc")
        plain = cli.invoke(args=["backup", "--dest", str(tmp_path / "b"), "--no-encrypt"])
        assert Path(plain.stdout.strip()).name.endswith(".tar")
        assert _live_titles() == {"Scripted"}
        assert "Passphrase" not in made.output + restored.output + by_setting.output


def test_backup_refuses_a_short_passphrase_and_contradictory_options(runner, tmp_path):
    short = runner.invoke(
        args=["backup", "--dest", str(tmp_path / "b"), "--encrypt"], input="short\nshort\n"
    )
    assert short.exit_code == 1
    assert "Choose a passphrase of at least 12 characters." in short.output
    assert not (tmp_path / "b").exists()

    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE)
    both = runner.invoke(
        args=["backup", "--no-encrypt", "--passphrase-file", str(secret), "--dest", str(tmp_path)]
    )
    assert both.exit_code == 2

    secret.write_text("\n")
    empty = runner.invoke(
        args=["backup", "--passphrase-file", str(secret), "--dest", str(tmp_path)]
    )
    assert empty.exit_code == 1
    assert "is empty; put the passphrase on its first line." in empty.output


def test_backup_without_a_passphrase_to_type_fails_clearly(runner, tmp_path):
    mismatch = runner.invoke(
        args=["backup", "--dest", str(tmp_path / "b"), "--encrypt"], input=f"{PASSPHRASE}\nother\n"
    )
    assert mismatch.exit_code == 1
    assert "No passphrase was given; type it, or use --passphrase-file" in mismatch.output
    assert not (tmp_path / "b").exists()


def _altered(saved: Path, bad: Path) -> None:
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(data))


def _cut(saved: Path, bad: Path) -> None:
    data = saved.read_bytes()
    bad.write_bytes(data[: len(data) - 100])


def _wrong_passphrase(saved: Path, bad: Path) -> None:
    bad.write_bytes(saved.read_bytes())


@pytest.mark.parametrize(
    ("make_bad", "typed"),
    [
        (_wrong_passphrase, "not the passphrase at all"),
        (_altered, PASSPHRASE),
        (_cut, PASSPHRASE),
    ],
)
def test_restore_refuses_what_it_cannot_decrypt_and_replaces_nothing(
    app, runner, user, data_dir, tmp_path, make_bad, typed
):
    make_entry(user, title="Precious", body="x " * 5000)
    saved = _encrypted_backup(runner, tmp_path / "b")
    bad = tmp_path / "bad.tar.enc"
    make_bad(saved, bad)
    make_entry(user, title="Newer")

    result = runner.invoke(args=["restore", str(bad), "--force"], input=f"{typed}\n")

    assert result.exit_code == 1, result.output
    assert f"{bad} {CANNOT_OPEN}" in result.output
    assert "Traceback" not in result.output
    assert _live_titles() == {"Precious", "Newer"}
    assert not list(data_dir.glob(".restoring-*"))
    assert not list(data_dir.glob("daybook.sqlite3.replaced-*"))
    assert not list(app.config["DAYBOOK"].backup_dir.glob("daybook-replaced-*"))


def test_restore_of_an_encrypted_backup_needs_its_passphrase(runner, user, tmp_path):
    saved = _encrypted_backup(runner, tmp_path / "b")
    result = runner.invoke(args=["restore", str(saved), "--force"])
    assert result.exit_code == 1
    assert "No passphrase was given" in result.output
    assert "Traceback" not in result.output
