"""The report's definitions, one by one, on small hand-made programs."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.program_report.metrics import (
    ReportOptions,
    add_months,
    compute_metrics,
    linkage_by_kind,
    months_ended,
    not_linked_reasons,
    program_month,
    quartiles,
)
from fhirpeer.program_report.model import Contact, Episode, Handoff, HandoffOutcome, Peer, ProgramData

NY = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def contact(
    patient: str,
    start: str,
    mode: str | None = "telephone",
    status: str = "finished",
    minutes: float | None = 20,
    based_on: tuple[str, ...] = (),
    key: str | None = None,
) -> Contact:
    return Contact(
        key or f"c-{patient}-{start}", key or f"C-{start}", patient, status, at(start), mode, minutes, based_on
    )  # type: ignore[arg-type]


def episode(
    key: str, patient: str, start: date, status: str = "active", end: date | None = None, manager: str | None = "peer-a"
) -> Episode:
    return Episode(f"eoc-{key}", key, patient, status, start, end, manager, "primary_care_peer")


def metrics(data: ProgramData, as_of: date, outcomes: tuple[HandoffOutcome, ...] = (), **options: object):  # type: ignore[no-untyped-def]
    return compute_metrics(data, outcomes, as_of=as_of, tz=NY, options=ReportOptions(**options))  # type: ignore[arg-type]


# --- calendar months --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year: clipped to the 29th
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2026, 1, 5), -13, date(2024, 12, 5)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
    ],
)
def test_add_months_clips_the_day_to_the_months_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_program_months_are_measured_from_the_start_not_chained() -> None:
    start = date(2024, 1, 31)
    assert [program_month(start, m) for m in (1, 2, 3)] == [
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2024, 3, 31)),  # start + 2 months is the 31st again, not Feb 29 + 1 month
        (date(2024, 3, 31), date(2024, 4, 30)),
    ]
    with pytest.raises(ValueError):
        program_month(start, 0)


def test_a_month_has_ended_once_its_last_day_is_before_the_as_of_date() -> None:
    start = date(2025, 1, 10)
    assert months_ended(start, date(2025, 2, 9), 6) == 0  # Feb 9 is month 1's last day
    assert months_ended(start, date(2025, 2, 10), 6) == 1
    assert months_ended(start, date(2026, 1, 1), 6) == 6


# --- engagement -------------------------------------------------------------------------------------------


def test_engagement_by_month_counts_finished_in_person_telephone_video_contacts_per_episode() -> None:
    data = ProgramData(
        episodes=(
            episode("E1", "p1", date(2025, 1, 10)),  # months: [Jan 10, Feb 10) [Feb 10, Mar 10) [Mar 10, Apr 10)
            episode("E5", "p5", date(2025, 2, 1), status="cancelled", end=date(2025, 3, 15)),
            episode("E2", "p2", date(2025, 1, 10), status="planned"),
            episode("E3", "p3", date(2025, 1, 10), status="entered-in-error"),
            episode("E4", "p4", date(2025, 1, 10), status="waitlist"),
            episode("E6", "p6", date(2025, 4, 20)),  # starts after the as-of date
        ),
        contacts=(
            contact("p1", "2025-01-15T10:00:00-05:00"),
            contact("p1", "2025-02-15T10:00:00-05:00", mode="text"),
            contact("p1", "2025-03-09T23:30:00-04:00", mode="video"),  # EDT since 2 am; 03:30 UTC Mar 10
            contact("p1", "2025-04-11T10:00:00-04:00"),  # after the as-of date
            contact("p5", "2025-02-03T10:00:00-05:00", status="entered-in-error"),
            contact("p5", "2025-03-02T10:00:00-05:00", mode="in_person"),
            contact("p5", "2025-03-20T10:00:00-04:00", mode=None),
            contact("p2", "2025-01-15T10:00:00-05:00"),
            contact("p3", "2025-01-15T10:00:00-05:00"),
            contact("p4", "2025-01-15T10:00:00-05:00"),
        ),
    )
    m = metrics(data, date(2025, 4, 10))
    got = [(e.month, e.eligible, e.engaged) for e in m.engagement_by_month]
    # E1: months 1 (telephone) and 2 (video at 23:30); month 3 had no contact. E5 (withdrawn): 1 no, 2 yes.
    assert got == [(1, 2, 1), (2, 2, 2), (3, 1, 0), (4, 0, 0), (5, 0, 0), (6, 0, 0)]
    stages = {s.stage: (s.months, s.eligible, s.engaged) for s in m.stages}
    assert stages == {
        "initial_engagement": ((1,), 2, 1),
        "early_treatment": ((2, 3), 3, 2),
        "stabilization": ((4, 5, 6), 0, 0),
    }
    assert m.uncounted_contacts == 2  # the text and the contact of unknown mode; not the one in error


def test_the_site_time_zone_decides_the_month_of_a_late_evening_contact() -> None:
    data = ProgramData(
        episodes=(episode("E1", "p1", date(2025, 1, 10)),),
        contacts=(contact("p1", "2025-02-09T23:30:00-05:00"),),  # Feb 10 in UTC
    )
    in_new_york = metrics(data, date(2025, 3, 10)).engagement_by_month
    assert [e.engaged for e in in_new_york[:2]] == [1, 0]
    in_utc = compute_metrics(data, (), as_of=date(2025, 3, 10), tz=ZoneInfo("UTC")).engagement_by_month
    assert [e.engaged for e in in_utc[:2]] == [0, 1]


def test_fewer_program_months() -> None:
    data = ProgramData(episodes=(episode("E1", "p1", date(2025, 1, 10)),))
    m = metrics(data, date(2026, 1, 1), months=2)
    assert [e.month for e in m.engagement_by_month] == [1, 2]
    assert [s.stage for s in m.stages] == ["initial_engagement", "early_treatment"]
    assert m.stages[1].months == (2,)


# --- contacts ---------------------------------------------------------------------------------------------


def test_modes_and_duration_use_counted_contacts_and_the_inclusive_quartiles() -> None:
    minutes = [5, 9, 11, 11, 20, 25, 25, 30, 45, 45, 60, 90, 7]
    contacts = [
        contact("p1", f"2025-01-{i + 1:02d}T10:00:00-05:00", mode=("telephone", "in_person", "video")[i % 3], minutes=v)
        for i, v in enumerate(minutes)
    ]
    contacts += [
        contact("p1", "2025-02-01T10:00:00-05:00", mode="text", minutes=1),
        contact("p1", "2025-02-02T10:00:00-05:00", status="entered-in-error", minutes=500),
        contact("p1", "2025-02-03T10:00:00-05:00", minutes=None),
    ]
    m = metrics(ProgramData(contacts=tuple(contacts)), date(2025, 3, 1))
    assert {c.mode: c.contacts for c in m.modes} == {"telephone": 6, "in_person": 4, "video": 4}
    q1, median, q3 = statistics.quantiles([float(v) for v in minutes], n=4, method="inclusive")
    assert (m.duration.contacts, m.duration.q1, m.duration.median, m.duration.q3) == (13, q1, median, q3)
    assert (q1, median, q3) == (11.0, 25.0, 45.0)


def test_duration_of_too_few_contacts() -> None:
    one = metrics(ProgramData(contacts=(contact("p1", "2025-01-01T10:00:00-05:00", minutes=30),)), date(2025, 2, 1))
    assert (one.duration.contacts, one.duration.median, one.duration.q1) == (1, 30, None)
    none = metrics(ProgramData(), date(2025, 2, 1))
    assert (none.duration.contacts, none.duration.median) == (0, None)
    assert quartiles([1.0]) is None


# --- caseload ---------------------------------------------------------------------------------------------


def test_caseload_counts_distinct_patients_with_an_episode_active_on_the_as_of_date() -> None:
    as_of = date(2025, 6, 1)
    episodes = [episode(f"A{i}", f"a{i}", date(2025, 5, 1), manager="peer-a") for i in range(21)]
    episodes += [
        episode("A-dup", "a0", date(2025, 5, 2), manager="peer-a"),  # the same patient twice
        episode("B1", "b1", date(2025, 5, 1), manager="peer-b"),
        episode("B2", "b2", date(2025, 5, 1), manager="peer-b", end=date(2025, 5, 31)),  # ended yesterday
        episode("B3", "b3", date(2025, 5, 1), manager="peer-b", end=date(2025, 6, 1)),  # ends today: still active
        episode("B4", "b4", date(2025, 6, 2), manager="peer-b"),  # not started yet
        episode("B5", "b5", date(2025, 1, 1), manager="peer-b", status="finished"),
        episode("B6", "b6", date(2025, 5, 1), manager=None),
    ]
    peers = {"peer-a": Peer("peer-a", "PEER-A")}
    m = metrics(ProgramData(episodes=tuple(episodes), peers=peers), as_of)
    assert [(c.peer, c.patients, c.over_cap) for c in m.caseload] == [
        ("PEER-A", 21, True),
        ("Practitioner/peer-b", 2, False),
    ]
    assert (
        metrics(ProgramData(episodes=tuple(episodes), peers=peers), as_of, caseload_cap=25).caseload[0].over_cap
        is False
    )


# --- ED linkage and aftercare -----------------------------------------------------------------------------


def handoff(key: str, patient: str, authored: str, kind: str = "ed_to_peer", status: str = "active") -> Handoff:
    return Handoff(f"sr-{key}", key, patient, kind, status, at(authored))


def test_ed_linkage_prefers_the_contact_based_on_the_handoff_else_the_first_one_after_it() -> None:
    t = "2025-03-01T10:00:00-05:00"
    handoffs = (
        handoff("H1", "p1", t),  # a contact 2 h later, but the one naming it is 30 h later
        handoff("H2", "p2", t),  # nothing names it: the first contact at or after it (the earlier one is ignored)
        handoff("H3", "p3", t),  # reached after 10 days
        handoff("H4", "p4", t),  # never reached
        handoff("H5", "p5", t, status="entered-in-error"),
        handoff("H6", "p6", "2025-05-01T10:00:00-04:00"),  # after the as-of date
        handoff("H7", "p7", t, kind="aftercare_peer"),
        handoff("H8", "p8", t),  # the contact naming it was recorded a little before authoredOn
    )
    contacts = (
        contact("p1", "2025-03-01T12:00:00-05:00"),
        contact("p1", "2025-03-02T16:00:00-05:00", based_on=("sr-H1",)),
        contact("p2", "2025-02-28T10:00:00-05:00"),
        contact("p2", "2025-03-01T10:00:00-05:00", mode="text"),
        contact("p2", "2025-03-01T15:00:00-05:00"),
        contact("p3", "2025-03-11T10:00:00-05:00"),
        contact("p8", "2025-03-01T09:50:00-05:00", based_on=("sr-H8",)),
    )
    ed = metrics(ProgramData(contacts=contacts, handoffs=handoffs), date(2025, 4, 1)).ed_linkage
    # hours: H1 30, H2 5, H3 240, H8 0 (clamped)
    assert (ed.handoffs, ed.linked, ed.linked_1d, ed.linked_7d, ed.linked_30d) == (5, 4, 2, 3, 4)
    assert ed.median_hours == 17.5


def test_aftercare_window_runs_from_the_start_to_30_days_after_the_end() -> None:
    end = date(2025, 6, 30)
    episodes = (
        *tuple(episode(f"E{i}", f"p{i}", date(2025, 1, 1), status="finished", end=end) for i in range(1, 7)),
        episode("E7", "p7", date(2025, 1, 1), status="active"),
    )
    handoffs = (
        handoff("A1", "p1", "2025-06-20T11:00:00-04:00", kind="aftercare_peer"),
        handoff("A2", "p2", "2025-07-30T23:00:00-04:00", kind="aftercare_peer"),  # end + 30 days, site time
        handoff("A3", "p3", "2025-07-31T11:00:00-04:00", kind="aftercare_peer"),  # end + 31 days
        handoff("A4", "p4", "2025-06-20T11:00:00-04:00", kind="aftercare_peer", status="entered-in-error"),
        handoff("A5", "p5", "2025-06-20T11:00:00-04:00", kind="mental_health"),
        handoff("A6", "p7", "2025-06-20T11:00:00-04:00", kind="aftercare_peer"),  # an active episode's
    )
    a = metrics(ProgramData(episodes=episodes, handoffs=handoffs), date(2025, 9, 1)).aftercare
    assert (a.finished, a.with_aftercare_handoff) == (6, 2)
    wider = metrics(ProgramData(episodes=episodes, handoffs=handoffs), date(2025, 9, 1), aftercare_window_days=31)
    assert wider.aftercare.with_aftercare_handoff == 3


# --- linkage by kind (issue 17) ---------------------------------------------------------------------------


def outcome(key: str, kind: str | None, result: str, days: float | None = None, reason: str | None = None):  # type: ignore[no-untyped-def]
    return HandoffOutcome(key, kind, result, None, days, "x", reason)  # type: ignore[arg-type]


def test_linkage_by_kind_rates_exclude_retracted_handoffs() -> None:
    rows = linkage_by_kind(
        [
            outcome("1", "housing", "linked", 3.0),
            outcome("2", "housing", "linked", 12.0),
            outcome("3", "housing", "linked", 40.0),
            outcome("4", "housing", "not_linked", reason="no-capacity"),
            outcome("5", "housing", "retracted"),
            outcome("6", "ed_to_peer", "pending"),
            outcome("7", None, "in_progress"),
            outcome("8", "zz_local_kind", "linked", None),
        ]
    )
    assert [r.kind for r in rows] == ["ed_to_peer", "housing", "unknown", "zz_local_kind"]
    housing = rows[1]
    assert (housing.handoffs, housing.linked, housing.linked_7d, housing.linked_30d, housing.median_days) == (
        4,
        3,
        1,
        2,
        12.0,
    )
    assert (housing.not_linked, housing.retracted, rows[0].pending, rows[2].in_progress) == (1, 1, 1, 1)
    assert rows[3].median_days is None and rows[3].linked == 1


def test_top_reasons_for_not_linked() -> None:
    outcomes = [outcome(str(i), "housing", "not_linked", reason=r) for i, r in enumerate("aabbbcd") if r != "d"]
    outcomes.append(outcome("x", "housing", "not_linked"))
    outcomes.append(outcome("y", "housing", "linked", 1.0, reason="ignored"))
    assert not_linked_reasons(outcomes, top=3) == (("b", 3), ("a", 2), ("c", 1))
    assert ("no reason given", 1) in not_linked_reasons(outcomes)


def test_outcomes_of_handoffs_authored_after_the_as_of_date_are_left_out() -> None:
    data = ProgramData(
        handoffs=(handoff("H1", "p1", "2025-03-01T10:00:00-05:00"), handoff("H2", "p1", "2025-05-01T10:00:00-04:00"))
    )
    m = metrics(
        data,
        date(2025, 4, 1),
        outcomes=(outcome("H1", "ed_to_peer", "pending"), outcome("H2", "ed_to_peer", "pending")),
    )
    assert m.linkage_by_kind[0].handoffs == 1


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        ReportOptions(suppress_below=-1)
    with pytest.raises(ValueError):
        ReportOptions(caseload_cap=0)
    assert timedelta(days=ReportOptions().aftercare_window_days) == timedelta(days=30)
