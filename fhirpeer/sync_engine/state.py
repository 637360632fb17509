"""The sync state store (SQLite): what fhirpeer last wrote, per target server and business key.

Only hashes, ids, versions, keys and reasons live here — never resource bodies or cell values.
Each confirmed server write is recorded in its own SQLite transaction right after the server
confirmed it, so a crash at any point leaves a consistent store: at worst a confirmed write is not yet
recorded, and the next run re-sends it as an idempotent conditional write.

A target is the pair (server base URL, identifier namespace): pointing the same store at another
server starts from nothing there instead of believing it already holds the data.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from filelock import FileLock, Timeout

from ..domain import Rejection
from ..errors import LockHeldError, StatePathError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS synced (
    target TEXT NOT NULL, resource_type TEXT NOT NULL, key TEXT NOT NULL,
    hash TEXT NOT NULL, server_id TEXT, version_id TEXT, run_id TEXT NOT NULL, written_at TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT 'fhirpeer',
    PRIMARY KEY (target, resource_type, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    target TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, types TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (target, kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, target TEXT, server TEXT, command TEXT NOT NULL, started_at TEXT NOT NULL,
    finished_at TEXT, status TEXT NOT NULL, exit_code INTEGER, counts TEXT, rejected INTEGER, conflicts INTEGER
);
CREATE TABLE IF NOT EXISTS rejections (
    target TEXT NOT NULL, file TEXT NOT NULL, line INTEGER NOT NULL, record_id TEXT, column_name TEXT,
    reason TEXT NOT NULL, stage TEXT NOT NULL, first_run TEXT NOT NULL, last_run TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_target ON rejections (target);
CREATE TABLE IF NOT EXISTS conflicts (
    target TEXT NOT NULL, resource_type TEXT NOT NULL, key TEXT NOT NULL, reason TEXT NOT NULL,
    first_run TEXT NOT NULL, last_run TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_target ON conflicts (target);
"""
#: Columns added to `runs` after its first release (added to older stores when opened).
_RUNS_ADDED = (("error_category", "TEXT"), ("error_message", "TEXT"))


#: The hash recorded for a record fhirpeer retracted (marked entered-in-error because a full export no longer
#: holds it): no content hashes to it, so the record is written again if it comes back.
RETRACTED_HASH = "retracted"


