"""Real spreadsheet exports against a real server (issue 13): the bytes Excel, Sheets and trackers write, each case
asserting the exit code, the message (and that no cell value is in it), and that every other good row lands.

Each test starts from the sample program (`export` fixture) and saves it again the way a coordinator's tool would.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.inventory import inventory, versions
from tests.support.spreadsheets import (
    Row,
    assert_no_patient_data,
    excel_date,
    excel_timestamp,
    patient_data,
    resave,
    save_as,
)
from tests.support.sync_run import TYPES, all_versions, expected_keys, rows, sync, write_rows

NEW_YORK = ZoneInfo("America/New_York")


def outputs(capsys: pytest.CaptureFixture[str], report: dict[str, object]) -> tuple[str, str, str]:
    captured = capsys.readouterr()
    return captured.out, captured.err, json.dumps(report, ensure_ascii=False)


def assert_lands(
    base_url: str, namespace: str, expected: dict[str, set[str]], *, minus: dict[str, set[str]] | None = None
) -> dict[str, dict[str, str]]:
    """Every expected key (less `minus`) is on the server exactly once, and nothing else."""
    held = all_versions(base_url, namespace)
    for rtype, keys in expected.items():
        assert set(held[rtype]) == keys - (minus or {}).get(rtype, set()), rtype
    return held


def held_with_tasks(base_url: str, namespace: str) -> dict[str, dict[str, str]]:
    """type → key → versionId, referral Tasks included."""
    return {**all_versions(base_url, namespace), "Task": versions(base_url, namespace, "Task")}


def nothing_on_the_server(base_url: str, namespace: str) -> bool:
    return all(inventory(base_url, namespace, t) == {} for t in TYPES)


def file_warnings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's warnings about input files (not the server's limitations, which have no file)."""
    return [w for w in report["warnings"] if w["file"] is not None]


def completed(contacts: list[Row], mode: str) -> list[Row]:
    """Contacts of `mode` that happened: each an Encounter on the server."""
    return [r for r in contacts if r["mode"] == mode and r["status"] == "completed"]


# --- encodings --------------------------------------------------------------------------------------------------


