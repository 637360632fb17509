"""The run report document: schema-valid in every shape, the keys a run changed, hashed keys, atomic writes;
warnings as entries, files read, skipped records by reason, CareTeam counts that count teams."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from fhirpeer import RunReport, report_schema
from fhirpeer.domain import FileSummary, InputWarning, Outcome, Rejection, ResourceType, Skipped, Stage
from fhirpeer.run_report import Absent, Conflict, hash_key
from tests.support.reports import assert_valid_report


def busy_report(**options: object) -> RunReport:
    report = RunReport(command="sync", run_id="0123456789ab", server="http://127.0.0.1:9/fhir", **options)
    report.count(ResourceType.PATIENT, Outcome.CREATED, key="MRN-2")
    report.count(ResourceType.PATIENT, Outcome.CREATED, key="MRN-1")
    report.count(ResourceType.ENCOUNTER, Outcome.UPDATED, key="C-7")
    report.count(ResourceType.ENCOUNTER, Outcome.UNCHANGED, key="C-8")  # unchanged keys are not listed
    report.count(ResourceType.ENCOUNTER, Outcome.FAILED)
    report.conflicts.append(Conflict("Encounter", "C-9", "changed on the server"))
    report.reject(Rejection("peer_contacts.csv", 12, "C-12", "mode", "mode: unknown value", ResourceType.ENCOUNTER,
                            Stage.INPUT))  # fmt: skip
    return report


def test_every_shape_of_report_is_schema_valid() -> None:
    assert_valid_report(busy_report().to_dict())
    assert_valid_report(busy_report(record_keys=False, key_salt="https://ns").to_dict())
    stopped = RunReport(command="sync", exit_code=4)
    stopped.fail("locked", "another fhirpeer sync is running")
    assert_valid_report(stopped.to_dict())


def test_the_schema_lists_every_key_and_rejects_a_wrong_one() -> None:
    doc = busy_report().to_dict()
    assert set(report_schema()["required"]) == set(doc)
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_report({**doc, "exit_code": 9})
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_report({**doc, "surprise": 1})


def test_changes_list_the_keys_created_updated_linked_and_in_conflict_per_type() -> None:
    assert busy_report().to_dict()["changes"] == {
        "Patient": {"created": ["MRN-1", "MRN-2"], "updated": [], "linked": [], "conflict": []},
        "Encounter": {"created": [], "updated": ["C-7"], "linked": [], "conflict": ["C-9"]},
    }
    assert busy_report(record_keys=False).to_dict()["changes"] is None


def test_hashed_keys_replace_every_key_in_the_report() -> None:
    doc = busy_report(key_salt="https://ns").to_dict()
    text = json.dumps(doc)
    for key in ("MRN-1", "MRN-2", "C-7", "C-9", "C-12"):
        assert key not in text
    assert doc["keys_hashed"] is True
    assert doc["changes"]["Patient"]["created"] == sorted(
        [hash_key("MRN-1", "https://ns"), hash_key("MRN-2", "https://ns")]
    )
    assert doc["rejected"][0]["id"] == hash_key("C-12", "https://ns") and doc["rejected"][0]["line"] == 12
    assert hash_key("MRN-1", "https://ns") != hash_key("MRN-1", "https://other")  # salted per namespace
    assert hash_key("MRN-1", "https://ns").startswith("h:") and len(hash_key("MRN-1", "https://ns")) == 18


def test_write_json_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "report.json"
    target.parent.mkdir()
    target.write_text('{"exit_code": 0}')
    report = RunReport(command="sync", exit_code=3)
    report.fail("unreachable", "GET metadata: connection refused by 127.0.0.1:9")
    report.write_json(target)
    assert json.loads(target.read_text())["exit_code"] == 3
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temporary file left behind


def test_a_rejected_member_row_is_listed_but_counts_no_failed_care_team() -> None:
    report = RunReport("sync")
    row = Rejection("care_team.csv", 4, "T-1", "role", "role: unknown value", ResourceType.CARE_TEAM)
    team = Rejection("care_team.csv", 2, "T-2", None, "refused", ResourceType.CARE_TEAM, Stage.SERVER)
    contact = Rejection("peer_contacts.csv", 3, "C-1", "mode", "mode: unknown value", ResourceType.ENCOUNTER)
    for rejection in (row, team, contact):
        report.reject_record(rejection)
    assert report.rejected == [row, team, contact]
    assert report.counts["CareTeam"][Outcome.FAILED] == 1  # the team the server refused, not the member row
    assert report.counts["Encounter"][Outcome.FAILED] == 1


def test_skipped_records_are_counted_by_file_and_reason() -> None:
    report = RunReport("validate")
    for key in ("C-1", "C-2"):
        report.skip(Skipped(ResourceType.ENCOUNTER, key, "mode text: not sent", "peer_contacts.csv"))
    report.skip(Skipped(ResourceType.ENCOUNTER, "C-3", "mode fax: not sent"))
    doc = report.to_dict()
    assert doc["skipped_by_reason"] == {"peer_contacts.csv mode text: not sent": 2, "mode fax: not sent": 1}
    assert doc["counts"]["Encounter"]["skipped"] == 3


def test_warnings_and_file_summaries_are_entries_of_the_json_report() -> None:
    report = RunReport("validate")
    report.warnings.append(InputWarning("staff.csv", 6, "npi", "fails the NPI check digit; the cell is ignored"))
    report.warn("server: no batch support")
    report.files = [FileSummary("care_team.csv", 10, 9, 3), FileSummary("handoffs.csv", 5, 4, None, ";")]
    doc = report.to_dict()
    assert doc["warnings"] == [
        {"file": "staff.csv", "line": 6, "column": "npi", "reason": "fails the NPI check digit; the cell is ignored"},
        {"file": None, "line": None, "column": None, "reason": "server: no batch support"},
    ]
    assert doc["files"] == [
        {"file": "care_team.csv", "lines": 10, "records": 9, "resources": 3, "delimiter": ","},
        {"file": "handoffs.csv", "lines": 5, "records": 4, "delimiter": ";"},
    ]
    assert str(report.warnings[0]) == "staff.csv:6 npi: fails the NPI check digit; the cell is ignored"
    assert str(report.warnings[1]) == "server: no batch support"


def test_warnings_files_skipped_and_absent_records_are_schema_valid_and_keys_hashed() -> None:
    report = busy_report(key_salt="https://ns")
    report.warn("not 10 digits; the cell is ignored", "staff.csv", 6, "npi")
    report.warn("server: no batch support")
    report.files = [FileSummary("care_team.csv", 10, 9, 3), FileSummary("handoffs.csv", 5, 4, None, "\t")]
    report.skip(Skipped(ResourceType.ENCOUNTER, "C-3", "mode text: not sent", "peer_contacts.csv"))
    report.absent.append(Absent("peer_contacts.csv", "Encounter", "C-77", "retracted"))
    doc = report.to_dict()
    assert_valid_report(doc)
    assert doc["absent"] == [
        {"file": "peer_contacts.csv", "resourceType": "Encounter", "id": hash_key("C-77", "https://ns"),
         "action": "retracted"}
    ]  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_report({**doc, "warnings": ["a plain string"]})
