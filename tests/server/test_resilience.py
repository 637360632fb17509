"""Never lose or duplicate a record: kills, overlapping runs, injected faults, parallel writers, conflicts."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fhirpeer.sync_engine.state import RunLock
from tests.server.conftest import EVERY_STRATEGY
from tests.support.exports import generate_export
from tests.support.fault_proxy import FaultProxy
from tests.support.inventory import fhir_client, inventory
from tests.support.paths import REPO
from tests.support.sync_run import all_versions, expected_keys, rows, sync, write_rows


def synced_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(state, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM synced").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def assert_exactly_once(base_url: str, namespace: str, export: Path) -> None:
    held = all_versions(base_url, namespace)  # asserts no key is held twice
    for rtype, keys in expected_keys(export).items():
        assert set(held[rtype]) == keys, rtype


@pytest.mark.slow
def test_sync_killed_at_random_points_then_rerun_holds_every_key_once(fhir_base_url, test_namespace, tmp_path):
    export = tmp_path / "export"
    generate_export(export, patients=60, seed=5)
    state = tmp_path / "state.sqlite"
    rng = random.Random(20261123)
    cmd = [
        sys.executable, "-m", "fhirpeer.cli", "sync", "--server", fhir_base_url, "--input", str(export),
        "--state", str(state), "--namespace", test_namespace, "--batch-size", "10", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(3):
        already = synced_rows(state)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for = already + rng.randint(5, 120)
        deadline = time.monotonic() + 60
        while proc.poll() is None and synced_rows(state) < wait_for and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1, "the export synced before any kill: make it bigger"
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, report["rejected"][:3]
    assert_exactly_once(fhir_base_url, test_namespace, export)
    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert sum(c["created"] + c["updated"] for c in again["counts"].values()) == 0


def test_second_sync_on_same_state_exits_4_at_once(fhir_base_url, test_namespace, tmp_path, capsys):
    export = tmp_path / "export"
    generate_export(export, patients=10, seed=1)
    with RunLock(tmp_path / "state.sqlite"):
        started = time.monotonic()
        code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 4
    assert time.monotonic() - started < 5
    assert "another fhirpeer sync is running" in capsys.readouterr().err
    assert inventory(fhir_base_url, test_namespace, "Patient") == {}


def test_lock_left_by_a_killed_run_is_taken_over(fhir_base_url, test_namespace, tmp_path):
    export = tmp_path / "export"
    generate_export(export, patients=10, seed=1)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from fhirpeer.sync_engine.state import RunLock; l=RunLock(sys.argv[1]); l.__enter__(); "
         "print('locked', flush=True); time.sleep(600)", str(tmp_path / "state.sqlite")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    assert (tmp_path / "state.sqlite.lock").exists()  # the stale lock file is still there
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert_exactly_once(fhir_base_url, test_namespace, export)


@pytest.mark.slow
def test_sync_through_25_percent_injected_faults_holds_every_key_once(fhir_base_url, test_namespace, tmp_path):
    export = tmp_path / "export"
    generate_export(export, patients=30, seed=9)
    faults = {"p_429": 0.07, "p_503": 0.06, "p_reset_before": 0.06, "p_drop_after": 0.06}
    with FaultProxy(fhir_base_url, seed=42, retry_after=1, **faults) as proxy:
        code, report = sync(proxy.base_url, test_namespace, export, tmp_path, "--batch-size", "15")
        counters = proxy.counters
        assert code == 0, report["rejected"][:3]
        assert counters["drop_after"] > 0 and counters["429"] > 0 and counters["reset_before"] > 0
        assert report["retries"] >= 1
        assert_exactly_once(fhir_base_url, test_namespace, export)  # checked on the server, not through the proxy

        # second night: updates go to Type/id with If-Match; a lost response then yields 412 on retry,
        # which must be recognised as our own write, not as someone else's change
        contacts = rows(export / "peer_contacts.csv")
        for r in [c for c in contacts if c["mode"] != "text" and c["status"] == "completed"][:40]:  # Encounters
            r["duration_min"] = str(int(r["duration_min"] or 0) + 1)
        write_rows(export / "peer_contacts.csv", contacts)
        proxy.reset_counters()
        code, report = sync(proxy.base_url, test_namespace, export, tmp_path, "--batch-size", "15")
        assert code == 0, (report["rejected"][:3], report["conflicts"][:3])
        assert not report["conflicts"], "a write whose response was lost must not be reported as a conflict"
        assert report["counts"]["Encounter"]["updated"] == 40
    assert_exactly_once(fhir_base_url, test_namespace, export)


def test_parallel_workers_produce_no_duplicates(fhir_base_url, test_namespace, tmp_path):
    export = tmp_path / "export"
    generate_export(export, patients=40, seed=11)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--workers", "4", "--batch-size", "25")
    assert code == 0, report["rejected"][:3]
    assert_exactly_once(fhir_base_url, test_namespace, export)


@EVERY_STRATEGY
def test_resource_edited_on_the_server_is_reported_as_conflict_and_left_alone(
    fhir_base_url, test_namespace, tmp_path, strategy
):
    export = tmp_path / "export"
    generate_export(export, patients=10, seed=2)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["mode"] == "telephone" and r["duration_min"])
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]][0]
    enc["length"]["value"] = 99  # someone fixes the duration in the EHR
    with fhir_client(fhir_base_url) as client:
        assert client.put(f"Encounter/{enc['id']}", enc).status == 200
    target["duration_min"] = "31"  # and the program also changes the row
    write_rows(export / "peer_contacts.csv", contacts)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    assert [(c["resourceType"], c["id"]) for c in report["conflicts"]] == [("Encounter", target["contact_id"])]
    now = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]]
    assert [e["length"]["value"] for e in now] == [99]  # left alone

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--conflict-policy", "overwrite")
    assert code == 0
    now = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]]
    assert [e["length"]["value"] for e in now] == [31]
    assert report["conflicts"] == [] and report["counts"]["Encounter"]["updated"] == 1


def test_encoding_error_deep_in_a_file_exits_2_before_anything_is_written(
    fhir_base_url, test_namespace, tmp_path, capsys
):
    export = tmp_path / "export"
    generate_export(export, patients=10, seed=1)
    data = (export / "peer_contacts.csv").read_bytes()
    cut = data.rindex(b"\n", 0, len(data) - 10)  # near the end, long after the rosters would have synced
    (export / "peer_contacts.csv").write_bytes(data[:cut] + b"\n\xff\xfe broken" + data[cut:])
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 2
    bad_line = data[:cut].count(b"\n") + 2  # the physical line of the first undecodable byte
    assert f"peer_contacts.csv: line {bad_line} is not UTF-8 text" in capsys.readouterr().err
    for rtype in ("Organization", "Practitioner", "Patient"):
        assert inventory(fhir_base_url, test_namespace, rtype) == {}
