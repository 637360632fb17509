"""What the command line prints about a run: files read, skipped records, warnings grouped for the log."""

from __future__ import annotations

from fhirpeer.cli.render import report_table, warning_lines
from fhirpeer.domain import FileSummary, InputWarning, Outcome, ResourceType, Skipped
from fhirpeer.run_report import RunReport


def test_the_table_says_how_lines_became_records_and_why_records_were_skipped() -> None:
    report = RunReport("sync")
    report.count(ResourceType.CARE_TEAM, Outcome.CREATED, 3)
    report.count(ResourceType.ENCOUNTER, Outcome.RETRACTED, 2)
    report.skip(Skipped(ResourceType.ENCOUNTER, "C-9", "mode text: not sent", "peer_contacts.csv"))
    report.files = [FileSummary("care_team.csv", 10, 9, 3), FileSummary("peer_contacts.csv", 14, 13, None, "\t")]
    table = report_table(report)
    assert table.splitlines()[0].split() == [
        "resource",
        "created",
        "updated",
        "unchanged",
        "failed",
        "skipped",
        "retracted",
    ]
    assert "  care_team.csv: 10 physical line(s) → 9 member row(s) → 3 CareTeam(s)" in table
    assert "  peer_contacts.csv: 14 physical line(s) → 13 record(s) (tab-separated)" in table
    assert "1 record(s) skipped (valid, not sent):\n       1 × peer_contacts.csv mode text: not sent" in table


def test_warnings_are_grouped_with_example_lines() -> None:
    report = RunReport("validate")
    for line in (4, 9, 12, 15, 20, 31):
        report.warnings.append(InputWarning("staff.csv", line, "npi", "not 10 digits; the cell is ignored"))
    report.warnings.append(InputWarning("handoffs (1).csv", None, None, "not an input file, not read"))
    assert warning_lines(report) == [
        "staff.csv npi: not 10 digits; the cell is ignored (6 records: lines 4, 9, 12, 15, 20, …)",
        "handoffs (1).csv not an input file, not read",
    ]
    many = RunReport("validate", warnings=[InputWarning("a.csv", 2, f"c{n}", "bad") for n in range(25)])
    assert warning_lines(many)[-1] == "… and 5 more kinds of warning (all are in --report-json)"
