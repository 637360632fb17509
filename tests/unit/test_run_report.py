"""The run report: warnings as entries, skipped records by reason, CareTeam counts that count teams."""

from __future__ import annotations

from fhirpeer.domain import FileSummary, InputWarning, Outcome, Rejection, ResourceType, Skipped, Stage
from fhirpeer.run_report import RunReport


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
