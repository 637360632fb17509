"""Golden test: a small realistic export → the exact NDJSON and report `fhirpeer validate` writes.

The export (tests/fixtures/golden/export/) has all six files: sites.csv with a UTF-8 BOM, patients.csv with
CRLF line endings and a blank line, a handoff note with quoted commas, doubled quotes and embedded newlines,
non-ASCII and apostrophe names, an extra column, and one deliberately bad row (or duplicate) per file.

The expected output (tests/fixtures/golden/expected/) was generated with the real command and reviewed by
eye against the contract. To regenerate after an intended mapping change:

    FHIRPEER_UPDATE_GOLDEN=1 pytest tests/unit/test_golden.py

then review the diff of tests/fixtures/golden/expected/ before committing it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fhirpeer.cli import main
from tests.support.paths import FIXTURES

GOLDEN = FIXTURES / "golden"
EXPORT = GOLDEN / "export"
EXPECTED = GOLDEN / "expected"
UPDATE = os.environ.get("FHIRPEER_UPDATE_GOLDEN") == "1"
TIMING_FIELDS = ("seconds", "started_at", "finished_at")
ARGS = ["--timezone", "America/New_York"]  # the site time zone for the timestamps without an offset


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], dict[str, Any], str]:
    ndjson = tmp_path / "ndjson"
    report = tmp_path / "report.json"
    code = main(["validate", "--input", str(EXPORT), "--ndjson-out", str(ndjson), "--report-json", str(report), *ARGS])
    out = capsys.readouterr()
    produced = {p.name: p.read_text(encoding="utf-8") for p in sorted(ndjson.glob("*.ndjson"))}
    doc = json.loads(report.read_text(encoding="utf-8"))
    for name in TIMING_FIELDS:
        doc.pop(name)
    return code, produced, doc, out.out + out.err


def test_fixture_keeps_its_awkward_bytes() -> None:
    """Guard the fixture against editors and tools that 'fix' encodings or line endings."""
    assert sorted(p.name for p in EXPORT.glob("*.csv")) == [
        "care_team.csv",
        "handoffs.csv",
        "patients.csv",
        "peer_contacts.csv",
        "sites.csv",
        "staff.csv",
    ]
    assert (EXPORT / "sites.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    patients = (EXPORT / "patients.csv").read_bytes()
    assert patients.count(b"\r\n") == patients.count(b"\n") > 5
    assert b"\r\n\r\n" in patients  # a blank line
    handoffs = (EXPORT / "handoffs.csv").read_text(encoding="utf-8")
    assert '""I want to try buprenorphine.""' in handoffs
    assert "\r" not in handoffs
    staff = (EXPORT / "staff.csv").read_text(encoding="utf-8")
    for name in ("José", "Núñez", "Zoë", "O'Connor", "Nguyễn", "Thị Hoa"):
        assert name in staff


def test_golden_validate_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, produced, report, console = _run(tmp_path, capsys)
    assert code == 1  # the deliberately bad rows
    if UPDATE:
        shutil.rmtree(EXPECTED, ignore_errors=True)
        EXPECTED.mkdir(parents=True)
        for name, text in produced.items():
            (EXPECTED / name).write_text(text, encoding="utf-8")
        (EXPECTED / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.skip(f"golden files regenerated in {EXPECTED}: review the diff")

    expected_files = sorted(p.name for p in EXPECTED.glob("*.ndjson"))
    assert (
        sorted(produced)
        == expected_files
        == [
            "CareTeam.ndjson",
            "Encounter.ndjson",
            "Organization.ndjson",
            "Patient.ndjson",
            "Practitioner.ndjson",
            "ServiceRequest.ndjson",
        ]
    )
    for name in expected_files:
        want = (EXPECTED / name).read_text(encoding="utf-8").splitlines()
        got = produced[name].splitlines()
        assert len(got) == len(want), name
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, f"{name} line {i + 1} differs"
        assert produced[name] == (EXPECTED / name).read_text(encoding="utf-8")
    assert report == json.loads((EXPECTED / "report.json").read_text(encoding="utf-8"))

    # no patient data on the console (names, notes), though it is in the NDJSON that is sent
    assert "buprenorphine" in produced["ServiceRequest.ndjson"]
    for phi in ("buprenorphine", "naloxone", "D'Angelo", "Nguyễn", "Müller", "1987-04-12", "NA meeting"):
        assert phi not in console
        assert phi not in json.dumps(report, ensure_ascii=False)


def test_golden_expectations_match_the_contract() -> None:
    """Spot checks on the reviewed golden files, so a blind regeneration cannot bless a contract break."""
    if UPDATE:
        pytest.skip("regenerating")

    def load(name: str) -> dict[str, dict[str, Any]]:
        lines = (EXPECTED / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()
        return {r["identifier"][0]["value"]: r for r in map(json.loads, lines)}

    encounters = load("Encounter")
    assert sorted(encounters) == [
        "C-0001",
        "C-0002",
        "C-0003",
        "C-0004",
        "C-0005",
        "C-0006",
        "C-0008",
        "C-0009",
        "C-0012",
        "C-0013",
    ]
    assert {k: (e["status"], e["class"]["code"]) for k, e in encounters.items()} == {
        "C-0001": ("finished", "AMB"),
        "C-0002": ("finished", "VR"),
        "C-0003": ("finished", "FLD"),
        "C-0004": ("cancelled", "HH"),
        "C-0005": ("planned", "VR"),
        "C-0006": ("finished", "IMP"),
        "C-0008": ("cancelled", "AMB"),
        "C-0009": ("entered-in-error", "VR"),
        "C-0012": ("finished", "VR"),
        "C-0013": ("finished", "HH"),
    }
    assert "length" not in encounters["C-0012"]  # its duration cell was bad: dropped with a warning
    assert encounters["C-0004"]["period"] == {"start": "2026-01-09T11:00:00-05:00"}  # site zone, no duration
    assert "serviceProvider" not in encounters["C-0002"]
    care_teams = load("CareTeam")
    assert {k: (t["status"], len(t["participant"])) for k, t in care_teams.items()} == {
        "T-100201": ("active", 4),
        "T-100202": ("inactive", 2),
        "T-100203": ("active", 1),
    }
    requests = load("ServiceRequest")
    assert {k: (r["status"], r["priority"]) for k, r in requests.items()} == {
        "H-0001": ("completed", "urgent"),
        "H-0002": ("active", "routine"),
        "H-0003": ("draft", "routine"),
        "H-0004": ("revoked", "routine"),
        "H-0005": ("revoked", "asap"),
        "H-0007": ("active", "stat"),
    }
    assert requests["H-0004"]["code"]["coding"][0]["code"] == "transportation"
    assert requests["H-0001"]["note"][0]["text"].count("\n") == 2
    for resource in [*encounters.values(), *care_teams.values(), *requests.values()]:
        codes = [c["code"] for c in resource["meta"]["security"]]
        assert "R" in codes and "42CFRPart2" in codes
    report = json.loads((EXPECTED / "report.json").read_text(encoding="utf-8"))
    assert [(r["file"], r["line"], r["id"], r["column"]) for r in report["rejected"]] == [
        ("care_team.csv", 8, "T-100203", "end_date"),
        ("care_team.csv", 10, "T-100201", "patient_mrn"),
        ("handoffs.csv", 9, "H-0006", "status"),  # after a record spanning lines 2-4
        ("handoffs.csv", 11, "H-0001", "handoff_id"),
        ("peer_contacts.csv", 11, "C-0010", "mode"),
        ("peer_contacts.csv", 12, "C-0011", "start"),
    ]
    # bad optional cells: the record is kept without the cell
    assert [(w["file"], w["line"], w["column"]) for w in report["warnings"]] == [
        ("sites.csv", 6, "kind"),
        ("staff.csv", 6, "npi"),  # fails the NPI check digit
        ("staff.csv", 7, "npi"),
        ("staff.csv", 9, "npi"),  # not 10 digits
        ("patients.csv", 7, "gender"),  # CRLF file with a blank line 5
        ("peer_contacts.csv", 13, "duration_min"),
    ]
    assert [(f["file"], f["lines"], f["records"], f.get("resources")) for f in report["files"]] == [
        ("sites.csv", 6, 5, None),
        ("staff.csv", 9, 8, None),
        ("patients.csv", 8, 6, None),
        ("care_team.csv", 10, 9, 3),  # member rows → teams
        ("handoffs.csv", 11, 8, None),
        ("peer_contacts.csv", 14, 13, None),
    ]
    assert report["skipped_by_reason"] == {
        "peer_contacts.csv mode text: text contacts are not sent (setting send_text_contacts)": 1
    }
    assert not set(TIMING_FIELDS) & set(report)
