"""Small-cell suppression, and that every published table obeys it."""

from __future__ import annotations

import pytest

from fhirpeer.program_report.metrics import (
    Aftercare,
    DurationStats,
    EdLinkage,
    KindLinkage,
    ModeCount,
    MonthEngagement,
    PeerCaseload,
    ProgramMetrics,
    ReportOptions,
    StageEngagement,
)
from fhirpeer.program_report.suppress import SUPPRESSED, Suppressed, SuppressionRule, json_value
from fhirpeer.program_report.tables import OTHER_REASONS, csv_cell, csv_rows, publish_tables, summary_document


def test_counts_from_one_to_n_minus_one_are_suppressed_zero_is_not() -> None:
    rule = SuppressionRule(11)
    assert [rule.count(n) for n in (0, 1, 10, 11, 500)] == [0, SUPPRESSED, SUPPRESSED, 11, 500]
    assert SuppressionRule(0).count(1) == 1  # off
    with pytest.raises(ValueError):
        SuppressionRule(-1)


def test_a_share_is_suppressed_with_its_numerator_or_denominator() -> None:
    rule = SuppressionRule(11)
    assert rule.share(41, 50) == 0.82
    assert rule.share(8, 19) is SUPPRESSED
    assert rule.share(12, 5) is SUPPRESSED
    assert rule.share(0, 30) == 0.0
    assert rule.share(0, 0) is None  # no denominator: not applicable, not hidden
    assert rule.statistic(25.0, 300) == 25.0
    assert rule.statistic(25.0, 3) is SUPPRESSED
    assert rule.statistic(None, 3) is None


def test_the_marker_is_one_falsy_value_that_json_turns_into_null() -> None:
    assert Suppressed() is SUPPRESSED and not SUPPRESSED and repr(SUPPRESSED) == "SUPPRESSED"
    assert json_value(SUPPRESSED) is None and json_value(0) == 0


def test_csv_cells() -> None:
    assert csv_cell(SUPPRESSED, "count") == "suppressed"
    assert csv_cell(None, "share") == ""
    assert csv_cell(0.5, "share") == "0.5"
    assert csv_cell(25.0, "number") == "25"
    assert csv_cell(20.25, "number") == "20.25"
    assert csv_cell(True, "flag") == "true"
    assert csv_cell("-1+1", "text") == "'-1+1"


def small_program() -> ProgramMetrics:
    return ProgramMetrics(
        engagement_by_month=(
            MonthEngagement(1, "initial_engagement", 50, 41),
            MonthEngagement(2, "early_treatment", 19, 8),
        ),
        stages=(StageEngagement("initial_engagement", "Initial engagement", (1,), 50, 41),),
        modes=(ModeCount("telephone", 217), ModeCount("in_person", 76), ModeCount("video", 7)),
        uncounted_contacts=4,
        duration=DurationStats(9, 25.0, 11.0, 45.0),
        caseload=(PeerCaseload("PEER-01", 15, False), PeerCaseload("PEER-02", 3, False)),
        ed_linkage=EdLinkage(24, 22, 12, 17, 20, 20.2),
        aftercare=Aftercare(16, 12),
        linkage_by_kind=(KindLinkage("housing", 5, 2, 1, 2, 3.0, 1, 1, 1, 0),),
        not_linked_reasons=(("no-capacity", 14), ("Declined at intake by J. Doe", 2), ("x", 1)),
    )


def test_every_table_and_the_summary_obey_the_rule() -> None:
    rule, options = SuppressionRule(11), ReportOptions()
    tables = {t.name: t for t in publish_tables(small_program(), rule, options)}
    assert tables["engagement_by_month"].rows[1] == (2, "Early treatment", 19, SUPPRESSED, SUPPRESSED)
    assert tables["contact_modes"].rows[2] == ("Video", SUPPRESSED, SUPPRESSED)
    assert tables["contact_duration"].rows[0] == (SUPPRESSED, SUPPRESSED, SUPPRESSED, SUPPRESSED)
    assert tables["caseload"].rows == (("PEER-01", 15, False), ("PEER-02", SUPPRESSED, False))
    assert tables["linkage_by_kind"].rows[0][1:4] == (SUPPRESSED, SUPPRESSED, SUPPRESSED)
    # a rare free-text reason could identify a patient: it is pooled, its count suppressed
    assert tables["not_linked_reasons"].rows == (("no-capacity", 14), (OTHER_REASONS, SUPPRESSED))
    assert csv_rows(tables["contact_modes"])[2] == ["Video", "suppressed", "suppressed"]

    summary = summary_document(small_program(), rule, options)
    assert summary["engagement_by_month"][1] == {"month": 2, "eligible": 19, "engaged": None, "share": None}
    assert summary["modes"]["video"] == {"contacts": None, "share": None}
    assert summary["modes"]["telephone"] == {"contacts": 217, "share": 0.7233}
    assert summary["duration_min"] == {"median": None, "q1": None, "q3": None, "contacts": None}
    assert summary["caseload"]["peers"][1] == {"peer": "PEER-02", "patients": None, "over_cap": False}
    assert summary["ed_linkage"]["median_hours"] == 20.2
    assert "Declined at intake by J. Doe" not in str(summary)


def test_suppression_off_shows_everything() -> None:
    rule = SuppressionRule(0)
    summary = summary_document(small_program(), rule, ReportOptions(suppress_below=0))
    assert summary["modes"]["video"] == {"contacts": 7, "share": 0.0233}
    assert summary["duration_min"] == {"median": 25, "q1": 11, "q3": 45, "contacts": 9}
    assert [r["reason"] for r in summary["not_linked_reasons"]][:2] == ["no-capacity", "Declined at intake by J. Doe"]
    assert summary["aftercare"] == {"finished": 16, "with_aftercare_handoff": 12, "share": 0.75, "window_days": 30}
