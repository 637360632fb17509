"""Golden test: a small realistic export → the exact NDJSON and report `fhirpeer validate` writes.

The export (tests/fixtures/golden/export/) has all six files: sites.csv with a UTF-8 BOM, patients.csv with
CRLF line endings and a blank line, a handoff note with quoted commas, doubled quotes and embedded newlines,
non-ASCII and apostrophe names, an extra column, and one deliberately bad row (or duplicate) per file.

The expected output (tests/fixtures/golden/expected/) was generated with the real command and reviewed by
eye against the contract. To regenerate after an intended mapping change:

    FHIRPEER_UPDATE_GOLDEN=1 pytest tests/unit/mappers/test_golden.py

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
            "Appointment.ndjson",
            "CareTeam.ndjson",
            "Encounter.ndjson",
            "Organization.ndjson",
            "Patient.ndjson",
            "Practitioner.ndjson",
            "PractitionerRole.ndjson",
            "ServiceRequest.ndjson",
            "Task.ndjson",
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
    # contacts that happened; C-0009 (entered in error) only marks what a sync sent before, so it is not previewed
    assert {k: (e["status"], e["class"]["code"]) for k, e in encounters.items()} == {
        "C-0001": ("finished", "AMB"),
        "C-0002": ("finished", "VR"),
        "C-0003": ("finished", "FLD"),
        "C-0006": ("finished", "EMER"),  # ED bedside visit: blank setting at the ED site, not an admission
        "C-0012": ("finished", "VR"),  # its duration cell was bad: dropped with a warning
        "C-0013": ("finished", "HH"),
        "C-0014": ("finished", "IMP"),  # a bedside visit to an admitted patient
        "C-0015": ("finished", "EMER"),  # setting emergency_department
        "C-0016": ("finished", "FLD"),
    }
    assert encounters["C-0006"]["basedOn"] == [
        {"reference": "ServiceRequest?identifier=https://fhir.example.org/sid/handoff|H-0001"}
    ]  # the ED bedside visit after the ed_to_peer handoff
    assert encounters["C-0016"]["basedOn"][0]["reference"].endswith("|H-0003")  # first contact after aftercare
    assert "length" not in encounters["C-0012"]
    assert "serviceProvider" not in encounters["C-0002"]
    for enc in encounters.values():
        assert enc["type"][0]["coding"][1]["system"].endswith("/CodeSystem/peer-contact-mode")
        assert enc["serviceType"]["coding"][0]["code"] == "peer-support"
        assert "reasonCode" not in enc
        assert enc["participant"][0]["period"] == enc["period"]
        assert enc["appointment"][0]["reference"].endswith(f"|{enc['identifier'][0]['value']}")
    assert [t["text"] for t in encounters["C-0013"]["type"]] == ["In-person peer contact", "Home visit", "Engagement"]
    appointments = load("Appointment")
    assert {k: (a["status"], a["start"], a["end"], a.get("minutesDuration")) for k, a in appointments.items()} == {
        "C-0004": ("noshow", "2026-01-09T11:00:00-05:00", "2026-01-09T11:30:00-05:00", None),  # site zone, slot
        "C-0005": ("booked", "2026-01-08T16:00:00-05:00", "2026-01-08T16:30:00-05:00", 30),
        "C-0008": ("cancelled", "2026-01-12T13:00:00-05:00", "2026-01-12T13:30:00-05:00", None),
        "C-0017": ("noshow", "2026-01-26T10:00:00-05:00", "2026-01-26T10:30:00-05:00", 30),
    }
    for resource in [*encounters.values(), *appointments.values()]:
        assert "length" not in resource or resource["status"] == "finished"
    care_teams = load("CareTeam")
    assert {k: (t["status"], len(t["participant"])) for k, t in care_teams.items()} == {
        "T-100201": ("active", 4),
        "T-100202": ("inactive", 2),
        "T-100203": ("active", 1),
        "T-100204": ("active", 2),
    }
    assert {t["category"][0]["coding"][0]["code"] for t in care_teams.values()} == {"LA27977-0"}
    champion = next(p for p in care_teams["T-100204"]["participant"] if p["member"]["reference"].endswith("|D-10"))
    assert [c["system"].rsplit("/", 1)[1] for c in champion["role"][0]["coding"]] == ["care-team-role"]
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
    assert [c["coding"][0]["code"] for c in requests["H-0004"]["category"]] == [
        "sdoh",
        "transportation-insecurity",
        "3457005",
    ]
    assert [c["coding"][0]["code"] for c in requests["H-0001"]["category"]] == ["410606002", "3457005"]
    assert [c["code"] for c in requests["H-0005"]["code"]["coding"]] == ["sud_treatment"]  # 1254709001 is gone
    assert requests["H-0001"]["note"][0]["text"].count("\n") == 2
    patients = load("Patient")
    assert patients["MRN-100207"]["name"][0]["extension"][0]["valueCode"] == "unknown"
    assert patients["MRN-100206"]["gender"] == patients["MRN-100207"]["gender"] == "unknown"
    roles = load("PractitionerRole")
    specialties = {k: [c["code"] for s in r.get("specialty", []) for c in s["coding"]] for k, r in roles.items()}
    assert specialties == {
        "P-01": ["175T00000X"],
        "P-02": ["175T00000X"],
        "D-10": ["207Q00000X"],  # from staff.csv taxonomy, not hard-coded for every PCP
        "D-11": ["1041C0700X"],
        "D-12": ["2084P0802X"],
        "D-20": ["207P00000X"],
        "P-90": [],
        "P-03": ["175T00000X"],  # its bad NPI is dropped with a warning: the peer and its role still sync
    }
    for resource in [*encounters.values(), *appointments.values(), *care_teams.values(), *requests.values()]:
        codes = [c["code"] for c in resource["meta"]["security"]]
        assert "R" in codes and "42CFRPart2" in codes
    for resource in patients.values():  # the Patients fhirpeer creates are labelled too
        assert "42CFRPart2" in [c["code"] for c in resource["meta"]["security"]]
    for resource in [*load("Practitioner").values(), *roles.values(), *load("Organization").values()]:
        assert "meta" not in resource
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
        ("patients.csv", 9, 7, None),  # a blank line
        ("care_team.csv", 12, 11, 4),  # member rows → teams
        ("handoffs.csv", 11, 8, None),  # a note spanning lines 2-4
        ("peer_contacts.csv", 18, 17, None),
    ]
    assert report["skipped_by_reason"] == {
        "peer_contacts.csv mode text: text contacts are not sent (setting send_text_contacts)": 1
    }
    assert not set(TIMING_FIELDS) & set(report)
