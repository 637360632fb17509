"""What `fhirpeer outcomes` keeps in the state store: outcomes per handoff and the runs, per target."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fhirpeer.errors import LockHeldError, OutcomesLockHeld
from fhirpeer.sync_engine.outcome_state import OutcomeRun, OutcomesLock, OutcomeStore, StoredOutcome
from fhirpeer.sync_engine.state import RunLock, StateStore, Written


def row(key: str, outcome: str = "pending", run: str = "r1") -> StoredOutcome:
    return StoredOutcome(key, f"sr-{key}", f"pat-{key}", "housing", outcome, None, None, "task:requested", None, run)


def run(run_id: str, started: str, *, polled: bool = True, mark: str | None = "2026-11-24T09:00:00.000Z",
        exit_code: int = 0) -> OutcomeRun:  # fmt: skip
    return OutcomeRun(run_id, started, started, polled, None, mark, 0, 0, 0, exit_code)


def test_outcomes_are_kept_per_target_and_upserted(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    one, other = OutcomeStore(path, "a"), OutcomeStore(path, "b")
    one.record_run(run("r1", "2026-11-24T09:00:00.000Z"), [row("H1"), row("H2")])
    one.record_run(run("r2", "2026-11-24T09:20:00.000Z"), [row("H1", "linked", "r2")])
    assert {k: (o.outcome, o.changed_run) for k, o in one.outcomes().items()} == {
        "H1": ("linked", "r2"),
        "H2": ("pending", "r1"),
    }
    assert other.outcomes() == {} and other.last_polled_run() is None


def test_a_full_read_replaces_every_row(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "state.sqlite", "t")
    store.record_run(run("r1", "2026-11-24T09:00:00.000Z"), [row("H1"), row("H2")])
    store.record_run(run("r2", "2026-11-24T10:00:00.000Z"), [row("H2")], replace_all=True)
    assert list(store.outcomes()) == ["H2"]


def test_the_last_polled_run_ignores_runs_served_from_the_store_and_failed_ones(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "state.sqlite", "t")
    store.record_run(run("polled", "2026-11-24T09:00:00.000Z"))
    store.record_run(run("from-store", "2026-11-24T09:05:00.000Z", polled=False, mark=None))
    store.record_run(run("partial", "2026-11-24T09:06:00.000Z", exit_code=1, mark="2026-11-24T09:06:00.100Z"))
    store.record_run(run("failed", "2026-11-24T09:07:00.000Z", exit_code=3, mark=None))
    last = store.last_polled_run()
    assert last is not None and (last.run_id, last.mark) == ("partial", "2026-11-24T09:06:00.100Z")


def test_a_run_and_its_outcomes_are_stored_together(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path / "state.sqlite", "t")
    store.record_run(run("r1", "2026-11-24T09:00:00.000Z"), [row("H1")])
    with pytest.raises(sqlite3.IntegrityError):  # the same run id twice: nothing of the second lands
        store.record_run(run("r1", "2026-11-24T09:30:00.000Z"), [row("H1", "linked"), row("H9")])
    assert {k: o.outcome for k, o in store.outcomes().items()} == {"H1": "pending"}


def test_the_tables_share_the_sync_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    sync = StateStore(path, "t")
    sync.record_written([Written("Task", "H1", "h", "t1", "1")], "sync-run")
    OutcomeStore(path, "t").record_run(run("r1", "2026-11-24T09:00:00.000Z"), [row("H1")])
    assert sync.lookup("Task", ["H1"])["H1"].version_id == "1"
    assert sync.mark_receiver_owned("Task", ["H1", "H2"]) == 1
    assert sync.lookup("Task", ["H1"])["H1"].owner == "receiver"
    assert sync.mark_receiver_owned("Task", ["H1"]) == 0  # once


def test_an_outcomes_run_and_a_sync_lock_the_store_separately(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with (
        RunLock(path),
        OutcomesLock(path),
        pytest.raises(OutcomesLockHeld, match="another fhirpeer outcomes run") as held,
    ):
        OutcomesLock(path).__enter__()
    assert isinstance(held.value, LockHeldError) and held.value.exit_code == 4
    assert "next scheduled run writes the outcomes" in (held.value.advice or "")
