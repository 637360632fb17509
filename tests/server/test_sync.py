"""`fhirpeer sync` against a real FHIR server (embedded sekmet, or FHIRPEER_TEST_SERVER).

Each test uses its own identifier namespace, so tests never see each other's data.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from fhirpeer.cli import main
from fhirpeer.sample import generate_program
from tests.support.inventory import inventory, versions

TYPES = ("Organization", "Practitioner", "Patient", "Encounter", "CareTeam", "ServiceRequest")
STRATEGIES = ("transaction", "batch", "conditional_put", "search_then_write", "client_id_put")


@pytest.fixture(autouse=True, params=STRATEGIES)
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs once per write strategy (the fallbacks must hold the same guarantees)."""
    monkeypatch.setenv("FHIRPEER_STRATEGY", request.param)
    return request.param


@pytest.fixture
def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    generate_program(out, patients=24, seed=3)
    return out


def sync(base_url: str, namespace: str, export: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    report = tmp_path / f"report-{time.monotonic_ns()}.json"
    code = main([
        "sync", "--server", base_url, "--input", str(export), "--state", str(tmp_path / "state.sqlite"),
        "--namespace", namespace, "--report-json", str(report), "--no-progress", *extra,
    ])  # fmt: skip
    return code, (json.loads(report.read_text()) if report.exists() else {})


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, data: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)


def all_versions(base_url: str, namespace: str) -> dict[str, dict[str, str]]:
    return {t: versions(base_url, namespace, t) for t in TYPES}


def expected_keys(export: Path) -> dict[str, set[str]]:
    contacts = [r for r in rows(export / "peer_contacts.csv") if r["mode"] != "text"]
    return {
        "Organization": {r["site_id"] for r in rows(export / "sites.csv")},
        "Practitioner": {r["staff_id"] for r in rows(export / "staff.csv")},
        "Patient": {r["patient_mrn"] for r in rows(export / "patients.csv")},
        "Encounter": {r["contact_id"] for r in contacts},
        "CareTeam": {r["team_id"] for r in rows(export / "care_team.csv")},
        "ServiceRequest": {r["handoff_id"] for r in rows(export / "handoffs.csv")},
    }


def test_first_sync_creates_everything_once_and_rerun_writes_nothing(fhir_base_url, test_namespace, export, tmp_path):
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, report
    expected = expected_keys(export)
    held = all_versions(fhir_base_url, test_namespace)
    for rtype in TYPES:
        assert set(held[rtype]) == expected[rtype], rtype
        assert report["counts"][rtype]["created"] == len(expected[rtype])
    assert report["counts"]["Encounter"]["skipped"] == len(
        [r for r in rows(export / "peer_contacts.csv") if r["mode"] == "text"]
    )

    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    for rtype in TYPES:
        assert again["counts"][rtype]["created"] == again["counts"][rtype]["updated"] == 0
        assert again["counts"][rtype]["unchanged"] == len(expected[rtype])
    assert all_versions(fhir_base_url, test_namespace) == held  # no versionId moved


def test_changing_one_row_updates_exactly_that_resource(fhir_base_url, test_namespace, export, tmp_path):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    before = all_versions(fhir_base_url, test_namespace)
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["status"] == "completed" and r["mode"] == "telephone")
    target["duration_min"] = str(int(target["duration_min"] or 0) + 7)
    write_rows(export / "peer_contacts.csv", contacts)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert report["counts"]["Encounter"]["updated"] == 1
    after = all_versions(fhir_base_url, test_namespace)
    changed = {(t, k) for t in TYPES for k in after[t] if after[t][k] != before[t][k]}
    assert changed == {("Encounter", target["contact_id"])}
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]][0]
    assert enc["length"]["value"] == int(target["duration_min"])


def test_entered_in_error_row_becomes_entered_in_error(fhir_base_url, test_namespace, export, tmp_path):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    target = next(r for r in contacts if r["mode"] != "text")
    target["status"] = "entered_in_error"
    handoffs = rows(export / "handoffs.csv")
    handoffs[0]["status"] = "entered_in_error"
    write_rows(export / "peer_contacts.csv", contacts)
    write_rows(export / "handoffs.csv", handoffs)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    enc = inventory(fhir_base_url, test_namespace, "Encounter")[target["contact_id"]]
    sr = inventory(fhir_base_url, test_namespace, "ServiceRequest")[handoffs[0]["handoff_id"]]
    assert [e["status"] for e in enc] == ["entered-in-error"]
    assert [s["status"] for s in sr] == ["entered-in-error"]