def target_id(server: str, namespace: str) -> str:
    return hashlib.sha256(f"{server.rstrip('/')}|{namespace}".encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


#: `synced.owner`: fhirpeer wrote the resource, or it is the EHR's (found on the server and pointed at, never
#: written).
OWNER_FHIRPEER = "fhirpeer"
OWNER_EHR = "ehr"
#: fhirpeer wrote it, then its receiver moved it (a referral Task accepted, a ServiceRequest completed): left alone.
OWNER_RECEIVER = "receiver"


@dataclass(frozen=True)
class SyncedRow:
    hash: str
    server_id: str | None
    version_id: str | None
    owner: str = OWNER_FHIRPEER


@dataclass(frozen=True)
class Written:
    """One resource the server holds as fhirpeer last saw it: written (confirmed), adopted, or linked."""

    resource_type: str
    key: str
    hash: str
    server_id: str | None
    version_id: str | None
    owner: str = OWNER_FHIRPEER


class AbsentRow(NamedTuple):
    """A synced record that the export being synced lacks."""

    key: str
    server_id: str | None
    version_id: str | None
    owner: str


@dataclass(frozen=True)
class RecordSynced:
    """An input record whose every resource is on the server as mapped from this fingerprint."""

    kind: str
    key: str
    fingerprint: str
    types: tuple[str, ...]


class RunLock:
    """An OS file lock beside the store: released by the kernel when its process dies, so a lock left by
    a killed run is stale by construction and the next run simply takes it."""

    suffix = ".lock"
    holder = "sync"
    error: type[LockHeldError] = LockHeldError

    def __init__(self, state_path: Path):
        self.path = Path(str(state_path) + self.suffix)
        self._lock = FileLock(str(self.path), timeout=0)

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
            raise self.error(
                f"another fhirpeer {self.holder} is running on this state store ({self.path}); nothing was done"
            ) from None
        except OSError as exc:
            raise StatePathError(f"state store lock {self.path}: cannot be created ({sqlite_reason(exc)})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _upgrade_state_tables(db: sqlite3.Connection) -> None:
    """Add what a store written by an older fhirpeer lacks (its rows were all written by fhirpeer)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for name, kind in _RUNS_ADDED:
        if name not in have:
            db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
    columns = {row[1] for row in db.execute("PRAGMA table_info(synced)")}
    if "owner" not in columns:
        db.execute(f"ALTER TABLE synced ADD COLUMN owner TEXT NOT NULL DEFAULT '{OWNER_FHIRPEER}'")


class StateStore:
    """Thread-safe access to the state database for one target."""

    def __init__(self, path: Path, target: str = ""):
        self.path = Path(path)
        self.target = target
        self._db = open_state_database(self.path, _SCHEMA, upgrade=_upgrade_state_tables)
        self._mutex = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._mutex)

    # --- synced resources -------------------------------------------------------------------------
    def lookup(self, resource_type: str, keys: Iterable[str]) -> dict[str, SyncedRow]:
        keys = list(keys)
        found: dict[str, SyncedRow] = {}
        with self._mutex:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, hash, server_id, version_id, owner FROM synced "
                    f"WHERE target=? AND resource_type=? AND key IN ({marks})",
                    (self.target, resource_type, *chunk),
                )
                found.update({k: SyncedRow(h, s, v, o) for k, h, s, v, o in rows})
        return found

    def record_written(self, writes: Iterable[Written], run_id: str) -> None:
        now = _now()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO synced (target, resource_type, key, hash, server_id, version_id, run_id, written_at, "
                "owner) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (target, resource_type, key) DO UPDATE "
                "SET hash=excluded.hash, server_id=excluded.server_id, version_id=excluded.version_id, "
                "run_id=excluded.run_id, written_at=excluded.written_at, owner=excluded.owner",
                [
                    (self.target, str(w.resource_type), w.key, w.hash, w.server_id, w.version_id, run_id, now, w.owner)
                    for w in writes
                ],
            )

    # --- records whose resources are all synced (reruns skip them before mapping) ------------------------
    def record_fingerprints(self, kind: str, keys: Iterable[str]) -> dict[str, RecordSynced]:
        keys = list(keys)
        found: dict[str, RecordSynced] = {}
        with self._mutex:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, fingerprint, types FROM records WHERE target=? AND kind=? AND key IN ({marks})",
                    (self.target, kind, *chunk),
                )
                found.update({k: RecordSynced(kind, k, f, tuple(t.split(",")) if t else ()) for k, f, t in rows})
        return found

    def record_records(self, records: Iterable[RecordSynced], run_id: str) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO records VALUES (?,?,?,?,?,?) ON CONFLICT (target, kind, key) DO UPDATE "
                "SET fingerprint=excluded.fingerprint, types=excluded.types, run_id=excluded.run_id",
                [(self.target, r.kind, r.key, r.fingerprint, ",".join(r.types), run_id) for r in records],
            )

    def forget_records(self, kind: str, keys: Iterable[str]) -> None:
        """The next run must map these records again (one of their resources changed or failed)."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM records WHERE target=? AND kind=? AND key=?", [(self.target, kind, k) for k in keys]
            )

    def mark_receiver_owned(self, resource_type: str, keys: Iterable[str]) -> int:
        """What fhirpeer wrote under these keys has been moved on by its receiver (seen by `fhirpeer outcomes`):
        later syncs leave it alone and say so. Returns how many rows changed owner."""
        with self._tx() as db:
            cur = db.executemany(
                "UPDATE synced SET owner=? WHERE target=? AND resource_type=? AND key=? AND owner=?",
                [(OWNER_RECEIVER, self.target, str(resource_type), k, OWNER_FHIRPEER) for k in keys],
            )
            return max(cur.rowcount, 0)

    def server_ids(self, resource_type: str, keys: Iterable[str]) -> dict[str, str]:
        return {k: row.server_id for k, row in self.lookup(resource_type, keys).items() if row.server_id}

    def count_synced(self) -> dict[str, int]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT resource_type, COUNT(*) FROM synced WHERE target=? GROUP BY resource_type",
                (self.target,),
            )
            return dict(rows.fetchall())

    def count_owned(self, resource_type: str) -> int:
        """How many resources of a type fhirpeer wrote (or adopted) on this target."""
        with self._mutex:
            row = self._db.execute(
                "SELECT COUNT(*) FROM synced WHERE target=? AND resource_type=? AND owner=?",
                (self.target, str(resource_type), OWNER_FHIRPEER),
            ).fetchone()
        return int(row[0])

    # --- what an export still holds -----------------------------------------------------------------
    def count_live(self) -> dict[str, int]:
        """Per type, the records synced and not retracted."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT resource_type, COUNT(*) FROM synced WHERE target=? AND hash<>? GROUP BY resource_type",
                (self.target, RETRACTED_HASH),
            )
            return dict(rows.fetchall())

    def count_known(self, resource_type: str, keys: Iterable[str]) -> int:
        """How many of `keys` are synced and not retracted."""
        keys = list(keys)
        total = 0
        with self._mutex:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                (n,) = self._db.execute(
                    f"SELECT COUNT(*) FROM synced WHERE target=? AND resource_type=? AND hash<>? AND key IN ({marks})",
                    (self.target, resource_type, RETRACTED_HASH, *chunk),
                ).fetchone()
                total += n
        return total

    def start_seen_keys(self) -> None:
        """An empty temporary table (this connection only, gone when it closes) for the keys an export holds."""
        with self._mutex:
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seen_keys (resource_type TEXT NOT NULL, key TEXT NOT NULL, "
                "PRIMARY KEY (resource_type, key)) WITHOUT ROWID"
            )
            self._db.execute("DELETE FROM temp.seen_keys")

    def remember_seen(self, resource_type: str, keys: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO temp.seen_keys VALUES (?,?)", ((resource_type, k) for k in keys))

    def absent(self, resource_type: str) -> list[AbsentRow]:
        """Each live synced record of `resource_type` not among the seen keys, in key order."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT key, server_id, version_id, owner FROM synced s WHERE target=? AND resource_type=? "
                "AND hash<>? AND NOT EXISTS "
                "(SELECT 1 FROM temp.seen_keys k WHERE k.resource_type=s.resource_type AND k.key=s.key) ORDER BY key",
                (self.target, resource_type, RETRACTED_HASH),
            )
            return [AbsentRow(*row) for row in rows.fetchall()]

    # --- runs -------------------------------------------------------------------------------------
    def begin_run(self, run_id: str, command: str, server: str | None) -> str:
        started = _now()
        with self._tx() as db:
            # a run still marked running belongs to a process that died (we hold the lock now)
            db.execute("UPDATE runs SET status='interrupted' WHERE status='running' AND target=?", (self.target,))
            db.execute(
                "INSERT INTO runs (run_id, target, server, command, started_at, status) VALUES (?,?,?,?,?,?)",
                (run_id, self.target, server, command, started, "running"),
            )
        return started

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        exit_code: int,
        counts: dict[str, Any],
        rejected: int,
        conflicts: int,
        error: tuple[str, str] | None = None,
    ) -> str:
        """Close a run; `error` is (category, message) for a run that did not finish cleanly."""
        finished = _now()
        category, message = error or (None, None)
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, status=?, exit_code=?, counts=?, rejected=?, conflicts=?, "
                "error_category=?, error_message=? WHERE run_id=?",
                (finished, status, exit_code, json.dumps(counts), rejected, conflicts, category, message, run_id),
            )
        return finished

    def record_refused_run(
        self, run_id: str, command: str, server: str | None, *, exit_code: int, error: tuple[str, str]
    ) -> str:
        """Record a run that stopped before it wrote anything (configuration, input, server, lock): it shows
        in `fhirpeer status` like any other. Leaves other runs' rows alone (another run may hold the lock)."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, target, server, command, started_at, finished_at, status, exit_code, "
                "counts, rejected, conflicts, error_category, error_message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, self.target or None, server, command, now, now, "not_started", exit_code, "{}", 0, 0, *error),
            )
        return now

    def last_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest runs first (`limit` 0: every run)."""
        with self._mutex:
            cur = self._db.execute(
                "SELECT run_id, server, command, started_at, finished_at, status, exit_code, counts, rejected, "
                "conflicts, error_category, error_message FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
                (limit if limit > 0 else -1,),
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def written_by_run(self, run_ids: Iterable[str]) -> dict[str, int]:
        """Per run: the synced records whose last confirmed write was that run's (a killed run recorded no
        counts, but every write the server confirmed to it is here — unless a later run rewrote it)."""
        ids = list(run_ids)
        if not ids:
            return {}
        with self._mutex:
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(
                f"SELECT run_id, COUNT(*) FROM synced WHERE run_id IN ({marks}) GROUP BY run_id", ids
            )
            return dict(rows.fetchall())

    # --- quarantine -------------------------------------------------------------------------------
    def replace_rejections(self, rejections: list[Rejection], run_id: str) -> None:
        """The records rejected by this (complete) run replace the previous list; a record that
        keeps being rejected keeps the run that first rejected it."""
        with self._tx() as db:
            first = {
                (f, rid, reason): fr
                for f, rid, reason, fr in db.execute(
                    "SELECT file, record_id, reason, first_run FROM rejections WHERE target=?", (self.target,)
                )
            }
            db.execute("DELETE FROM rejections WHERE target=?", (self.target,))
            db.executemany(
                "INSERT INTO rejections VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (self.target, r.file, r.line, r.id, r.column, r.reason, r.stage,
                     first.get((r.file, r.id, r.reason), run_id), run_id)
                    for r in rejections
                ],
            )  # fmt: skip

    def rejections(self, all_targets: bool = True) -> list[dict[str, Any]]:
        with self._mutex:
            sql = "SELECT file, line, record_id, column_name, reason, stage, first_run, last_run FROM rejections"
            args: tuple[str, ...] = ()
            if not all_targets:
                sql += " WHERE target=?"
                args = (self.target,)
            cur = self._db.execute(sql + " ORDER BY file, line", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def replace_conflicts(self, conflicts: Iterable[tuple[str, str, str]], run_id: str) -> None:
        """The (resource type, key, reason) conflicts of this (complete) run replace the previous list; a
        record that stays in conflict keeps the run that first found it."""
        with self._tx() as db:
            first = {
                (t, k): fr
                for t, k, fr in db.execute(
                    "SELECT resource_type, key, first_run FROM conflicts WHERE target=?", (self.target,)
                )
            }
            db.execute("DELETE FROM conflicts WHERE target=?", (self.target,))
            db.executemany(
                "INSERT INTO conflicts VALUES (?,?,?,?,?,?)",
                [(self.target, t, k, reason, first.get((t, k), run_id), run_id) for t, k, reason in conflicts],
            )

    def conflicts(self) -> list[dict[str, Any]]:
        with self._mutex:
            cur = self._db.execute(
                "SELECT resource_type, key, reason, first_run, last_run FROM conflicts ORDER BY resource_type, key"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def check_state_path(path: Path) -> None:
    """Refuse, before anything is written, a state path that is a directory or a file of something else."""
    if path.is_dir():
        raise StatePathError(
            f"state store {path} is a directory; --state names the SQLite file, e.g. {path}/state.sqlite"
        )
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise StatePathError(
                    f"state store {path} is not an SQLite database; point --state at a new path or at the file "
                    "an earlier sync created"
                )


@contextmanager
def immediate_transaction(db: sqlite3.Connection, mutex: threading.Lock) -> Iterator[sqlite3.Connection]:
    """One write transaction (BEGIN IMMEDIATE: the write lock is taken at the start), rolled back on any error."""
    with mutex:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def open_state_database(
    path: Path, schema: str, upgrade: Callable[[sqlite3.Connection], None] | None = None
) -> sqlite3.Connection:
    """Open (or create) the state database at `path` with `schema` applied, then `upgrade` run on it (adding what a
    store written by an older fhirpeer lacks). Shared by every store that lives in the state database."""
    check_state_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    except (OSError, sqlite3.Error) as exc:
        raise StatePathError(f"state store {path}: cannot be opened ({sqlite_reason(exc)})") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        if upgrade is not None:
            upgrade(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StatePathError(
            f"state store {path}: not a fhirpeer state store ({sqlite_reason(exc)}); "
            "point --state at a new path or at the file an earlier run created"
        ) from None
    return db


def sqlite_reason(exc: BaseException) -> str:
    """SQLite's own words (\"unable to open database file\"), or the OS error's; never a path with data."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc.args[0]) if exc.args else type(exc).__name__
