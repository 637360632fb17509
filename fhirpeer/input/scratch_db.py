"""A private scratch database for what reading one file must remember about all its rows, so memory stays flat
however long the file.

SQLite's private temporary database (opened with an empty file name) lives in a file that SQLite creates in the
temp directory, unlinks at once and drops when the connection closes; its page cache (SQLite's default, ~2 MiB) is
all it holds in memory. Keys go in as keyed hashes (a random key per database), never as text.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from types import TracebackType
from typing import Self

#: Rows per look-up: one query per block instead of one per row (SQLite allows 32,766 parameters).
BLOCK_ROWS = 512


def scratch_database() -> sqlite3.Connection:
    """A fresh private temporary database, in one long write transaction (nothing needs to survive a crash)."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    return db


class KeyDigest:
    """A 63-bit keyed hash of a text key, as an SQLite INTEGER. Two different keys of one file share a digest with
    probability about n² / 2⁶⁴ (n = 1,000,000: 5e-8)."""

    def __init__(self) -> None:
        self._key = os.urandom(16)

    def __call__(self, text: str) -> int:
        digest = hashlib.blake2b(text.encode(), key=self._key, digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1  # fits SQLite's signed 64-bit INTEGER


class ScratchBacked:
    """What keeps the first rows of a file in memory and the rest in a scratch database (`_db`, opened on
    demand): closing drops both (`_forget` clears the memory side)."""

    _db: sqlite3.Connection | None

    def _forget(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._forget()
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
