"""Incremental handoff outcomes: fold what a run re-decided into what earlier runs decided, and the polite-polling
rule. Pure functions; `fhirpeer outcomes` keeps the results in the state store.

A run that reads only what changed re-decides only the handoffs it touched; every other handoff keeps the outcome
an earlier run decided, so the CSV is complete after every run. A run that read every handoff replaces the lot
(handoffs no longer on the server drop out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .handoff_outcomes import decide_outcomes
from .model import HandoffOutcome, ProgramData

#: Gravity SDOH Clinical Care IG, "Checking Task Status" › Polling (HL7/fhir-sdoh-clinicalcare,
#: input/pagecontent/checking_task_status.md): "Systems SHOULD NOT query more often than every 15 minutes unless there
#: is an urgent change they are monitoring for" (and SHALL check at least once per business day).
POLL_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class TrackedOutcome:
    """A handoff's outcome with what the next incremental run needs to find its evidence again."""

    outcome: HandoffOutcome
    server_id: str  # the ServiceRequest's id on the server
    patient_id: str | None  # for servers that can search evidence only by patient

    @property
    def handoff_id(self) -> str:
        return self.outcome.handoff_id


def tracked_outcomes(data: ProgramData, *, tz: ZoneInfo) -> list[TrackedOutcome]:
    """Decide every handoff in ``data`` (see ``decide_outcomes``), keeping each one's server ids."""
    decided = decide_outcomes(data, tz=tz)
    return [TrackedOutcome(o, h.id, h.patient_id) for h, o in zip(data.handoffs, decided, strict=True)]


@dataclass(frozen=True)
class MergedOutcomes:
    """Every handoff's outcome after a run, and what the run changed."""

    outcomes: dict[str, TrackedOutcome]  # by handoff id, sorted
    redecided: tuple[str, ...]  # the handoffs this run decided again (changed or not)
    changed: tuple[HandoffOutcome, ...]  # new handoffs, and those whose outcome is not the one last stored

    def rows(self) -> list[HandoffOutcome]:
        """The complete outcome list, in handoff id order (what the CSV shows)."""
        return [t.outcome for t in self.outcomes.values()]


def merge_outcomes(
    previous: Mapping[str, TrackedOutcome], decided: Iterable[TrackedOutcome], *, full: bool
) -> MergedOutcomes:
    """``decided`` (this run's outcomes) over ``previous`` (by handoff id). ``full``: this run read every handoff,
    so a previous handoff it did not see is gone."""
    fresh = {t.handoff_id: t for t in decided}
    merged = dict(fresh) if full else {**previous, **fresh}
    changed = tuple(
        t.outcome
        for key, t in sorted(fresh.items())
        if key not in previous or previous[key].outcome.outcome != t.outcome.outcome
    )
    return MergedOutcomes(dict(sorted(merged.items())), tuple(sorted(fresh)), changed)


def polling_wait(last_polled: datetime | None, now: datetime, interval: timedelta = POLL_INTERVAL) -> timedelta | None:
    """How long until the server may be polled again after a poll at ``last_polled`` (None: it may be now).

    Both are the client's clock (the rule is about how often this client asks). A last poll in the future — the
    clock was set back — counts as just now, so a wrong clock errs on the side of asking less."""
    if last_polled is None:
        return None
    elapsed = max(now - last_polled, timedelta(0))
    return interval - elapsed if elapsed < interval else None
