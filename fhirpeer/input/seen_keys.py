"""The keys of one file seen so far, each with the line it first came on: the duplicate-key check. The first
`memory_keys` keys stay in a dict (a file of that size is checked as fast as ever); the rest go to a scratch
database, so memory stops growing however long the file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .scratch_db import KeyDigest, ScratchBacked, scratch_database

#: Keys kept in memory (~150 bytes each) before the rest go to the scratch database.
MEMORY_KEYS = 32_768


class SeenKeys(ScratchBacked):
    """Which keys came before, and on which line. Ask and add a block of keys at a time (`first_lines`, `add`)."""

    def __init__(self, memory_keys: int | None = None) -> None:
        self.memory_keys = MEMORY_KEYS if memory_keys is None else memory_keys
        self._memory: dict[str, int] = {}
        self._db: sqlite3.Connection | None = None
        self._digest = KeyDigest()

    def first_lines(self, keys: Iterable[str]) -> dict[str, int]:
        """The line each of `keys` was first added with, for those added before."""
        found: dict[str, int] = {}
        by_digest: dict[int, str] = {}
        for key in keys:
            line = self._memory.get(key)
            if line is not None:
                found[key] = line
            elif self._db is not None:
                by_digest[self._digest(key)] = key
        if by_digest and self._db is not None:
            marks = ",".join("?" * len(by_digest))
            rows = self._db.execute(f"SELECT digest, line FROM seen WHERE digest IN ({marks})", list(by_digest))
            found.update({by_digest[digest]: line for digest, line in rows})
        return found

    def add(self, first_lines: Iterable[tuple[str, int]]) -> None:
        """Remember keys not seen before, each with its line."""
        pairs = list(first_lines)
        room = max(self.memory_keys - len(self._memory), 0)
        for key, line in pairs[:room]:
            self._memory.setdefault(key, line)
        if len(pairs) > room:
            self._spilled().executemany(
                "INSERT OR IGNORE INTO seen VALUES (?,?)", ((self._digest(k), line) for k, line in pairs[room:])
            )

    def _spilled(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = scratch_database()
            self._db.execute("CREATE TABLE seen (digest INTEGER PRIMARY KEY, line INTEGER NOT NULL)")
        return self._db

    def _forget(self) -> None:
        self._memory.clear()