def test_windows_excel_cp1252_export_is_refused_with_its_line_then_read_with_the_encoding_setting(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    expected, values = expected_keys(export), patient_data(export)
    accented = rows(export / "patients.csv")[0]
    assert accented["family_name"] == "Núñez"  # line 2, as in the issue
    resave(export, encoding="cp1252", newline="\r\n")  # Excel "CSV (Comma delimited)" on Windows

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    out, err, _ = outputs(capsys, report)
    assert code == 2
    assert "patients.csv: line 2 is not UTF-8 text." in err
    assert '"CSV UTF-8 (Comma delimited)"' in err and "`encoding`" in err
    assert_no_patient_data(values, out, err)
    assert nothing_on_the_server(fhir_base_url, test_namespace)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--encoding", "cp1252")
    assert code == 0, report["rejected"]
    assert_lands(fhir_base_url, test_namespace, expected)
    patient = inventory(fhir_base_url, test_namespace, "Patient")[accented["patient_mrn"]][0]
    assert patient["name"][0]["family"] == "Núñez"
    assert_no_patient_data(values, *outputs(capsys, report))


def test_utf8_with_bom_and_crlf_and_tabs_lands(fhir_base_url, test_namespace, export, tmp_path, capsys):
    expected = expected_keys(export)
    resave(export, bom=True, newline="\r\n", delimiter="\t")
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, report["rejected"]
    assert {f["file"]: f["delimiter"] for f in report["files"]} == {p.name: "\t" for p in export.glob("*.csv")}
    assert_lands(fhir_base_url, test_namespace, expected)


# --- delimiters, headers and codes as spreadsheets spell them ---------------------------------------------------------

RESPELLED = {"patient_mrn": "Patient MRN", "contact_id": " Contact_ID ", "peer_id": "PEER_ID", "status": "Status"}


def spreadsheet_codes(file: str, data: list[Row]) -> list[Row]:
    """Codes as a coordinator types them: `Telephone`, `Completed`, `In Person`."""
    if file == "peer_contacts.csv":
        for row in data:
            row["mode"] = row["mode"].replace("_", " ").title()
            row["status"] = row["status"].capitalize()
    return data


def test_semicolon_export_with_spreadsheet_headers_and_codes_lands(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    expected, values = expected_keys(export), patient_data(export)
    for path in sorted(export.glob("*.csv")):
        data = spreadsheet_codes(path.name, rows(path))
        save_as(path, data, header=[RESPELLED.get(f, f.upper()) for f in data[0]], delimiter=";")

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--delimiter", ",")
    out, err, _ = outputs(capsys, report)
    assert code == 2
    problems = [line for line in err.splitlines() if "missing required column" in line]
    assert len(problems) == 7  # every file in one run
    assert all("splits into the expected columns on semicolons" in p for p in problems)
    assert_no_patient_data(values, out, err)
    assert nothing_on_the_server(fhir_base_url, test_namespace)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)  # recognised from the header
    assert code == 0, report["rejected"]
    assert {f["delimiter"] for f in report["files"]} == {";"}
    held = assert_lands(fhir_base_url, test_namespace, expected)
    assert len(held["Encounter"]) == len(expected["Encounter"])
    saved = rows_of(export, "peer_contacts.csv", ";")
    telephone = next(r for r in saved if r["MODE"] == "Telephone" and r["Status"] == "Completed")
    encounter = inventory(fhir_base_url, test_namespace, "Encounter")[telephone[" Contact_ID "]][0]
    assert encounter["class"]["code"] == "VR"


def rows_of(export: Path, name: str, delimiter: str) -> list[Row]:
    with (export / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_an_unknown_code_lists_the_allowed_values_and_the_rest_lands(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    contacts = rows(export / "peer_contacts.csv")
    bad = completed(contacts, "telephone")[0]
    bad["mode"] = "Carrier Pigeon"
    write_rows(export / "peer_contacts.csv", contacts)
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    out, err, text = outputs(capsys, report)
    assert code == 1
    (rejected,) = report["rejected"]
    assert rejected["id"] == bad["contact_id"]
    assert rejected["reason"] == "mode: unknown value (allowed: in_person, telephone, text, video)"
    assert "Pigeon" not in out + err + text
    assert_lands(fhir_base_url, test_namespace, expected_keys(export), minus={"Encounter": {bad["contact_id"]}})


# --- dates as Excel writes them ---------------------------------------------------------------------------------------


def excel_dates(file: str, data: list[Row]) -> list[Row]:
    for row in data:
        for column in ("start", "requested_at"):
            if row.get(column):
                row[column] = excel_timestamp(row[column], NEW_YORK)
        for column in ("birth_date", "start_date", "end_date"):
            if row.get(column):
                row[column] = excel_date(row[column])
    return data


EXCEL_FORMATS = ("--date-format", "%m/%d/%Y %I:%M %p", "--date-format", "%m/%d/%Y")


def test_excel_date_layouts_need_date_formats_and_a_time_the_clocks_skip_is_refused(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    original = {r["contact_id"]: r["start"] for r in rows(export / "peer_contacts.csv")}
    expected, values = expected_keys(export), patient_data(export)
    resave(export, excel_dates, newline="\r\n")
    contacts = rows(export / "peer_contacts.csv")
    gap = completed(contacts, "telephone")[0]
    gap["start"] = "3/8/2026 2:30 AM"  # New York clocks skip 02:00-03:00 that night
    write_rows(export / "peer_contacts.csv", contacts)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--timezone", "America/New_York")
    out, err, text = outputs(capsys, report)
    assert code == 1
    reasons = {r["reason"] for r in report["rejected"]}
    assert (
        "start: not an ISO 8601 timestamp (e.g. 2026-01-05T10:00:00-05:00); set date_formats for another layout"
        in reasons
    )
    assert any(r.startswith("requested_at: not an ISO 8601 timestamp") for r in reasons)
    assert {w["column"] for w in report["warnings"]} >= {"birth_date"}  # optional: dropped, the patient lands
    assert_no_patient_data(values, out, err, text)

    tz = ("--timezone", "America/New_York")
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, *tz, *EXCEL_FORMATS)
    out, err, text = outputs(capsys, report)
    assert code == 1
    (rejected,) = report["rejected"]
    assert (rejected["id"], rejected["column"]) == (gap["contact_id"], "start")
    assert "does not exist in the site time zone America/New_York" in rejected["reason"]
    assert "2:30" not in out + err + text
    assert_lands(fhir_base_url, test_namespace, expected, minus={"Encounter": {gap["contact_id"]}})
    for key, enc in inventory(fhir_base_url, test_namespace, "Encounter").items():
        assert datetime.fromisoformat(enc[0]["period"]["start"]) == datetime.fromisoformat(original[key]), key
    patients = inventory(fhir_base_url, test_namespace, "Patient")
    assert all("birthDate" in p[0] for p in patients.values())


# --- file names ------------------------------------------------------------------------------------------------------


def test_misnamed_files_are_read_or_named_in_a_warning(fhir_base_url, test_namespace, export, tmp_path, capsys):
    expected = expected_keys(export)
    (export / "patients.csv").rename(export / "Patients.csv")
    (export / "handoffs.csv").rename(export / "handoffs (1).csv")  # a re-download
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    _, err, _ = outputs(capsys, report)
    assert code == 0, report["rejected"]
    assert file_warnings(report) == [
        {
            "file": "handoffs (1).csv",
            "line": None,
            "column": None,
            "reason": "not an input file, not read (the closest input file name is handoffs.csv)",
        }
    ]
    assert "handoffs (1).csv not an input file, not read (the closest input file name is handoffs.csv)" in err
    assert_lands(fhir_base_url, test_namespace, {**expected, "ServiceRequest": set()})
    assert inventory(fhir_base_url, test_namespace, "Task") == {}


# --- broken quotes ---------------------------------------------------------------------------------------------------


def test_stray_quotes_in_the_first_a_middle_and_the_last_column(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    handoffs = rows(export / "handoffs.csv")
    for n, row in enumerate(handoffs):
        row["note"] = f"Call back {row['handoff_id']} after clinic, visit {n}"  # a comma: a quoted cell
    write_rows(export / "handoffs.csv", handoffs)
    expected, values = expected_keys(export), patient_data(export)
    lines = (export / "handoffs.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    broken = {3: "handoff_id", 10: "kind", 20: "note"}  # physical lines (header = 1) → the column of the quote
    lines[2] = '"' + lines[2]  # the first column
    cells = lines[9].split(",")
    lines[9] = ",".join([*cells[:2], '"' + cells[2], *cells[3:]])  # a middle column
    lines[19] = lines[19][: lines[19].index(',"Call back')] + ',"Said ""he relapsed, call back\n'  # the last column
    (export / "handoffs.csv").write_text("".join(lines), encoding="utf-8")

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    out, err, text = outputs(capsys, report)
    assert code == 1
    assert {r["line"]: r["column"] for r in report["rejected"]} == broken
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert "closes in the middle of the cell" in reasons[3] and "closes in the middle of the cell" in reasons[10]
    assert "runs into line 21, which is read as a record of its own" in reasons[20]
    assert_no_patient_data(values, out, err, text)
    assert "relapsed" not in out + err + text
    (summary,) = [f for f in report["files"] if f["file"] == "handoffs.csv"]
    assert summary == {"file": "handoffs.csv", "lines": len(handoffs) + 1, "records": len(handoffs), "delimiter": ","}

    lost = {handoffs[line - 2]["handoff_id"] for line in broken}
    assert_lands(fhir_base_url, test_namespace, expected, minus={"ServiceRequest": lost})
    notes = {k: v[0]["note"][0]["text"] for k, v in inventory(fhir_base_url, test_namespace, "ServiceRequest").items()}
    assert notes == {r["handoff_id"]: r["note"] for r in handoffs if r["handoff_id"] not in lost}


# --- optional cells never sink a record ----------------------------------------------------------------------------


def test_bad_and_inapplicable_optional_cells_are_warnings_and_nothing_cascades(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    staff = rows(export / "staff.csv")
    peer = next(r for r in staff if r["discipline"] == "peer")
    peer["npi"] = "1.23457E+09"  # what Excel makes of an NPI in a General-format column
    write_rows(export / "staff.csv", staff)
    patients = rows(export / "patients.csv")
    patients[1]["gender"] = "F"
    write_rows(export / "patients.csv", patients)
    contacts = rows(export / "peer_contacts.csv")
    phones = completed(contacts, "telephone")
    phones[0]["setting"] = "home"  # a setting for a telephone contact: ignored
    phones[1].update(mode="text", setting="clinic")  # a text contact, skipped anyway: its setting fails nothing
    write_rows(export / "peer_contacts.csv", contacts)
    values = patient_data(export)

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    out, err, text = outputs(capsys, report)
    assert code == 0, report["rejected"]
    assert report["rejected"] == []
    warned = {(w["file"], w["column"]) for w in report["warnings"]}
    assert {("staff.csv", "npi"), ("patients.csv", "gender"), ("peer_contacts.csv", "setting")} <= warned
    npi = next(w for w in report["warnings"] if w["column"] == "npi")
    assert npi["line"] == staff.index(peer) + 2 and "scientific notation" in npi["reason"]
    assert "1.23457E+09" not in out + err + text
    assert_no_patient_data(values, out, err, text)
    held = assert_lands(fhir_base_url, test_namespace, expected_keys(export))
    practitioner = inventory(fhir_base_url, test_namespace, "Practitioner")[peer["staff_id"]][0]
    assert [i["system"] for i in practitioner["identifier"]] == [f"{test_namespace}/sid/staff-id"]
    peer_contacts = {r["contact_id"] for r in contacts if r["peer_id"] == peer["staff_id"] and r["mode"] != "text"}
    on_server = set(held["Encounter"]) | set(held["Appointment"])
    assert peer_contacts and peer_contacts - on_server <= {  # the peer's contacts did not cascade
        r["contact_id"] for r in contacts if r["status"] == "entered_in_error"
    }
    assert report["skipped_by_reason"] == {
        "peer_contacts.csv mode text: text contacts are not sent (setting send_text_contacts)": 1
    }
    settings = sorted(w["line"] for w in report["warnings"] if w["column"] == "setting")
    assert settings == sorted(contacts.index(r) + 2 for r in phones[:2])
    phone = inventory(fhir_base_url, test_namespace, "Encounter")[phones[0]["contact_id"]][0]
    assert phone["class"]["code"] == "VR"  # the ignored setting changed nothing


# --- export shape -----------------------------------------------------------------------------------------------------


def test_header_only_and_empty_files_are_warnings(fhir_base_url, test_namespace, export, tmp_path, capsys):
    expected = expected_keys(export)
    save_as(export / "handoffs.csv", [], fields=list(rows(export / "handoffs.csv")[0]))
    (export / "care_team.csv").write_bytes(b"")
    enrollments = rows(export / "enrollments.csv")  # the teams and handoffs they name are gone with those files
    write_rows(export / "enrollments.csv", [{**r, "team_id": "", "referral_handoff_id": ""} for r in enrollments])
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    _, err, _ = outputs(capsys, report)
    assert code == 0, report["rejected"]
    assert [(w["file"], w["reason"]) for w in file_warnings(report)] == [
        ("care_team.csv", "empty file (not even a header row): nothing to sync"),
        ("handoffs.csv", "a header row and no records: nothing to sync"),
    ]
    assert "handoffs.csv a header row and no records" in err
    assert_lands(fhir_base_url, test_namespace, {**expected, "ServiceRequest": set(), "CareTeam": set()})
    assert inventory(fhir_base_url, test_namespace, "Task") == {}


def test_records_missing_from_a_later_export_are_counted_listed_and_only_on_request_retracted(
    fhir_base_url, test_namespace, export, tmp_path, capsys
):
    assert sync(fhir_base_url, test_namespace, export, tmp_path)[0] == 0
    before = held_with_tasks(fhir_base_url, test_namespace)
    contacts, handoffs = rows(export / "peer_contacts.csv"), rows(export / "handoffs.csv")
    dropped = completed(contacts, "telephone")[:5]  # five contacts that happened: five Encounters
    write_rows(export / "peer_contacts.csv", [r for r in contacts if r not in dropped])
    write_rows(export / "handoffs.csv", handoffs[2:])
    dropped_handoffs = {r["handoff_id"] for r in handoffs[:2]}
    gone = {
        "Encounter": {r["contact_id"] for r in dropped},
        "ServiceRequest": dropped_handoffs,
        "Task": dropped_handoffs & set(before["Task"]),  # a handoff's referral Task leaves with it
    }
    assert gone["Task"] == dropped_handoffs  # referral_tasks is "all" by default

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    _, err, _ = outputs(capsys, report)
    assert code == 0
    warned = {(w["file"], w["reason"].split(" record(s)")[0]) for w in file_warnings(report)}
    assert {("peer_contacts.csv", "5 Encounter"), ("handoffs.csv", "2 ServiceRequest")} <= warned
    assert any(w["reason"].endswith("--full-export lists them") for w in file_warnings(report))
    assert "peer_contacts.csv 5 Encounter record(s) that an earlier run synced are not in this export" in err
    assert held_with_tasks(fhir_base_url, test_namespace) == before  # nothing deleted, nothing changed

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, "--full-export")
    assert code == 0
    listed = {(a["resourceType"], a["id"], a["action"]) for a in report["absent"]}
    assert listed == {(t, k, "reported") for t, keys in gone.items() for k in keys}
    assert held_with_tasks(fhir_base_url, test_namespace) == before

    config = tmp_path / "retract.yaml"
    config.write_text("retract_absent: true\n", encoding="utf-8")
    retract = ("--full-export", "--config", str(config))
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, *retract, "--dry-run")
    assert code == 0 and report["counts"]["Encounter"]["retracted"] == 5
    assert {a["action"] for a in report["absent"]} == {"would retract"}
    assert held_with_tasks(fhir_base_url, test_namespace) == before

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, *retract)
    assert code == 0, report
    assert {t: report["counts"][t]["retracted"] for t in gone if gone[t]} == {t: len(k) for t, k in gone.items() if k}
    after = held_with_tasks(fhir_base_url, test_namespace)
    changed = {(t, k) for t in after for k in after[t] if after[t][k] != before[t][k]}
    assert changed == {(t, k) for t, keys in gone.items() for k in keys}
    for rtype, keys in gone.items():
        held = inventory(fhir_base_url, test_namespace, rtype)
        assert {held[k][0]["status"] for k in keys} <= {"entered-in-error"}

    code, report = sync(fhir_base_url, test_namespace, export, tmp_path, *retract)
    assert code == 0 and report["absent"] == []  # retracted once, not again
    assert held_with_tasks(fhir_base_url, test_namespace) == after

    write_rows(export / "peer_contacts.csv", contacts)  # the records come back
    code, report = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0 and report["counts"]["Encounter"]["updated"] == 5
    restored = inventory(fhir_base_url, test_namespace, "Encounter")
    assert {restored[k][0]["status"] for k in gone["Encounter"]} != {"entered-in-error"}
    assert versions(fhir_base_url, test_namespace, "ServiceRequest").keys() == before["ServiceRequest"].keys()
