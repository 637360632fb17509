"""The handoff outcome decision (issue 17) and the outcomes CSV."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.program_report.handoff_outcomes import (
    OUTCOME_COLUMNS,
    decide_outcome,
    decide_outcomes,
    write_outcomes_csv,
)
from fhirpeer.program_report.model import Contact, Episode, Handoff, HandoffOutcome, ProgramData, TaskState

NY = ZoneInfo("America/New_York")
AUTHORED = datetime.fromisoformat("2025-06-01T10:00:00-04:00")
SR = Handoff("sr1", "H1", "p1", "housing", "active", AUTHORED, datetime.fromisoformat("2025-06-09T10:00:00-04:00"))


def task(
    status: str,
    modified: str | None = "2025-06-03T10:00:00-04:00",
    code: str | None = None,
    text: str | None = None,
    tid: str = "t1",
    focus: str | None = "sr1",
    key: str | None = "H1",
) -> TaskState:
    return TaskState(tid, key, focus, status, None, code, text, datetime.fromisoformat(modified) if modified else None)


def encounter(
    start: str, status: str = "finished", based_on: tuple[str, ...] = ("sr1",), cid: str = "e1", key: str | None = None
) -> Contact:
    return Contact(cid, key, "p1", status, datetime.fromisoformat(start), None, None, based_on)


def episode(status: str, start: date = date(2025, 6, 10), referrals: tuple[str, ...] = ("sr1",)) -> Episode:
    return Episode("eoc1", "E1", "p1", status, start, None, None, None, referrals)


def decide(handoff: Handoff = SR, tasks=(), encounters=(), episodes=()) -> HandoffOutcome:  # type: ignore[no-untyped-def]
    return decide_outcome(handoff, tasks, encounters, episodes, tz=NY)


def summary(o: HandoffOutcome) -> tuple[str, str, str | None, float | None]:
    return o.outcome, o.evidence, o.reason, o.days_to_linkage


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ([task("completed")], ("linked", "task:completed", None, 2.0)),
        ([task("accepted")], ("in_progress", "task:accepted", None, None)),
        ([task("in-progress")], ("in_progress", "task:in-progress", None, None)),
        ([task("on-hold", text="waiting list")], ("in_progress", "task:on-hold", None, None)),
        (
            [task("rejected", code="patient-declined", text="Declined")],
            ("not_linked", "task:rejected", "patient-declined", None),
        ),
        (
            [task("failed", text="  could not\n reach   patient ")],
            ("not_linked", "task:failed", "could not reach patient", None),
        ),
        ([task("cancelled")], ("not_linked", "task:cancelled", None, None)),
        ([task("requested")], ("pending", "task:requested", None, None)),
        ([task("draft")], ("pending", "task:draft", None, None)),
        ([], ("pending", "servicerequest:active", None, None)),
        ([task("entered-in-error")], ("retracted", "task:entered-in-error", None, None)),
    ],
)
def test_task_status_decides(tasks: list[TaskState], expected: tuple[object, ...]) -> None:
    assert summary(decide(tasks=tasks)) == expected


def test_linked_by_an_encounter_or_an_episode_of_any_system() -> None:
    linked = decide(encounters=[encounter("2025-06-05T09:00:00-04:00", key="C-7")])
    assert summary(linked) == ("linked", "encounter:C-7", None, 4.0)
    assert linked.decided_at == datetime.fromisoformat("2025-06-05T09:00:00-04:00")
    by_episode = decide(episodes=[episode("active")])
    assert summary(by_episode) == ("linked", "episode:E1", None, 8.6)  # Jun 10 00:00 New York time
    assert summary(decide(episodes=[episode("finished")]))[0] == "linked"
    assert summary(decide(episodes=[episode("planned")]))[0] == "pending"
    assert summary(decide(encounters=[encounter("2025-06-05T09:00:00-04:00", status="cancelled")]))[0] == "pending"
    unrelated = encounter("2025-06-05T09:00:00-04:00", based_on=("sr-other",))
    assert summary(decide(encounters=[unrelated], episodes=[episode("active", referrals=())]))[0] == "pending"


def test_a_completed_service_request_is_dated_by_its_last_update() -> None:
    done = Handoff(
        "sr1", "H1", "p1", "housing", "completed", AUTHORED, datetime.fromisoformat("2025-06-09T10:00:00-04:00")
    )
    assert summary(decide(done)) == ("linked", "servicerequest:completed", None, 8.0)
    undated = Handoff("sr1", "H1", "p1", "housing", "completed", AUTHORED)
    assert summary(decide(undated)) == ("linked", "servicerequest:completed", None, None)


def test_linkage_wins_over_a_rejection_and_the_earliest_evidence_decides() -> None:
    o = decide(
        tasks=[
            task("rejected", code="no-capacity"),
            task("completed", "2025-06-20T10:00:00-04:00", tid="t2", key=None),
        ],
        encounters=[
            encounter("2025-06-04T10:00:00-04:00", cid="e-late"),
            encounter("2025-06-02T10:00:00-04:00", cid="e-early"),
        ],
    )
    assert summary(o) == ("linked", "encounter:e-early", None, 1.0)


def test_in_progress_wins_over_a_rejection_and_the_latest_refusal_gives_the_reason() -> None:
    assert decide(tasks=[task("rejected"), task("accepted", tid="t2")]).outcome == "in_progress"
    o = decide(
        tasks=[
            task("rejected", "2025-06-02T10:00:00-04:00", code="old"),
            task("failed", "2025-06-05T10:00:00-04:00", code="new", tid="t2"),
        ]
    )
    assert (o.outcome, o.reason, o.decided_at) == (
        "not_linked",
        "new",
        datetime.fromisoformat("2025-06-05T10:00:00-04:00"),
    )


def test_retraction_wins_over_everything() -> None:
    retracted_sr = Handoff("sr1", "H1", "p1", "housing", "entered-in-error", AUTHORED)
    assert decide(retracted_sr, tasks=[task("completed")]).outcome == "retracted"
    o = decide(
        tasks=[task("completed"), task("entered-in-error", tid="t2")],
        encounters=[encounter("2025-06-02T10:00:00-04:00")],
    )
    assert summary(o) == ("retracted", "task:entered-in-error", None, None)


def test_a_revoked_service_request_without_an_answer_is_not_linked() -> None:
    revoked = Handoff("sr1", "H1", "p1", "housing", "revoked", AUTHORED)
    assert summary(decide(revoked)) == ("not_linked", "servicerequest:revoked", None, None)
    assert decide(revoked, tasks=[task("accepted")]).outcome == "in_progress"


def test_evidence_recorded_before_the_handoff_counts_as_immediate() -> None:
    assert decide(encounters=[encounter("2025-06-01T09:00:00-04:00")]).days_to_linkage == 0.0


def test_a_long_free_text_reason_is_cut_to_one_short_line() -> None:
    o = decide(tasks=[task("rejected", text="x" * 300)])
    assert o.reason == "x" * 80


def test_decide_outcomes_matches_tasks_by_focus_or_by_key() -> None:
    h2 = Handoff("sr2", "H2", "p2", "ed_to_peer", "active", AUTHORED)
    foreign = Handoff("sr3", None, "p3", "other", "active", AUTHORED)
    data = ProgramData(
        handoffs=(SR, h2, foreign),
        tasks=(
            task("completed", focus="sr1", key=None, tid="receiver"),
            task("accepted", focus=None, key="H2", tid="t2"),
        ),
        contacts=(encounter("2025-06-02T10:00:00-04:00", based_on=("sr3",), key="C-1"),),
    )
    decided = decide_outcomes(data, tz=NY)
    assert [(o.handoff_id, o.outcome) for o in decided] == [("H1", "linked"), ("H2", "in_progress"), ("sr3", "linked")]


def test_the_csv_has_exactly_the_contract_columns_and_codes_only(tmp_path: Path) -> None:
    outcomes = [
        decide(tasks=[task("completed")]),
        decide(tasks=[task("rejected", text='=HYPERLINK("http://x")')]),
        decide(),
    ]
    path = write_outcomes_csv(outcomes, tmp_path / "out" / "outcomes.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert (
        tuple(rows[0])
        == OUTCOME_COLUMNS
        == ("handoff_id", "kind", "outcome", "decided_at", "days_to_linkage", "evidence", "reason")
    )
    assert rows[1] == ["H1", "housing", "linked", "2025-06-03T10:00:00-04:00", "2.0", "task:completed", ""]
    assert rows[2][2] == "not_linked" and rows[2][6].startswith("'=")  # a spreadsheet will not run it
    assert rows[3] == ["H1", "housing", "pending", "", "", "servicerequest:active", ""]
    assert not list(tmp_path.glob("out/.*"))  # no temporary file left behind
