"""Incremental outcomes: a run's re-decided handoffs folded into what earlier runs decided, and the polling rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.program_report.incremental import (
    POLL_INTERVAL,
    TrackedOutcome,
    merge_outcomes,
    polling_wait,
    tracked_outcomes,
)
from fhirpeer.program_report.model import Handoff, HandoffOutcome, Outcome, ProgramData, TaskState

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def tracked(key: str, outcome: Outcome, evidence: str = "task:requested", sid: str | None = None) -> TrackedOutcome:
    return TrackedOutcome(
        HandoffOutcome(key, "housing", outcome, None, None, evidence, None), sid or f"sr-{key}", f"pat-{key}"
    )


PREVIOUS = {
    "H1": tracked("H1", "pending"),
    "H2": tracked("H2", "in_progress", "task:accepted"),
    "H3": tracked("H3", "linked", "task:completed"),
}


def test_an_incremental_run_replaces_what_it_redecided_and_keeps_the_rest() -> None:
    merged = merge_outcomes(PREVIOUS, [tracked("H1", "in_progress", "task:accepted")], full=False)
    assert [o.handoff_id for o in merged.rows()] == ["H1", "H2", "H3"]  # the CSV stays complete
    assert merged.outcomes["H1"].outcome.outcome == "in_progress"
    assert merged.outcomes["H2"] is PREVIOUS["H2"] and merged.outcomes["H3"] is PREVIOUS["H3"]
    assert merged.redecided == ("H1",)
    assert [(o.handoff_id, o.outcome) for o in merged.changed] == [("H1", "in_progress")]


def test_a_redecided_handoff_with_the_same_outcome_is_not_a_change() -> None:
    """Within the safety overlap a run decides handoffs again that did not change."""
    merged = merge_outcomes(PREVIOUS, [tracked("H2", "in_progress", "task:accepted")], full=False)
    assert merged.redecided == ("H2",)
    assert merged.changed == ()


def test_a_new_handoff_is_a_change_and_joins_the_rows_in_key_order() -> None:
    merged = merge_outcomes(PREVIOUS, [tracked("H0", "pending")], full=False)
    assert [o.handoff_id for o in merged.rows()] == ["H0", "H1", "H2", "H3"]
    assert [o.handoff_id for o in merged.changed] == ["H0"]


def test_a_full_read_drops_handoffs_no_longer_on_the_server() -> None:
    merged = merge_outcomes(PREVIOUS, [tracked("H1", "pending"), tracked("H3", "linked", "task:completed")], full=True)
    assert [o.handoff_id for o in merged.rows()] == ["H1", "H3"]
    assert merged.changed == ()


def test_a_first_run_changes_everything() -> None:
    merged = merge_outcomes({}, [tracked("H2", "pending"), tracked("H1", "linked")], full=True)
    assert [o.handoff_id for o in merged.changed] == ["H1", "H2"]


def test_tracked_outcomes_keep_the_server_ids_each_handoff_is_found_by() -> None:
    tz = ZoneInfo("America/New_York")
    handoff = Handoff("sr-9", "H9", "pat-9", "housing", "active", NOW)
    task = TaskState("t9", "H9", "sr-9", "accepted", None, None, None, NOW + timedelta(days=1))
    (one,) = tracked_outcomes(ProgramData(handoffs=(handoff,), tasks=(task,)), tz=tz)
    assert (one.handoff_id, one.server_id, one.patient_id, one.outcome.outcome) == (
        "H9",
        "sr-9",
        "pat-9",
        "in_progress",
    )


@pytest.mark.parametrize(
    ("minutes_ago", "wait"),
    [
        (None, None),  # never polled: poll now
        (0, POLL_INTERVAL),
        (5, timedelta(minutes=10)),
        (14.5, timedelta(seconds=30)),
        (15, None),  # exactly the interval: poll
        (60 * 24, None),
        (-30, POLL_INTERVAL),  # the clock went back: as if polled just now, never sooner
    ],
)
def test_the_server_is_polled_at_most_every_fifteen_minutes(minutes_ago: float | None, wait: timedelta | None) -> None:
    last = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    assert polling_wait(last, NOW) == wait


def test_the_interval_can_be_chosen() -> None:
    assert polling_wait(NOW - timedelta(minutes=5), NOW, timedelta(minutes=2)) is None
    assert timedelta(minutes=15) == POLL_INTERVAL  # Gravity's "not more often than every 15 minutes"
