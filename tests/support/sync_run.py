"""Running `fhirpeer sync` in server tests and reading back what the server holds, per business key."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from fhirpeer.cli import main
from tests.support.inventory import versions

#: The resource types the sample program becomes, in write order.
TYPES = (
    "Organization", "Practitioner", "Patient", "PractitionerRole", "CareTeam", "ServiceRequest", "Appointment",
    "Encounter",
)  # fmt: skip
#: Contact statuses that did not happen: an Appointment, never an Encounter (issue 12).
NOT_HAPPENED = ("scheduled", "cancelled", "no_show")


def sync(base_url: str, namespace: str, export: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`fhirpeer sync` through the CLI with a state store in `tmp_path`; (exit code, report JSON or {})."""
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
    """type → key → versionId; fails when any key is held more than once."""
    return {t: versions(base_url, namespace, t) for t in TYPES}


def expected_keys(export: Path) -> dict[str, set[str]]:
    """The business keys a first sync of `export` must leave on the server, per type (text contacts are not
    sent; a contact that happened is an Encounter, one that did not an Appointment; entered_in_error only marks
    what was sent before)."""
    contacts = [r for r in rows(export / "peer_contacts.csv") if r["mode"] != "text"]
    staff = rows(export / "staff.csv")
    return {
        "Organization": {r["site_id"] for r in rows(export / "sites.csv")},
        "Practitioner": {r["staff_id"] for r in staff},
        "Patient": {r["patient_mrn"] for r in rows(export / "patients.csv")},
        "PractitionerRole": {r["staff_id"] for r in staff if r.get("site_id")},
        "Appointment": {r["contact_id"] for r in contacts if r["status"] in NOT_HAPPENED},
        "Encounter": {r["contact_id"] for r in contacts if r["status"] == "completed"},
        "CareTeam": {r["team_id"] for r in rows(export / "care_team.csv")},
        "ServiceRequest": {r["handoff_id"] for r in rows(export / "handoffs.csv")},
    }


def assert_exactly_once(base_url: str, namespace: str, export: Path) -> dict[str, dict[str, str]]:
    """Every expected key is on the server exactly once, and nothing else under the namespace."""
    held = all_versions(base_url, namespace)
    for rtype, keys in expected_keys(export).items():
        assert set(held[rtype]) == keys, rtype
    return held


def written(report: dict[str, Any]) -> int:
    return sum(c["created"] + c["updated"] for c in report["counts"].values())
