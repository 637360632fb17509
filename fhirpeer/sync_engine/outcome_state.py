"""What `fhirpeer outcomes` keeps in the state store: each handoff's decided outcome and each outcomes run.

The tables live in the sync's SQLite file, per target (server + namespace, as `state.target_id` makes it), so the
CSV can be written complete from here when a run re-reads only what changed. Rows hold keys, server ids, codes and
timestamps — the outcome row exactly as the CSV shows it (its ``reason`` is a statusReason code, or that reason's
text cut to one short line) — never resource bodies or notes.

A run's high-water mark is the server's clock when the run began reading (``mark``); the next run asks for what
changed since it (minus a safety overlap). A run is recorded together with the outcomes it decided, in one
transaction, so a mark never runs ahead of what is stored.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import astuple, dataclass
from pathlib import Path

from ..errors import OutcomesLockHeld
from .state import RunLock, immediate_transaction, open_state_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_outcomes (
    target TEXT NOT NULL, handoff_id TEXT NOT NULL, server_id TEXT NOT NULL, patient_id TEXT, kind TEXT,
    outcome TEXT NOT NULL, decided_at TEXT, days_to_linkage REAL, evidence TEXT NOT NULL, reason TEXT,
    changed_run TEXT NOT NULL,
    PRIMARY KEY (target, handoff_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcome_runs (
    run_id TEXT PRIMARY KEY, target TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    polled INTEGER NOT NULL, since TEXT, mark TEXT, handoffs INTEGER NOT NULL, redecided INTEGER NOT NULL,
    changed INTEGER NOT NULL, exit_code INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outcome_runs_target ON outcome_runs (target, started_at);
"""


class OutcomesLock(RunLock):
    """One outcomes run per state store at a time (a sync may run beside it: it has its own lock)."""

    suffix = ".outcomes.lock"
    holder = "outcomes run"
    error = OutcomesLockHeld


@dataclass(frozen=True)
class StoredOutcome:
    """One handoff's outcome as an outcomes run decided it; ``changed_run`` is the run that last changed it."""

    handoff_id: str
    server_id: str  # the ServiceRequest's id on the server
    patient_id: str | None
    kind: str | None
    outcome: str
    decided_at: str | None  # ISO 8601
    days_to_linkage: float | None
    evidence: str
    reason: str | None
    changed_run: str


@dataclass(frozen=True)
class OutcomeRun:
    """One outcomes run: when it started (the client's clock, UTC ISO 8601), whether it read the server, the
    ``_lastUpdated`` bound it used and the server-clock mark it leaves for the next run."""

    run_id: str
    started_at: str
    finished_at: str
    polled: bool
    since: str | None
    mark: str | None
    handoffs: int
    redecided: int
    changed: int
    exit_code: int


class OutcomeStore:
    """The outcome tables of one state store, for one target."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = Path(path)
        self.target = target
        self._db = open_state_database(self.path, _SCHEMA)
        self._mutex = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._mutex)

    def outcomes(self) -> dict[str, StoredOutcome]:
        """Every handoff's stored outcome, by handoff id."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT handoff_id, server_id, patient_id, kind, outcome, decided_at, days_to_linkage, evidence, "
                "reason, changed_run FROM handoff_outcomes WHERE target=? ORDER BY handoff_id",
                (self.target,),
            ).fetchall()
        return {row[0]: StoredOutcome(*row) for row in rows}

    def last_polled_run(self) -> OutcomeRun | None:
        """The latest run that read the server and finished (exit 0 or 1), if any."""
        with self._mutex:
            row = self._db.execute(
                "SELECT run_id, started_at, finished_at, polled, since, mark, handoffs, redecided, changed, exit_code "
                "FROM outcome_runs WHERE target=? AND polled=1 AND exit_code IN (0, 1) "
                "ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (self.target,),
            ).fetchone()
        if row is None:
            return None
        return OutcomeRun(row[0], row[1], row[2], bool(row[3]), *row[4:])

    def record_run(self, run: OutcomeRun, decided: Iterable[StoredOutcome] = (), *, replace_all: bool = False) -> None:
        """Store a run and the outcomes it decided, together. ``replace_all`` (a run that read every handoff): the
        handoffs it did not see are no longer on the server and are dropped."""
        rows = [(self.target, *astuple(o)) for o in decided]
        with self._tx() as db:
            if replace_all:
                db.execute("DELETE FROM handoff_outcomes WHERE target=?", (self.target,))
            db.executemany(
                "INSERT INTO handoff_outcomes VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (target, handoff_id) "
                "DO UPDATE SET server_id=excluded.server_id, patient_id=excluded.patient_id, kind=excluded.kind, "
                "outcome=excluded.outcome, decided_at=excluded.decided_at, days_to_linkage=excluded.days_to_linkage, "
                "evidence=excluded.evidence, reason=excluded.reason, changed_run=excluded.changed_run",
                rows,
            )
            db.execute(
                "INSERT INTO outcome_runs (run_id, target, started_at, finished_at, polled, since, mark, handoffs, "
                "redecided, changed, exit_code) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run.run_id, self.target, run.started_at, run.finished_at, int(run.polled), run.since, run.mark,
                 run.handoffs, run.redecided, run.changed, run.exit_code),
            )  # fmt: skip
