"""Handoff outcomes (issue 17): what became of each warm handoff, decided from what the server holds.

Not to be confused with ``fhirpeer.outcome`` (OperationOutcome parsing).

For every handoff fhirpeer wrote (a ServiceRequest), the evidence is its referral Task(s) — Gravity SDOH
referral management, moved by the receiver — and what any system recorded against it: Encounters whose
``basedOn`` is the ServiceRequest and EpisodeOfCare whose ``referralRequest`` is. The outcome:

=============  ============================================================================================
``retracted``  the ServiceRequest or a Task is entered-in-error (wins over everything)
``linked``     a Task completed, the ServiceRequest completed, a finished Encounter based on it, or an active
               or finished EpisodeOfCare referring to it (wins over a rejection)
``in_progress`` a Task accepted, in-progress or on-hold
``not_linked`` a Task rejected, cancelled or failed (reason: the statusReason's code, else its text), or the
               ServiceRequest revoked
``pending``    nothing yet (Task draft or requested, or no Task)
=============  ============================================================================================

``decided_at`` is when the deciding evidence happened: Task.lastModified, Encounter.period.start,
EpisodeOfCare.period.start, or — for a completed ServiceRequest, which records no completion time — its
meta.lastUpdated (the latest the linkage can have happened). When several pieces of evidence link a handoff,
the earliest decides. ``days_to_linkage`` = decided_at − authoredOn in days (one decimal; evidence recorded
before the handoff counts as 0), for linked handoffs only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from ..transport.client import FhirClient
from .csvout import text_cell, write_csv
from .extract import extract_program
from .fetch import fetch_handoff_evidence
from .model import (
    Contact,
    Episode,
    Handoff,
    HandoffOutcome,
    Outcome,
    ProgramData,
    TaskState,
)
from .systems import Systems

__all__ = [
    "OUTCOME_COLUMNS",
    "decide_outcome",
    "decide_outcomes",
    "outcome_rows",
    "outcomes_from_server",
    "write_outcomes_csv",
]

OUTCOME_COLUMNS = ("handoff_id", "kind", "outcome", "decided_at", "days_to_linkage", "evidence", "reason")

RETRACTED = "entered-in-error"
# R4 Task.status (required binding, http://hl7.org/fhir/task-status) as Gravity assigns them to the receiver.
TASK_LINKED = frozenset({"completed"})
TASK_IN_PROGRESS = frozenset({"accepted", "in-progress", "on-hold"})
TASK_NOT_LINKED = frozenset({"rejected", "cancelled", "failed"})
# R4 EpisodeOfCare.status (http://hl7.org/fhir/episode-of-care-status) that show the patient arrived.
EPISODE_LINKED = frozenset({"active", "finished"})
REASON_MAX = 80
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Evidence:
    label: str
    at: datetime | None
    reason: str | None = None


def _moment(evidence: _Evidence) -> datetime:
    assert evidence.at is not None  # only called on dated evidence
    return evidence.at


def _earliest(candidates: Iterable[_Evidence]) -> _Evidence | None:
    """The earliest dated evidence; undated evidence only when nothing is dated (the first one listed)."""
    items = list(candidates)
    dated = [e for e in items if e.at is not None]
    if dated:
        return min(dated, key=_moment)
    return items[0] if items else None


def _latest(candidates: Iterable[_Evidence]) -> _Evidence | None:
    """The most recent state; undated evidence only when nothing is dated (the last one listed)."""
    items = list(candidates)
    dated = [e for e in items if e.at is not None]
    if dated:
        return max(dated, key=_moment)
    return items[-1] if items else None


def _reason(task: TaskState) -> str | None:
    """The statusReason's code, else its text reduced to one short line (it is a reason, not a note)."""
    if task.reason_code:
        return task.reason_code
    if task.reason_text:
        text = _SPACE.sub(" ", task.reason_text).strip()
        return text[:REASON_MAX] or None
    return None


def _task_evidence(task: TaskState, *, with_reason: bool = False) -> _Evidence:
    return _Evidence(f"task:{task.status}", task.last_modified, _reason(task) if with_reason else None)


def _linked_evidence(
    handoff: Handoff,
    tasks: Sequence[TaskState],
    encounters: Iterable[Contact],
    episodes: Iterable[Episode],
    tz: ZoneInfo,
) -> list[_Evidence]:
    found = [_task_evidence(t) for t in tasks if t.status in TASK_LINKED]
    found += [
        _Evidence(f"encounter:{c.key or c.id}", c.start)
        for c in encounters
        if c.status == "finished" and handoff.id in c.based_on
    ]
    found += [
        _Evidence(f"episode:{e.key or e.id}", datetime.combine(e.start, time(), tz) if e.start else None)
        for e in episodes
        if e.status in EPISODE_LINKED and handoff.id in e.referral_ids
    ]
    if handoff.status == "completed":
        found.append(_Evidence("servicerequest:completed", handoff.last_updated))
    return found


def _days_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds() / 86400), 1)


