"""Passphrase encryption of backups, streamed: scrypt for the key, AES-256-GCM over chunks.

Layout: a header (magic, format version, scrypt parameters, salt, nonce prefix, chunk size), then
chunks, each a 4-byte big-endian length and the sealed bytes. Chunk i is sealed under the nonce
prefix || i (4 bytes) || final flag (1 byte), with the header as associated data: changing the
header, reordering, dropping or cutting chunks, or cutting the file after any chunk but the final
one makes decryption fail (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár).
Every file gets a fresh salt, hence a fresh key, so nonces can never repeat under one key.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"DAYBOOK-ENCRYPTED\n"
FORMAT_VERSION = 1
KDF_SCRYPT = 1
# 2**17 × 8 × 128 bytes = 128 MiB and most of a second per guess: one derivation per backup is
# cheap for us and dear for anyone guessing passphrases against a stolen file.
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
CHUNK_SIZE = 256 * 1024
TAG_SIZE = 16
_HEADER = struct.Struct(">BBBBB16s7sI")
HEADER_SIZE = len(MAGIC) + _HEADER.size
_LENGTH = struct.Struct(">I")
# Limits on what a header may ask for, so that a crafted file cannot make us allocate gigabytes.
_MAX_SCRYPT_MEMORY = 1 << 30
_MAX_CHUNK_SIZE = 16 * 1024 * 1024
_LAST_COUNTER = 2**32 - 1

CANNOT_OPEN = "wrong passphrase or the file was altered"


class DecryptionError(ValueError):
    """The file cannot be decrypted; the message completes "<file> … ", without a full stop."""


def is_encrypted(path: Path) -> bool:
    """Tell whether the file at `path` starts like an encrypted Daybook backup."""
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p)
    return kdf.derive(passphrase.encode("utf-8"))


def _nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


class EncryptingWriter:
    """Seal whatever is written into `out`, chunk by chunk; close() seals the final chunk.

    Until close() the output is not a complete file: a reader reports it as altered.
    """

    def __init__(self, out: BinaryIO, passphrase: str, *, chunk_size: int = CHUNK_SIZE):
        salt, self._prefix = os.urandom(16), os.urandom(7)
        log2_n, r, p = SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P
        fields = _HEADER.pack(
            FORMAT_VERSION, KDF_SCRYPT, log2_n, r, p, salt, self._prefix, chunk_size
        )
        self._header = MAGIC + fields
        self._aead = AESGCM(_key(passphrase, salt, log2_n, r, p))
        self._out = out
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        out.write(self._header)

    def write(self, data: bytes) -> int:
        """Buffer `data`, sealing every full chunk but the last (it may turn out to be final)."""
        self._buffer += data
        while len(self._buffer) > self._chunk_size:
            self._seal(bytes(self._buffer[: self._chunk_size]), final=False)
            del self._buffer[: self._chunk_size]
        return len(data)

    def close(self) -> None:
        """Seal what is left as the final chunk (empty when the data ended on a chunk boundary)."""
        if not self._closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, plain: bytes, final: bool) -> None:
        if self._counter > _LAST_COUNTER:
            raise ValueError("too much data for one encrypted file")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, final), plain, self._header)
        self._out.write(_LENGTH.pack(len(sealed)) + sealed)
        self._counter += 1


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = source.read(size - len(data))
        if not part:
            break
        data += part
    return bytes(data)


class DecryptingReader:
    """Read the plaintext of an encrypted backup, checking each chunk before handing it out.

    Raises: DecryptionError from the constructor (not encrypted, unknown format, or a wrong
    passphrase) or from read() (a chunk fails to open, or the file ends before its final chunk).
    """

    def __init__(self, source: BinaryIO, passphrase: str):
        header = _read_exactly(source, HEADER_SIZE)
        if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
            raise DecryptionError("is not an encrypted Daybook backup")
        version, kdf, log2_n, r, p, _salt, prefix, chunk_size = _HEADER.unpack(header[len(MAGIC) :])
        if version != FORMAT_VERSION or kdf != KDF_SCRYPT:
            raise DecryptionError(
                "is encrypted in a way this version of Daybook does not know (made by a newer "
                "Daybook, or altered)"
            )
        if not (
            10 <= log2_n <= 24
            and 1 <= r <= 64
            and 1 <= p <= 16
            and 128 * r * (1 << log2_n) <= _MAX_SCRYPT_MEMORY
            and 1 <= chunk_size <= _MAX_CHUNK_SIZE
        ):
            raise DecryptionError(CANNOT_OPEN)
        self._aead = AESGCM(_key(passphrase, _salt, log2_n, r, p))
        self._source = source
        self._header = header
        self._prefix = prefix
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._counter = 0
        self._done = False
        # Open the first chunk now, so that a wrong passphrase shows before anything is read.
        self._open_next()

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes of plaintext (all that is left when negative)."""
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._open_next()
        if size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def verify_rest(self) -> None:
        """Open every chunk not read yet, so that a cut or altered end is noticed."""
        while not self._done:
            self._open_next()
            self._buffer.clear()

    def _open_next(self) -> None:
        raw = _read_exactly(self._source, _LENGTH.size)
        if len(raw) < _LENGTH.size or self._counter > _LAST_COUNTER:
            raise DecryptionError(CANNOT_OPEN)
        (length,) = _LENGTH.unpack(raw)
        if not TAG_SIZE <= length <= self._chunk_size + TAG_SIZE:
            raise DecryptionError(CANNOT_OPEN)
        sealed = _read_exactly(self._source, length)
        if len(sealed) < length:
            raise DecryptionError(CANNOT_OPEN)
        try:
            plain = self._aead.decrypt(
                _nonce(self._prefix, self._counter, False), sealed, self._header
            )
        except InvalidTag:
            try:
                plain = self._aead.decrypt(
                    _nonce(self._prefix, self._counter, True), sealed, self._header
                )
            except InvalidTag:
                raise DecryptionError(CANNOT_OPEN) from None
            if self._source.read(1):  # nothing may follow the final chunk
                raise DecryptionError(CANNOT_OPEN) from None
            self._done = True
        self._buffer += plain
        self._counter += 1
