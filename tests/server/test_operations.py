"""Running fhirpeer unattended against a real server: exit codes 0, 1, 2 (no FHIR base), 5 (aborted part-way, then
a rerun finishes), 6 (--max-rejected); the report of every run, what it changed, metrics; `status` with every
run, conflicts, hashed keys, --config and --json; an interrupted run's writes; the README's scheduler example."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

import fhirpeer
from fhirpeer.cli import main
from fhirpeer.demo.sample import generate_program
from tests.support.fault_proxy import FaultProxy
from tests.support.inventory import fhir_client, inventory
from tests.support.paths import REPO
from tests.support.reports import assert_valid_report
from tests.support.sync_run import all_versions, assert_exactly_once, expected_keys, rows, sync, write_rows


def status_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["status", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def changed(report: dict[str, Any], outcome: str) -> dict[str, set[str]]:
    return {t: set(c[outcome]) for t, c in report["changes"].items() if c[outcome]}


def created_per_expected_type(report: dict[str, Any], export: Path) -> dict[str, set[str]]:
    """The keys created, for the types `expected_keys` knows (Tasks etc. ride along with their records)."""
    return {t: changed(report, "created").get(t, set()) for t in expected_keys(export)}


def test_exit_0_and_1_reports_say_what_changed_and_metrics_follow(fhir_base_url, test_namespace, export, tmp_path):
    metrics = tmp_path / "textfile" / "fhirpeer.prom"
    code, first = sync(fhir_base_url, test_namespace, export, tmp_path, "--metrics-textfile", str(metrics))
    assert code == 0, first["rejected"][:3]
    assert_valid_report(first)
    assert first["error"] is None and first["exit_code"] == 0
    assert created_per_expected_type(first, export) == expected_keys(export)  # every key the run created, per type
    figures = {
        (s.name, s.labels.get("resource_type"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    assert figures[("fhirpeer_sync_exit_code", None, None)] == 0
    assert figures[("fhirpeer_sync_records", "Patient", "created")] == len(expected_keys(export)["Patient"])

    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0 and assert_valid_report(again)["changes"] == {}  # nothing changed

    contacts = rows(export / "peer_contacts.csv")
    edited = next(r for r in contacts if r["mode"] == "telephone" and r["status"] == "completed")
    edited["duration_min"] = str(int(edited["duration_min"] or 0) + 5)
    broken = next(r for r in contacts if r["mode"] == "video" and r is not edited)
    broken["mode"] = "fax"
    write_rows(export / "peer_contacts.csv", contacts)
    code, third = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1 and assert_valid_report(third)["error"] is None
    assert changed(third, "updated") == {"Encounter": {edited["contact_id"]}}
    assert [r["id"] for r in third["rejected"]] == [broken["contact_id"]]


def test_a_base_url_without_its_fhir_path_exits_2_naming_the_base(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    parts = urlsplit(fhir_base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    assert fhir_base_url != origin, "the server under test must have a base path for this test"
    code, report = sync(origin, test_namespace, export, tmp_path)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{origin} answers, but is not a FHIR base URL" in err
    assert f"did you mean {fhir_base_url} ?" in err
    assert "Traceback" not in err
    assert assert_valid_report(report)["error"]["category"] == "not_fhir_base"
    assert inventory(fhir_base_url, test_namespace, "Patient") == {}  # nothing written


def _refuse_encounters(method: str, path: str, body: bytes) -> tuple[int, bytes] | None:
    """The server fails (503) every write carrying an Encounter: the rosters land, the contacts do not."""
    if method in ("POST", "PUT") and b'"resourceType":"Encounter"' in body:
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "transient"}]}
        return 503, json.dumps(outcome).encode()
    return None


def test_aborted_part_way_exits_5_records_what_was_confirmed_and_a_rerun_finishes(
    fhir_base_url, test_namespace, export, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("FHIRPEER_MAX_ATTEMPTS", "2")  # a small retry budget that the 503s outlast
    monkeypatch.setenv("FHIRPEER_RETRY_BUDGET_SECONDS", "5")
    with FaultProxy(fhir_base_url, refuse=_refuse_encounters) as proxy:
        code, report = sync(proxy.base_url, test_namespace, export, tmp_path)
        err = capsys.readouterr().err
        assert code == 5, err
        assert "aborted part-way by the server" in err and "HTTP 503" in err and "a rerun finishes the job" in err
        assert_valid_report(report)
        assert report["error"]["category"] == "aborted" and report["exit_code"] == 5
        written = sum(c["created"] + c["updated"] for c in report["counts"].values())
        assert report["counts"]["Patient"]["created"] == len(expected_keys(export)["Patient"])
        assert report["counts"].get("Encounter", {}).get("created", 0) == 0
        held = all_versions(fhir_base_url, test_namespace)
        assert set(held["Patient"]) == expected_keys(export)["Patient"] and held["Encounter"] == {}

        (run,) = status_json(capsys, "--state", str(tmp_path / "state.sqlite"))["runs"]
        assert (run["status"], run["exit_code"], run["written"]) == ("aborted", 5, written)
        assert run["error"]["category"] == "aborted"

        proxy.refuse = None  # the server recovers; the next night's run
        code, rerun = sync(proxy.base_url, test_namespace, export, tmp_path)
        assert code == 0, rerun["rejected"][:3]
    patients = len(expected_keys(export)["Patient"])
    assert rerun["counts"]["Patient"] == {"created": 0, "updated": 0, "unchanged": patients, "failed": 0, "skipped": 0}
    assert created_per_expected_type(rerun, export)["Encounter"] == expected_keys(export)["Encounter"]
    assert created_per_expected_type(rerun, export)["Patient"] == set()
    assert_exactly_once(fhir_base_url, test_namespace, export)


def test_more_rejections_than_max_rejected_exit_6_after_syncing_the_rest(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    contacts = rows(export / "peer_contacts.csv")
    bad = [r for r in contacts if r["mode"] == "telephone"][:2]
    for r in bad:
        r["mode"] = "fax"
    write_rows(export / "peer_contacts.csv", contacts)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--max-rejected", "1")
    err = capsys.readouterr().err
    assert code == 6, err
    assert "2 of " in err and "max_rejected is 1" in err
    assert assert_valid_report(report)["error"]["category"] == "max_rejected"
    held = all_versions(fhir_base_url, test_namespace)
    assert set(held["Encounter"]) == expected_keys(export)["Encounter"] - {r["contact_id"] for r in bad}
    (run,) = status_json(capsys, "--state", str(tmp_path / "state.sqlite"))["runs"]
    assert (run["status"], run["exit_code"], run["rejected"]) == ("finished", 6, 2)
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path, "--max-rejected", "50%")
    assert code == 1  # within the allowance: exit 1 as usual


def test_status_lists_conflicts_with_their_keys(fhir_base_url, test_namespace, export, tmp_path, capsys):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["mode"] == "telephone" and r["duration_min"])
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]][0]
    enc["length"]["value"] = 99  # someone fixes the duration in the EHR
    with fhir_client(fhir_base_url) as client:
        assert client.put(f"Encounter/{enc['id']}", enc).status == 200
    target["duration_min"] = "31"
    write_rows(export / "peer_contacts.csv", contacts)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    assert changed(report, "conflict") == {"Encounter": {target["contact_id"]}}

    state = ["--state", str(tmp_path / "state.sqlite")]
    found = status_json(capsys, *state)
    assert [(c["resource_type"], c["key"]) for c in found["conflicts"]] == [("Encounter", target["contact_id"])]
    assert [r["conflicts"] for r in found["runs"]] == [1, 0]
    assert main(["status", *state]) == 0
    text = capsys.readouterr().out
    assert "1 record(s) currently in conflict" in text and f"Encounter {target['contact_id']}" in text


def test_hashed_keys_in_reports_and_status_and_status_reads_the_config(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    contacts = rows(export / "peer_contacts.csv")
    contacts[1]["mode"] = "fax"
    write_rows(export / "peer_contacts.csv", contacts)
    config = tmp_path / "config.yaml"
    state = tmp_path / "elsewhere" / "state.sqlite"
    # the namespace salts the hashes: `status` reads it from the same config
    config.write_text(f"state: {state}\nnamespace: {test_namespace}\nhash_keys_in_reports: true\n", encoding="utf-8")
    report_path = tmp_path / "report.json"
    code = main(["sync", "--config", str(config), "--server", fhir_base_url, "--input", str(export),
                 "--report-json", str(report_path), "--no-progress"])  # fmt: skip
    assert code == 1
    text = report_path.read_text()
    report = assert_valid_report(json.loads(text))
    keys = set().union(*expected_keys(export).values())
    assert report["keys_hashed"] and not [k for k in keys if re.search(rf'"{re.escape(k)}"', text)]
    assert all(k.startswith("h:") for c in report["changes"].values() for k in c["created"])

    found = status_json(capsys, "--config", str(config))  # the state path comes from the config file
    assert found["state"] == str(state) and found["keys_hashed"]
    assert [r["record_id"] for r in found["rejections"]] == [report["rejected"][0]["id"]]
    assert found["rejections"][0]["record_id"].startswith("h:")


def _synced(state: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(state, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM synced").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_an_interrupted_run_shows_what_it_wrote(fhir_base_url, test_namespace, tmp_path, capsys):
    export = tmp_path / "big"
    generate_program(export, patients=60, seed=8)
    state = tmp_path / "state.sqlite"
    cmd = [sys.executable, "-m", "fhirpeer.cli", "sync", "--server", fhir_base_url, "--namespace", test_namespace,
           "--input", str(export), "--state", str(state), "--no-progress", "--batch-size", "20"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    deadline = time.monotonic() + 120
    while _synced(state) < 40 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = _synced(state)
    assert killed_after >= 40
    (run,) = status_json(capsys, "--state", str(state))["runs"]
    assert run["status"] == "running" and run["written_from"] == "state"
    assert run["written"] >= killed_after  # not "written 0"
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    killed, rerun = sorted(status_json(capsys, "--state", str(state))["runs"], key=lambda r: r["status"])[::-1]
    assert killed["status"] == "interrupted" and killed["written"] >= killed_after
    assert rerun["status"] == "finished" and rerun["exit_code"] == 0


def _readme_python(section: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index(section)
    match = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert match, f"no python block after {section!r}"
    return match[1]


def test_the_readme_scheduler_example_works_as_written(fhir_base_url, test_namespace, export, tmp_path, monkeypatch):
    code = _readme_python("From Python (Airflow, Dagster")
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    task = next(v for k, v in scope.items() if callable(v) and k.startswith("nightly"))
    for name in [n for n in os.environ if n.startswith("FHIRPEER_") and n != "FHIRPEER_TEST_SERVER"]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"server: {fhir_base_url}\nnamespace: {test_namespace}\nstate: {tmp_path / 'state.sqlite'}\n", encoding="utf-8"
    )
    result = task(str(export), str(config))
    assert result["exit_code"] == 0 and created_per_expected_type(result, export) == expected_keys(export)

    down = tmp_path / "down.yaml"
    down.write_text(
        f"server: http://127.0.0.1:9/fhir\nnamespace: {test_namespace}\nstate: {tmp_path / 'down.sqlite'}\n"
        "max_attempts: 1\n",
        encoding="utf-8",
    )
    with pytest.raises(fhirpeer.FhirpeerError) as caught:
        task(str(export), str(down))
    assert caught.value.exit_code == 3 and caught.value.report is not None
    kept = json.loads((tmp_path / "failed-report.json").read_text())
    assert assert_valid_report(kept)["exit_code"] == 3
