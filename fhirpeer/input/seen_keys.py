"""The keys of one file seen so far, each with the line it first came on: the duplicate-key check, kept in a
scratch database instead of a dict of every key."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from .scratch_db import KeyDigest, scratch_database


class SeenKeys:
    """Which keys came before, and on which line. Ask and add a block of keys at a time (`first_lines`, `add`)."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.execute("CREATE TABLE seen (digest INTEGER PRIMARY KEY, line INTEGER NOT NULL)")
        self._digest = KeyDigest()

    def first_lines(self, keys: Iterable[str]) -> dict[str, int]:
        """The line each of `keys` was first added with, for those added before."""
        by_digest = {self._digest(k): k for k in keys}
        if not by_digest:
            return {}
        marks = ",".join("?" * len(by_digest))
        rows = self._db.execute(f"SELECT digest, line FROM seen WHERE digest IN ({marks})", list(by_digest))
        return {by_digest[digest]: line for digest, line in rows}

    def add(self, first_lines: Iterable[tuple[str, int]]) -> None:
        """Remember keys not seen before, each with its line."""
        self._db.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?,?)", ((self._digest(k), line) for k, line in first_lines)
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SeenKeys:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
