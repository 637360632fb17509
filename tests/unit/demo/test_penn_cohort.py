"""The Penn cohort: contract-valid CSVs whose report reproduces the Penn program's figures for any as-of date.

The oracle (tests/support/cohort_model.py) turns the CSV rows straight into the report's model, as the FHIR
mapping will, and the report's own metrics are run on it.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.demo.penn_cohort import COLUMNS, CohortSummary, duration_values, generate_penn_cohort, main
from fhirpeer.demo.sample import npi_is_valid
from fhirpeer.program_report.handoff_outcomes import decide_outcomes
from fhirpeer.program_report.metrics import compute_metrics
from tests.support.cohort_model import cohort_model, rows

NY = ZoneInfo("America/New_York")
PENN = [(41, 50), (34, 45), (30, 42), (17, 30), (14, 26), (8, 19)]  # shared/seeds: Penn, months 1-6
PENN_MODES = {"telephone": 73, "in_person": 26, "video": 3}
AS_OF_DATES = [
    date(2026, 1, 5),
    date(2024, 2, 29),  # leap day
    date(2024, 3, 10),  # US daylight saving time starts
    date(2024, 11, 3),  # and ends
    date(2025, 1, 31),  # month ends: the clipping of program months
    date(2025, 8, 31),
    date(2023, 12, 31),
    date(2028, 2, 29),
]

# The contract's values (shared/spec/contract.md), spelled out so the test does not trust the code under test.
REQUIRED = {
    "patients.csv": ("patient_mrn",),
    "staff.csv": ("staff_id",),
    "sites.csv": ("site_id", "name"),
    "peer_contacts.csv": ("contact_id", "patient_mrn", "peer_id", "start", "mode", "status"),
    "care_team.csv": ("team_id", "patient_mrn", "staff_id", "role", "start_date"),
    "handoffs.csv": ("handoff_id", "patient_mrn", "kind", "requested_at", "status"),
    "enrollments.csv": ("enrollment_id", "patient_mrn", "start_date", "status"),
}
VALUES = {
    ("peer_contacts.csv", "mode"): {"in_person", "telephone", "video", "text"},
    ("peer_contacts.csv", "status"): {"completed", "scheduled", "cancelled", "no_show", "entered_in_error"},
    ("peer_contacts.csv", "setting"): {"", "clinic", "community", "home", "hospital", "emergency_department"},
    ("handoffs.csv", "kind"): {
        "ed_to_peer", "aftercare_peer", "mental_health", "sud_treatment", "mutual_aid", "housing", "transportation",
        "legal", "employment", "childcare", "eldercare", "home_health", "other",
    },
    ("handoffs.csv", "status"): {"proposed", "active", "completed", "declined", "cancelled", "entered_in_error"},
    ("handoffs.csv", "priority"): {"", "routine", "urgent", "asap", "stat"},
    ("handoffs.csv", "via"): {"", "in_person", "warm_line", "telephone", "video"},
    ("enrollments.csv", "status"): {"planned", "active", "finished", "withdrawn", "entered_in_error"},
    ("enrollments.csv", "end_reason"): {
        "", "completed_program", "transferred_to_community", "lost_to_follow_up", "withdrew", "other",
    },
    ("care_team.csv", "role"): {
        "peer", "pcp", "oversight_pcp", "champion_pcp", "lcsw", "psychiatrist", "peer_supervisor", "case_manager",
    },
    ("staff.csv", "discipline"): {
        "peer", "pcp", "lcsw", "psychiatrist", "peer_supervisor", "case_manager", "ed_clinician", "other",
    },
    ("patients.csv", "gender"): {"female", "male", "other", "unknown"},
}  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CohortSummary]:
    out = tmp_path_factory.mktemp("penn")
    return out, generate_penn_cohort(out, date(2026, 1, 5))


def test_files_have_the_contract_columns_and_values(cohort: tuple[Path, CohortSummary]) -> None:
    out, summary = cohort
    assert sorted(p.name for p in out.iterdir()) == sorted(COLUMNS)
    for name, required in REQUIRED.items():
        table = list(rows(out / name))
        assert table and list(table[0]) == list(COLUMNS[name])
        assert summary.rows[name] == len(table)
        for row in table:
            assert all(row[c] for c in required), (name, row)
    for (name, column), allowed in VALUES.items():
        used = {row[column] for row in rows(out / name)}
        assert used <= allowed, (name, column, used - allowed)
    for row in rows(out / "staff.csv"):
        assert npi_is_valid(row["npi"])


def test_references_resolve_and_keys_are_unique(cohort: tuple[Path, CohortSummary]) -> None:
    out, _ = cohort
    patients = [r["patient_mrn"] for r in rows(out / "patients.csv")]
    staff = {r["staff_id"] for r in rows(out / "staff.csv")}
    sites = {r["site_id"] for r in rows(out / "sites.csv")}
    handoffs = [r["handoff_id"] for r in rows(out / "handoffs.csv")]
    enrollments = [r["enrollment_id"] for r in rows(out / "enrollments.csv")]
    contacts = [r["contact_id"] for r in rows(out / "peer_contacts.csv")]
    for keys in (patients, handoffs, enrollments, contacts):
        assert len(keys) == len(set(keys))
    for name in ("peer_contacts.csv", "care_team.csv", "handoffs.csv", "enrollments.csv"):
        assert {r["patient_mrn"] for r in rows(out / name)} <= set(patients)
    for r in rows(out / "peer_contacts.csv"):
        assert r["peer_id"] in staff and r["site_id"] in sites | {""}
        assert r["handoff_id"] in set(handoffs) | {""} and r["enrollment_id"] in set(enrollments) | {""}
        assert r["setting"] == "" or r["mode"] == "in_person"
    for r in rows(out / "enrollments.csv"):
        assert r["referral_handoff_id"] in set(handoffs) | {""} and r["peer_id"] in staff
    for r in rows(out / "handoffs.csv"):
        assert {r["requester_id"], r["to_staff_id"]} <= staff | {""} and r["to_site_id"] in sites | {""}
    assert {r["staff_id"] for r in rows(out / "care_team.csv")} <= staff


def test_timestamps_carry_the_new_york_offset_of_their_date(cohort: tuple[Path, CohortSummary]) -> None:
    out, _ = cohort
    stamps = [r["start"] for r in rows(out / "peer_contacts.csv")] + [
        r["requested_at"] for r in rows(out / "handoffs.csv")
    ]
    offsets = set()
    for text in stamps:
        moment = datetime.fromisoformat(text)
        assert moment.utcoffset() is not None
        assert moment.utcoffset() == moment.astimezone(NY).utcoffset(), text
        offsets.add(text[-6:])
    assert offsets == {"-05:00", "-04:00"}  # winter and summer
    for r in rows(out / "peer_contacts.csv"):
        assert r["duration_min"] == "" or 0 <= int(r["duration_min"]) <= 1440


def test_contacts_that_must_not_count_are_there(cohort: tuple[Path, CohortSummary]) -> None:
    out, summary = cohort
    contacts = list(rows(out / "peer_contacts.csv"))
    by_status = Counter(r["status"] for r in contacts)
    assert by_status["no_show"] and by_status["cancelled"] and by_status["entered_in_error"]
    scheduled = [
        datetime.fromisoformat(r["start"]).astimezone(NY).date() for r in contacts if r["status"] == "scheduled"
    ]
    assert scheduled and min(scheduled) > summary.as_of
    assert any(r["mode"] == "text" and r["status"] == "completed" for r in contacts)
    assert any(datetime.fromisoformat(r["start"]).hour == 23 for r in contacts if r["status"] == "completed")
    statuses = Counter(r["status"] for r in rows(out / "enrollments.csv"))
    assert statuses["planned"] and statuses["entered_in_error"] and statuses["withdrawn"] and statuses["finished"]


def test_the_same_arguments_give_the_same_bytes(tmp_path: Path) -> None:
    generate_penn_cohort(tmp_path / "a", date(2025, 5, 5))
    generate_penn_cohort(tmp_path / "b", date(2025, 5, 5))
    generate_penn_cohort(tmp_path / "c", date(2025, 5, 5), seed=2)
    for name in COLUMNS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "peer_contacts.csv").read_bytes() != (tmp_path / "c" / "peer_contacts.csv").read_bytes()


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_the_report_reproduces_the_penn_figures_exactly(as_of: date, tmp_path: Path) -> None:
    summary = generate_penn_cohort(tmp_path, as_of)
    data = cohort_model(tmp_path)
    m = compute_metrics(data, decide_outcomes(data, tz=NY), as_of=as_of, tz=NY)

    assert [(e.engaged, e.eligible) for e in m.engagement_by_month] == PENN == list(summary.engagement)
    modes = {c.mode: c.contacts for c in m.modes}
    assert modes == summary.modes == {"telephone": 217, "in_person": 76, "video": 7}
    total = sum(modes.values())
    for mode, percent in PENN_MODES.items():
        assert abs(100 * modes[mode] / total - percent) <= 1, mode
    assert (m.duration.median, m.duration.q1, m.duration.q3) == (25, 11, 45)
    assert m.duration.contacts == total
    assert {c.peer: c.patients for c in m.caseload} == summary.caseloads
    assert all(10 <= c.patients <= 20 and not c.over_cap for c in m.caseload)
    ed = m.ed_linkage
    assert (ed.handoffs, ed.linked_1d, ed.linked_7d, ed.linked_30d) == (summary.ed_handoffs, *summary.ed_linked)
    assert 0 < ed.linked_1d < ed.linked_7d < ed.linked_30d < ed.handoffs
    assert (m.aftercare.finished, m.aftercare.with_aftercare_handoff) == (
        summary.finished_episodes, summary.with_aftercare_handoff
    )  # fmt: skip
    assert 0 < m.aftercare.with_aftercare_handoff < m.aftercare.finished
    assert m.uncounted_contacts > 0  # the texts


def test_dates_are_taken_in_the_site_time_zone(cohort: tuple[Path, CohortSummary]) -> None:
    out, summary = cohort
    data = cohort_model(out)
    in_utc = compute_metrics(data, (), as_of=summary.as_of, tz=ZoneInfo("UTC"))
    assert [(e.engaged, e.eligible) for e in in_utc.engagement_by_month] != PENN


@pytest.mark.parametrize("n", [9, 10, 11, 12, 13, 100, 299, 300, 301])
def test_duration_values_pin_the_inclusive_quartiles(n: int) -> None:
    values = duration_values(n, random.Random(n))
    assert len(values) == n and min(values) >= 1
    assert statistics.quantiles(values, n=4, method="inclusive") == [11, 25, 45]
    assert statistics.median(values) == 25
    with pytest.raises(ValueError):
        duration_values(8, random.Random(1))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--as-of", "2025-03-01"]) == 0
    assert "41/50, 34/45, 30/42, 17/30, 14/26, 8/19" in capsys.readouterr().out
    assert (tmp_path / "enrollments.csv").is_file()
