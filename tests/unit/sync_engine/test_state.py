from __future__ import annotations

import sqlite3

import pytest

from fhirpeer.content_hash import content_hash
from fhirpeer.domain import Rejection, ResourceType
from fhirpeer.errors import LockHeldError
from fhirpeer.sync_engine.state import (
    OWNER_FHIRPEER,
    RETRACTED_HASH,
    AbsentRow,
    RunLock,
    StateStore,
    Written,
    target_id,
)


def test_content_hash_ignores_key_order_but_not_values():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"b": [1, 2]}) != content_hash({"b": [2, 1]})


def test_state_is_per_target(tmp_path):
    path = tmp_path / "s.sqlite"
    one = StateStore(path, target_id("http://a/fhir", "https://ns"))
    one.record_written([Written("Patient", "M1", "h1", "id1", "1")], "run1")
    other = StateStore(path, target_id("http://b/fhir", "https://ns"))
    assert other.lookup("Patient", ["M1"]) == {}
    assert one.lookup("Patient", ["M1"])["M1"].server_id == "id1"
    assert target_id("http://a/fhir/", "https://ns") == target_id("http://a/fhir", "https://ns")


def test_record_written_upserts(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    store.record_written([Written("Encounter", "C1", "h1", "9", "1")], "r1")
    store.record_written([Written("Encounter", "C1", "h2", "9", "2")], "r2")
    row = store.lookup("Encounter", ["C1"])["C1"]
    assert (row.hash, row.version_id) == ("h2", "2")
    assert store.count_synced() == {"Encounter": 1}


def test_rejections_keep_first_run_and_clear_when_accepted(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    bad = Rejection("peer_contacts.csv", 4, "C3", "mode", "mode: unknown value", ResourceType.ENCOUNTER)
    store.replace_rejections([bad], "run1")
    store.replace_rejections([bad], "run2")
    [row] = store.rejections()
    assert (row["first_run"], row["last_run"]) == ("run1", "run2")
    store.replace_rejections([], "run3")
    assert store.rejections() == []


def test_interrupted_runs_are_marked_when_the_next_run_begins(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    store.begin_run("r1", "sync", "http://x")
    store.begin_run("r2", "sync", "http://x")
    runs = {r["run_id"]: r["status"] for r in store.last_runs()}
    assert runs == {"r1": "interrupted", "r2": "running"}


def test_run_lock_excludes_a_second_holder(tmp_path):
    with RunLock(tmp_path / "s.sqlite"):
        with pytest.raises(LockHeldError) as exc, RunLock(tmp_path / "s.sqlite"):
            pass
        assert exc.value.exit_code == 4
    # released: taken again, and it excludes others again
    with RunLock(tmp_path / "s.sqlite"), pytest.raises(LockHeldError):
        RunLock(tmp_path / "s.sqlite").__enter__()


def test_what_an_export_still_holds_is_counted_without_retracted_records(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    store.record_written([Written("Encounter", f"C{n}", "h", str(n), "1") for n in range(5)], "r1")
    store.record_written([Written("Encounter", "C4", RETRACTED_HASH, "4", "2")], "r2")
    store.record_written([Written("Patient", "M1", "h", "p1", "1")], "r1")
    assert store.count_live() == {"Encounter": 4, "Patient": 1}
    assert store.count_known("Encounter", ["C0", "C1", "C4", "C9"]) == 2  # C4 is retracted, C9 never synced
    assert store.count_known("Encounter", [f"C{n}" for n in range(1200)]) == 4  # queried 500 keys at a time


def test_seen_keys_live_in_a_temporary_table_and_give_the_absent_records(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore(path, "t")
    store.record_written([Written("Encounter", f"C{n}", "h", f"id{n}", "1") for n in range(4)], "r1")
    store.record_written([Written("Encounter", "C3", RETRACTED_HASH, "id3", "2")], "r2")
    store.start_seen_keys()
    store.remember_seen("Encounter", ["C0", "C2", "C2", "C7"])
    assert store.absent("Encounter") == [AbsentRow("C1", "id1", "1", OWNER_FHIRPEER)]
    store.start_seen_keys()  # a new run starts from no keys
    assert [row.key for row in store.absent("Encounter")] == ["C0", "C1", "C2"]
    store.close()
    reopened = sqlite3.connect(path)
    tables = {name for (name,) in reopened.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "seen_keys" not in tables  # temporary: never in the state file


def test_a_directory_or_a_foreign_file_is_no_state_store(tmp_path):
    from fhirpeer.errors import StatePathError

    with pytest.raises(StatePathError, match="is a directory"):
        StateStore(tmp_path)
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(b"MRN,name\n")
    with pytest.raises(StatePathError, match="is not an SQLite database"):
        StateStore(foreign)
    assert foreign.read_bytes() == b"MRN,name\n"  # left as it was
    with pytest.raises(StatePathError, match="cannot be created"), RunLock(foreign / "state.sqlite"):
        pass


def test_every_run_is_listed_with_its_error_and_what_it_wrote(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    store.record_refused_run("r0", "sync", "http://x/fhir", exit_code=3, error=("unreachable", "GET metadata: …"))
    store.begin_run("r1", "sync", "http://x/fhir")
    store.record_written([Written("Patient", f"M{n}", "h", str(n), "1") for n in range(1500)], "r1")
    # r1 is killed here: it never finishes. The next run marks it interrupted.
    store.begin_run("r2", "sync", "http://x/fhir")
    store.finish_run("r2", status="aborted", exit_code=5, counts={"Patient": {"created": 0, "updated": 3}},
                     rejected=0, conflicts=0, error=("aborted", "aborted part-way"))  # fmt: skip
    runs = {r["run_id"]: r for r in store.last_runs(0)}
    assert (runs["r0"]["status"], runs["r0"]["exit_code"], runs["r0"]["error_category"]) == (
        "not_started", 3, "unreachable")  # fmt: skip
    assert runs["r1"]["status"] == "interrupted" and runs["r1"]["counts"] is None
    assert (runs["r2"]["status"], runs["r2"]["error_message"]) == ("aborted", "aborted part-way")
    assert store.written_by_run(runs) == {"r1": 1500}


def test_conflicts_of_a_complete_run_replace_the_previous_ones(tmp_path):
    store = StateStore(tmp_path / "s.sqlite", "t")
    store.replace_conflicts([("Encounter", "C1", "changed"), ("Encounter", "C2", "changed")], "r1")
    store.replace_conflicts([("Encounter", "C2", "changed again")], "r2")
    assert store.conflicts() == [
        {"resource_type": "Encounter", "key": "C2", "reason": "changed again", "first_run": "r1", "last_run": "r2"}
    ]


def test_a_store_made_before_runs_had_error_columns_is_upgraded(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, target TEXT, server TEXT, command TEXT NOT NULL, "
        "started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, exit_code INTEGER, counts TEXT, "
        "rejected INTEGER, conflicts INTEGER)"
    )
    db.execute("INSERT INTO runs VALUES ('old', 't', 's', 'sync', '2026-01-01T00:00:00Z', NULL, 'finished', 0, "
               "'{}', 0, 0)")  # fmt: skip
    db.commit()
    db.close()
    store = StateStore(path, "t")
    (run,) = store.last_runs()
    assert run["run_id"] == "old" and run["error_category"] is None