def decide_outcome(
    handoff: Handoff,
    tasks: Sequence[TaskState] = (),
    encounters: Iterable[Contact] = (),
    episodes: Iterable[Episode] = (),
    *,
    tz: ZoneInfo,
) -> HandoffOutcome:
    """The outcome of one handoff from its Tasks and the Encounters / EpisodeOfCare that may refer to it.

    ``encounters`` and ``episodes`` may hold unrelated resources: only those referring to the handoff count.
    ``tz`` is the site time zone (an EpisodeOfCare start is a date).
    """

    def outcome(kind: Outcome, evidence: _Evidence | None, days: float | None = None) -> HandoffOutcome:
        return HandoffOutcome(
            handoff_id=handoff.key or handoff.id,
            kind=handoff.kind,
            outcome=kind,
            decided_at=evidence.at if evidence else None,
            days_to_linkage=days,
            evidence=evidence.label if evidence else "none",
            reason=evidence.reason if evidence else None,
        )

    if handoff.status == RETRACTED:
        return outcome("retracted", _Evidence("servicerequest:entered-in-error", handoff.last_updated))
    retracted = [_task_evidence(t) for t in tasks if t.status == RETRACTED]
    if retracted:
        return outcome("retracted", _latest(retracted))
    linked = _earliest(_linked_evidence(handoff, tasks, encounters, episodes, tz))
    if linked is not None:
        return outcome("linked", linked, _days_between(handoff.authored_on, linked.at))
    working = _latest(_task_evidence(t) for t in tasks if t.status in TASK_IN_PROGRESS)
    if working is not None:
        return outcome("in_progress", working)
    refused = _latest(_task_evidence(t, with_reason=True) for t in tasks if t.status in TASK_NOT_LINKED)
    if refused is not None:
        return outcome("not_linked", refused)
    if handoff.status == "revoked":
        return outcome("not_linked", _Evidence("servicerequest:revoked", handoff.last_updated))
    waiting = _latest(_task_evidence(t) for t in tasks)
    label = waiting.label if waiting else f"servicerequest:{handoff.status or 'unknown'}"
    return outcome("pending", _Evidence(label, None))


def decide_outcomes(data: ProgramData, *, tz: ZoneInfo) -> list[HandoffOutcome]:
    """The outcome of every handoff in ``data``, in the order of ``data.handoffs``.

    A Task belongs to a handoff by its focus (any system's Task) or, when its focus is unreadable, by
    fhirpeer's identifier (the handoff key).
    """
    by_focus: dict[str, list[TaskState]] = defaultdict(list)
    by_key: dict[str, list[TaskState]] = defaultdict(list)
    for task in data.tasks:
        if task.focus_id is not None:
            by_focus[task.focus_id].append(task)
        elif task.key is not None:
            by_key[task.key].append(task)
    encounters: dict[str, list[Contact]] = defaultdict(list)
    for contact in (*data.contacts, *data.evidence_contacts):
        for sr in contact.based_on:
            encounters[sr].append(contact)
    episodes: dict[str, list[Episode]] = defaultdict(list)
    for episode in (*data.episodes, *data.evidence_episodes):
        for sr in episode.referral_ids:
            episodes[sr].append(episode)
    return [
        decide_outcome(
            h,
            [*by_focus.get(h.id, []), *by_key.get(h.key or "", [])],
            encounters.get(h.id, []),
            episodes.get(h.id, []),
            tz=tz,
        )
        for h in data.handoffs
    ]


def outcome_rows(outcomes: Iterable[HandoffOutcome]) -> list[list[str]]:
    """The CSV rows (``OUTCOME_COLUMNS``) of the outcomes, formatted."""
    return [
        [
            text_cell(o.handoff_id),
            o.kind or "",
            o.outcome,
            o.decided_at.isoformat(timespec="seconds") if o.decided_at else "",
            f"{o.days_to_linkage:.1f}" if o.days_to_linkage is not None else "",
            text_cell(o.evidence),
            text_cell(o.reason) if o.reason else "",
        ]
        for o in outcomes
    ]


def write_outcomes_csv(outcomes: Iterable[HandoffOutcome], path: Path) -> Path:
    """Write the outcomes CSV (columns exactly ``OUTCOME_COLUMNS``; keys and codes only) and return its path."""
    return write_csv(Path(path), OUTCOME_COLUMNS, outcome_rows(outcomes))


def outcomes_from_server(
    client: FhirClient, systems: Systems, *, tz: ZoneInfo, since: datetime | None = None
) -> tuple[list[HandoffOutcome], list[str]]:
    """Read the program's handoffs and their evidence from the server and decide them.

    With ``since`` (the previous run's time, by the server's clock), only handoffs with news after it.
    Returns the outcomes and the reader's PHI-free warnings (searches the server could not do).
    """
    fetched = fetch_handoff_evidence(client, systems, since=since)
    return decide_outcomes(extract_program(fetched.resources, systems, tz), tz=tz), fetched.warnings