def test_bad_rows_are_rejected_and_every_good_row_lands(fhir_base_url, test_namespace, export, tmp_path):
    contacts = rows(export / "peer_contacts.csv")
    contacts[2]["mode"] = "carrier_pigeon"
    contacts[5]["patient_mrn"] = "MRN-NOT-ANYWHERE"  # a reference nobody can resolve
    write_rows(export / "peer_contacts.csv", contacts)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 1
    bad = {r["id"]: r for r in report["rejected"]}
    assert set(bad) == {contacts[2]["contact_id"], contacts[5]["contact_id"]}
    assert bad[contacts[2]["contact_id"]]["reason"] == "mode: unknown value"
    assert bad[contacts[2]["contact_id"]]["line"] == 4  # header is line 1, no multi-line rows here
    assert "patient_mrn" in bad[contacts[5]["contact_id"]]["reason"]
    expected = expected_keys(export)["Encounter"] - set(bad)
    assert set(versions(fhir_base_url, test_namespace, "Encounter")) == expected
    assert report["counts"]["Encounter"]["failed"] == 2


def test_missing_required_column_exits_2_and_writes_nothing(fhir_base_url, test_namespace, export, tmp_path, capsys):
    contacts = rows(export / "peer_contacts.csv")
    for r in contacts:
        del r["status"]
    write_rows(export / "peer_contacts.csv", contacts)
    code, _ = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 2
    assert "peer_contacts.csv: missing required column(s): status" in capsys.readouterr().err
    for rtype in TYPES:
        assert inventory(fhir_base_url, test_namespace, rtype) == {}


def test_dry_run_reads_the_server_and_writes_nothing(fhir_base_url, test_namespace, export, tmp_path):
    code, plan = sync(fhir_base_url, test_namespace, export, tmp_path, "--dry-run")
    assert code == 0
    expected = expected_keys(export)
    assert plan["counts"]["Encounter"]["created"] == len(expected["Encounter"])
    assert inventory(fhir_base_url, test_namespace, "Encounter") == {}
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    contacts = rows(export / "peer_contacts.csv")
    contacts[0]["duration_min"] = "999"
    write_rows(export / "peer_contacts.csv", contacts)
    before = all_versions(fhir_base_url, test_namespace)
    code, plan = sync(fhir_base_url, test_namespace, export, tmp_path, "--dry-run")
    assert plan["counts"]["Encounter"]["updated"] == 1
    assert plan["counts"]["Encounter"]["unchanged"] == len(expected["Encounter"]) - 1
    assert all_versions(fhir_base_url, test_namespace) == before


def test_state_lost_rerun_adopts_existing_resources_without_duplicates(fhir_base_url, test_namespace, export, tmp_path):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    (tmp_path / "state.sqlite").unlink()
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0
    assert report["counts"]["Encounter"]["created"] == 0
    all_versions(fhir_base_url, test_namespace)  # asserts every key exactly once


def test_status_lists_runs_and_quarantined_records_until_fixed(fhir_base_url, test_namespace, export, tmp_path, capsys):
    contacts = rows(export / "peer_contacts.csv")
    good_mode = contacts[1]["mode"]
    contacts[1]["mode"] = "fax"
    write_rows(export / "peer_contacts.csv", contacts)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 1
    capsys.readouterr()
    assert main(["status", "--state", str(tmp_path / "state.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "1 record(s) currently rejected" in out and contacts[1]["contact_id"] in out and "mode: unknown value" in out
    contacts[1]["mode"] = good_mode
    write_rows(export / "peer_contacts.csv", contacts)
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    capsys.readouterr()
    main(["status", "--state", str(tmp_path / "state.sqlite")])
    out = capsys.readouterr().out
    assert "0 record(s) currently rejected" in out
    assert out.count("finished") >= 2
