"""`fhirpeer validate` via `fhirpeer.cli.main`: exit codes, report JSON, NDJSON and Bundles, no PHI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from fhirpeer.cli import main
from fhirpeer.mapping_files import default_mappings_dir

NS = "https://fhir.example.org"

# Planted PHI: must reach the NDJSON (it is sent to the server) but never stdout, stderr or the report.
PHI_GIVEN = "Quillonia"
PHI_FAMILY = "Verhoeven-Xanthopoulou"
PHI_NOTE = "relapsed after zebrafinch-4417 incident"
PHI_BIRTH = "1961-07-19"
PHI_BAD_CELL = "Marjolein-Oosterhuis-1234"

SITES = "site_id,name,kind\nS-1,Penn Family Medicine,primary_care\nS-2,Recovery Center,community_peer_program\n"
STAFF = (
    "staff_id,npi,family_name,given_name,discipline,site_id\n"
    "P-1,,Núñez,José,peer,S-1\nD-1,1245319599,Okafor,Adaeze,pcp,S-1\n"
)
PATIENTS = (
    "patient_mrn,family_name,given_name,birth_date,gender\n"
    f"MRN-1,{PHI_FAMILY},{PHI_GIVEN},{PHI_BIRTH},female\nMRN-2,O'Brien,Zoë,1990-01-01,\n"
)
CONTACTS = (
    "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,setting,site_id,purposes\n"
    "C-1,MRN-1,P-1,2026-01-05T10:00:00-05:00,in_person,completed,30,community,S-2,engagement\n"
    "C-2,MRN-2,P-1,2026-01-06T10:00:00-05:00,telephone,scheduled,,,,\n"
    "C-3,MRN-2,P-1,2026-01-06T11:00:00-05:00,text,completed,,,,\n"
)
CARE_TEAM = (
    "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id\n"
    "T-1,MRN-1,P-1,peer,2026-01-02,,S-1\nT-1,MRN-1,D-1,pcp,2026-01-02,,S-1\n"
)
HANDOFFS = (
    "handoff_id,patient_mrn,kind,requested_at,status,requester_id,to_staff_id,to_site_id,priority,via,note\n"
    "H-1,MRN-1,ed_to_peer,2026-01-05T08:00:00-05:00,completed,D-1,P-1,,urgent,in_person,"
    f'"{PHI_NOTE},\nsecond line"\n'
    "H-2,MRN-2,housing,2026-01-07T08:00:00-05:00,active,P-1,,S-2,,,\n"
)
CLEAN = {
    "sites.csv": SITES,
    "staff.csv": STAFF,
    "patients.csv": PATIENTS,
    "peer_contacts.csv": CONTACTS,
    "care_team.csv": CARE_TEAM,
    "handoffs.csv": HANDOFFS,
}


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def make_export(folder: Path, files: dict[str, str] | None = None, **extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**(files if files is not None else CLEAN), **extra}.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def load_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_no_phi(*texts: str) -> None:
    for text in texts:
        for phi in (PHI_GIVEN, PHI_FAMILY, "zebrafinch", PHI_BIRTH, PHI_BAD_CELL, "Oosterhuis"):
            assert phi not in text, phi


# --- exit codes ------------------------------------------------------------------------------------------


def test_clean_export_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = make_export(tmp_path / "in")
    report_path = tmp_path / "out" / "report.json"
    code, out, err = run(capsys, "--input", export, "--report-json", report_path)
    assert code == 0, err
    report = load_report(report_path)
    assert report["command"] == "validate"
    assert report["exit_code"] == 0
    assert report["rejected"] == []
    assert list(report["counts"]) == [
        "Organization",
        "Practitioner",
        "Patient",
        "PractitionerRole",
        "CareTeam",
        "ServiceRequest",
        "Task",
        "Appointment",
        "Encounter",
    ]
    assert {t: c["valid"] for t, c in report["counts"].items()} == {
        "Organization": 2,
        "Practitioner": 2,
        "Patient": 2,
        "PractitionerRole": 2,  # both staff members have a site
        "Encounter": 1,  # C-1 happened
        "Appointment": 1,  # C-2 is scheduled
        "CareTeam": 1,
        "ServiceRequest": 2,
        "Task": 2,  # a referral Task per handoff
    }
    # C-1's Appointment is only updated (fulfilled) if a sync sent one before: counted apart, never previewed
    assert report["counts"]["Appointment"]["only_if_exists"] == 1
    assert "only_if_exists" in out
    assert report["counts"]["Encounter"]["skipped"] == 1  # the text contact
    for counts in report["counts"].values():
        assert {"created", "updated", "unchanged", "failed"} <= set(counts)
        assert counts["failed"] == 0
    assert report["warnings"] == []
    assert "nothing was sent anywhere" in out
    assert_no_phi(out, err, report_path.read_text(encoding="utf-8"))


def test_bad_rows_exit_1_and_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contacts = CONTACTS + (
        "C-4,MRN-1,P-1,2026-01-07T10:00:00-05:00,zoom,completed,,,,\nC-5,MRN-1,P-1,2026-01-07,in_person,completed,,,,\n"
    )
    handoffs = HANDOFFS + f"H-3,MRN-1,ed_to_peer,2026-01-05T08:00:00-05:00,sent,,,,,,{PHI_NOTE}\n"
    patients = PATIENTS + f"MRN-3,Doe,Jane,{PHI_BAD_CELL},female\n"
    export = make_export(
        tmp_path / "in", **{"peer_contacts.csv": contacts, "handoffs.csv": handoffs, "patients.csv": patients}
    )
    report_path = tmp_path / "report.json"
    code, out, err = run(capsys, "--input", export, "--report-json", report_path)
    assert code == 1
    report = load_report(report_path)
    assert report["exit_code"] == 1
    rejected = [{k: r[k] for k in ("file", "line", "id", "reason")} for r in report["rejected"]]
    assert rejected == [
        {
            "file": "handoffs.csv",
            "line": 5,
            "id": "H-3",
            "reason": "status: unknown value (allowed: active, cancelled, completed, declined, entered_in_error, "
            "proposed)",
        },  # H-1 spans lines 2-3
        {
            "file": "peer_contacts.csv",
            "line": 5,
            "id": "C-4",
            "reason": "mode: unknown value (allowed: in_person, telephone, text, video)",
        },
        {
            "file": "peer_contacts.csv",
            "line": 6,
            "id": "C-5",
            "reason": "start: a date without a time (a date and time is required)",
        },
    ]
    # a bad birth date is an optional cell: dropped with a warning, the patient is still valid
    assert report["warnings"] == [
        {
            "file": "patients.csv",
            "line": 4,
            "column": "birth_date",
            "reason": "not an ISO 8601 date (YYYY-MM-DD); set date_formats for another layout; the cell is ignored",
        }
    ]
    assert report["counts"]["Patient"]["valid"] == 3
    assert "WARNING fhirpeer.warnings: patients.csv birth_date: not an ISO 8601 date" in err
    assert report["counts"]["Encounter"]["failed"] == 2
    assert report["counts"]["Encounter"]["valid"] == 1
    assert report["counts"]["Appointment"]["valid"] == 1
    sr_counts = report["counts"]["ServiceRequest"]
    assert {k: sr_counts[k] for k in ("created", "updated", "unchanged", "failed", "valid")} == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "failed": 1,
        "valid": 2,
    }
    assert "3 record(s) rejected" in out
    assert "peer_contacts.csv:5" in out
    assert_no_phi(out, err, report_path.read_text(encoding="utf-8"))


def test_missing_required_column_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contacts = CONTACTS.replace(",status,", ",state,", 1)
    export = make_export(tmp_path / "in", **{"peer_contacts.csv": contacts})
    ndjson, bundles = tmp_path / "nd", tmp_path / "bundles"
    code, out, err = run(capsys, "--input", export, "--ndjson-out", ndjson, "--bundles-out", bundles)
    assert code == 2
    assert "peer_contacts.csv" in err
    assert "status" in err
    assert not ndjson.exists() and not bundles.exists()
    assert_no_phi(out, err)


def test_non_utf8_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = make_export(tmp_path / "in")
    (export / "patients.csv").write_bytes(PATIENTS.replace("Zoë", "Zo\udceb").encode("utf-8", "surrogateescape"))
    code, out, err = run(capsys, "--input", export)
    assert code == 2
    assert "patients.csv" in err and "UTF-8" in err
    assert_no_phi(out, err)


def test_missing_input_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--input", tmp_path / "nope")
    assert code == 2
    assert "not found" in err


def _broken_mappings(tmp_path: Path, file: str, change: Any) -> Path:
    folder = tmp_path / "site-mappings"
    shutil.copytree(default_mappings_dir(), folder)
    data = yaml.safe_load((folder / file).read_text(encoding="utf-8"))
    change(data)
    (folder / file).write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("encounter.yaml", lambda d: d["status"].update(completed="done"), "status.completed"),
        ("appointment.yaml", lambda d: d["status"].pop("no_show"), "no_show"),
        ("servicerequest.yaml", lambda d: d.update(colour="blue"), "colour"),
    ],
)
def test_bad_mappings_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, change: Any, expected: str
) -> None:
    export = make_export(tmp_path / "in")
    mappings = _broken_mappings(tmp_path, file, change)
    ndjson = tmp_path / "nd"
    code, _, err = run(capsys, "--input", export, "--mappings", mappings, "--ndjson-out", ndjson)
    assert code == 2
    assert file in err and expected in err
    assert not ndjson.exists()


def test_bad_mappings_from_the_environment_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    export = make_export(tmp_path / "in")
    monkeypatch.setenv("FHIRPEER_MAPPINGS", str(_broken_mappings(tmp_path, "security.yaml", lambda d: d.pop("labels"))))
    code, _, err = run(capsys, "--input", export)
    assert code == 2
    assert "security.yaml" in err and "labels" in err


def test_unknown_time_zone_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--input", make_export(tmp_path / "in"), "--timezone", "Mars/Olympus_Mons")
    assert code == 2
    assert "site_timezone" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["validate"])
    assert caught.value.code == 2
    assert "--input" in capsys.readouterr().err


# --- written output --------------------------------------------------------------------------------------


def test_ndjson_out_writes_one_file_per_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = make_export(tmp_path / "in")
    ndjson = tmp_path / "nd"
    code, out, err = run(capsys, "--input", export, "--ndjson-out", ndjson)
    assert code == 0, err
    files = sorted(p.name for p in ndjson.iterdir())
    assert files == [
        f"{t}.ndjson"
        for t in sorted(
            {"Organization", "Practitioner", "PractitionerRole", "Patient", "Encounter", "Appointment", "CareTeam"}
            | {"ServiceRequest", "Task"}
        )
    ]
    by_type = {
        p.stem: [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for p in ndjson.iterdir()
    }
    assert [r["identifier"][0]["value"] for r in by_type["Encounter"]] == ["C-1"]
    assert [(r["identifier"][0]["value"], r["status"]) for r in by_type["Appointment"]] == [("C-2", "booked")]
    assert all(r["resourceType"] == t for t, rs in by_type.items() for r in rs)
    # the PHI is in what would be sent, verbatim (UTF-8, not escaped) …
    text = (ndjson / "Patient.ndjson").read_text(encoding="utf-8")
    assert PHI_FAMILY in text and "Zoë" in text
    assert by_type["ServiceRequest"][0]["note"] == [{"text": f"{PHI_NOTE},\nsecond line"}]
    # … and nowhere on the console
    assert_no_phi(out, err)


def test_bundles_out_writes_conditional_put_transactions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FHIRPEER_BATCH_SIZE", "1")
    export = make_export(tmp_path / "in")
    bundles = tmp_path / "bundles"
    code, _, err = run(capsys, "--input", export, "--bundles-out", bundles)
    assert code == 0, err
    paths = sorted(bundles.glob("*.json"))
    assert len(paths) == 15  # batch size 1: one Bundle per resource (C-1's fulfilled Appointment is not previewed)
    seen_urls: set[str] = set()
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        urls = [e["request"]["url"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            rtype = resource["resourceType"]
            assert path.name.endswith(f"-{rtype}.json")
            ident = resource["identifier"][0]
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{rtype}?identifier={ident['system']}|{ident['value']}",
            }
            assert ident["system"].startswith(f"{NS}/sid/")
            assert entry["fullUrl"].startswith("urn:uuid:")
            seen_urls.add(entry["request"]["url"])
    assert len(seen_urls) == 15


def test_bundles_group_by_type_without_duplicate_match_urls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handoffs = HANDOFFS + "H-1,MRN-2,housing,2026-01-07T08:00:00-05:00,active,P-1,,S-2,,,\n"  # a duplicate key
    care_team = CARE_TEAM + "T-1,MRN-1,P-1,peer,2025-01-02,2025-06-30,S-1\n"  # same team, second assignment
    export = make_export(tmp_path / "in", **{"handoffs.csv": handoffs, "care_team.csv": care_team})
    bundles = tmp_path / "bundles"
    code, _, _ = run(capsys, "--input", export, "--bundles-out", bundles)
    assert code == 1  # the duplicate handoff
    names = sorted(p.name for p in bundles.glob("*.json"))
    assert names == [
        "00001-Organization.json",
        "00002-Practitioner.json",
        "00003-Patient.json",
        "00004-PractitionerRole.json",  # in write order, after the Practitioners read from the same rows
        "00005-CareTeam.json",
        "00006-ServiceRequest.json",
        "00007-Task.json",
        "00008-Appointment.json",
        "00009-Encounter.json",
    ]
    for path in bundles.glob("*.json"):
        urls = [e["request"]["url"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]
        assert len(urls) == len(set(urls)), path.name
    (team,) = json.loads((bundles / "00005-CareTeam.json").read_text(encoding="utf-8"))["entry"]
    assert len(team["resource"]["participant"]) == 3
    requests = json.loads((bundles / "00006-ServiceRequest.json").read_text(encoding="utf-8"))["entry"]
    assert [e["resource"]["identifier"][0]["value"] for e in requests] == ["H-1", "H-2"]


def test_namespace_flag_changes_identifier_systems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = "https://recovery.example.net"
    ndjson = tmp_path / "nd"
    code, _, _ = run(capsys, "--input", make_export(tmp_path / "in"), "--namespace", ns, "--ndjson-out", ndjson)
    assert code == 0
    for path in ndjson.iterdir():
        text = path.read_text(encoding="utf-8")
        assert NS not in text, path.name
        assert f"{ns}/sid/" in text


def test_part2_labels_can_be_turned_off_by_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "fhirpeer.yaml"
    config.write_text("part2_labels: false\nsend_text_contacts: true\n", encoding="utf-8")
    ndjson = tmp_path / "nd"
    code, _, err = run(capsys, "--input", make_export(tmp_path / "in"), "--config", config, "--ndjson-out", ndjson)
    assert code == 0, err
    for path in ndjson.iterdir():
        assert "42CFRPart2" not in path.read_text(encoding="utf-8")
    assert len((ndjson / "Encounter.ndjson").read_text(encoding="utf-8").splitlines()) == 2  # text contact sent


def test_references_to_keys_outside_the_export_are_warned_without_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = CONTACTS + f"C-9,{PHI_BAD_CELL},P-1,2026-01-07T10:00:00-05:00,telephone,completed,,,,\n"
    report_path = tmp_path / "report.json"
    code, out, err = run(
        capsys,
        "--input",
        make_export(tmp_path / "in", **{"peer_contacts.csv": contacts}),
        "--report-json",
        report_path,
    )
    assert code == 0
    report = load_report(report_path)
    assert report["warnings"] == [
        {
            "file": "peer_contacts.csv",
            "line": None,
            "column": "patient_mrn",
            "reason": "1 reference(s) to keys not in this export (they must exist on the server)",
        }
    ]
    assert_no_phi(out, err, report_path.read_text(encoding="utf-8"))


def test_phi_never_reaches_logs_even_when_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patients = PATIENTS + f"MRN-3,{PHI_FAMILY},{PHI_GIVEN},{PHI_BAD_CELL},{PHI_BAD_CELL}\n"
    handoffs = HANDOFFS + f'H-3,MRN-1,{PHI_BAD_CELL},2026-01-05T08:00,sent,,,,,,"{PHI_NOTE}"\n'
    export = make_export(tmp_path / "in", **{"patients.csv": patients, "handoffs.csv": handoffs})
    report_path = tmp_path / "report.json"
    for fmt in ("text", "json"):
        code, out, err = run(
            capsys,
            "--input",
            export,
            "--report-json",
            report_path,
            "-v",
            "--log-format",
            fmt,
            "--ndjson-out",
            tmp_path / "nd",
            "--bundles-out",
            tmp_path / "b",
        )
        assert code == 1
        report_text = report_path.read_text(encoding="utf-8")
        reasons = [r["reason"] for r in load_report(report_path)["rejected"]]
        assert [r.split(" (allowed")[0] for r in reasons] == ["kind: unknown value"]
        assert "; status: unknown value (allowed: " in reasons[0]
        warned = [(w["column"], w["reason"].split(" (")[0]) for w in load_report(report_path)["warnings"]]
        assert warned[:2] == [("birth_date", "not an ISO 8601 date"), ("gender", "unknown value")]
        assert_no_phi(out, err, report_text)
