"""The report's figures, computed from the model. Pure functions; no suppression here (see ``suppress``).

Definitions (``render_html`` states them in the page, in the same words):

* program month m (1…6) of an episode runs from start + (m−1) calendar months to start + m calendar months
  (day clipped to the month's end), as dates in the site time zone; an episode is eligible for month m once that
  month has ended by the as-of date, and engaged when its patient has at least one counted contact starting in
  the month. Episodes entered-in-error, planned or waitlisted (or without a start) are not counted; withdrawn
  (cancelled) episodes are, as not engaged once contacts stop.
* a counted contact is a finished Encounter in person, by telephone or by video (texts never count) that
  started on or before the as-of date.
* stages pool their months: initial engagement (month 1), early treatment (2–3), stabilization (4–6).
* modes: shares of counted contacts; duration: median and quartiles of ``Encounter.length`` of counted contacts
  (``statistics.quantiles(..., n=4, method="inclusive")``).
* caseload: per care manager, distinct patients with an episode active on the as-of date.
* ED linkage: per ``ed_to_peer`` handoff authored by the as-of date, the first counted contact based on it, else
  the patient's first counted contact at or after ``authoredOn``.
* aftercare: finished episodes with an ``aftercare_peer`` handoff of the same patient authored from the episode's
  start to 30 days after its end.
"""

from __future__ import annotations

import bisect
import calendar
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .model import COUNTED_MODES, Contact, Episode, HandoffOutcome, ProgramData

STAGES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("initial_engagement", "Initial engagement", (1,)),
    ("early_treatment", "Early treatment", (2, 3)),
    ("stabilization", "Stabilization", (4, 5, 6)),
)
"""Program stages of the Penn model (key, label, months); no standard code exists for them."""

# R4 EpisodeOfCare.status (http://hl7.org/fhir/episode-of-care-status): planned, waitlist and entered-in-error
# episodes are left out; cancelled is how a withdrawn enrollment is sent.
COUNTED_EPISODE_STATUSES = frozenset({"active", "onhold", "finished", "cancelled"})
RETRACTED_STATUS = "entered-in-error"  # R4 request-status (ServiceRequest.status)
HANDOFF_KINDS = (
    "ed_to_peer", "aftercare_peer", "mental_health", "sud_treatment", "mutual_aid", "housing", "transportation",
    "legal", "employment", "childcare", "eldercare", "home_health", "other",
)  # fmt: skip
"""The contract's handoff kinds, in the order the report lists them (others follow, sorted)."""
TOP_REASONS = 5


@dataclass(frozen=True)
class ReportOptions:
    """What a site may tune; the defaults are the issue's."""

    suppress_below: int = 11
    caseload_cap: int = 20
    caseload_range: tuple[int, int] = (10, 20)  # the Penn program's stated range, drawn on the chart
    months: int = 6
    aftercare_window_days: int = 30
    ed_kind: str = "ed_to_peer"
    aftercare_kind: str = "aftercare_peer"

    def __post_init__(self) -> None:
        if self.suppress_below < 0 or self.caseload_cap < 1 or self.months < 1 or self.aftercare_window_days < 0:
            raise ValueError("suppress_below ≥ 0, caseload_cap ≥ 1, months ≥ 1 and aftercare_window_days ≥ 0")


# --- calendar months ----------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, the day clipped to the target month's end (Jan 31 + 1 → Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def program_month(start: date, month: int) -> tuple[date, date]:
    """``[first day, day after the last)`` of program month ``month`` (1-based) of an episode starting ``start``."""
    if month < 1:
        raise ValueError("program months start at 1")
    return add_months(start, month - 1), add_months(start, month)


def months_ended(start: date, as_of: date, limit: int) -> int:
    """How many of the first ``limit`` program months have ended by ``as_of`` (their last day is before it)."""
    return sum(1 for m in range(1, limit + 1) if program_month(start, m)[1] <= as_of)


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthEngagement:
    month: int
    stage: str
    eligible: int
    engaged: int


@dataclass(frozen=True)
class StageEngagement:
    stage: str
    label: str
    months: tuple[int, ...]
    eligible: int  # episode-months
    engaged: int


@dataclass(frozen=True)
class ModeCount:
    mode: str
    contacts: int


@dataclass(frozen=True)
class DurationStats:
    contacts: int
    median: float | None
    q1: float | None
    q3: float | None


@dataclass(frozen=True)
class PeerCaseload:
    peer: str
    patients: int
    over_cap: bool


@dataclass(frozen=True)
class EdLinkage:
    handoffs: int
    linked: int
    linked_1d: int
    linked_7d: int
    linked_30d: int
    median_hours: float | None


@dataclass(frozen=True)
class Aftercare:
    finished: int
    with_aftercare_handoff: int


@dataclass(frozen=True)
class KindLinkage:
    kind: str
    handoffs: int  # not retracted
    linked: int
    linked_7d: int
    linked_30d: int
    median_days: float | None
    in_progress: int
    not_linked: int
    pending: int
    retracted: int


@dataclass(frozen=True)
class ProgramMetrics:
    """Every figure of the report, unsuppressed (never write these out as they are)."""

    engagement_by_month: tuple[MonthEngagement, ...]
    stages: tuple[StageEngagement, ...]
    modes: tuple[ModeCount, ...]
    uncounted_contacts: int  # finished contacts of unknown mode or texts, up to the as-of date
    duration: DurationStats
    caseload: tuple[PeerCaseload, ...]
    ed_linkage: EdLinkage
    aftercare: Aftercare
    linkage_by_kind: tuple[KindLinkage, ...]
    not_linked_reasons: tuple[tuple[str, int], ...]


# --- computations -------------------------------------------------------------------------------------------


class _ContactIndex:
    """Counted contacts by patient, sorted by start, with their dates in the site time zone."""

    def __init__(self, contacts: Iterable[Contact], as_of: date, tz: ZoneInfo) -> None:
        self.counted: list[Contact] = []
        self.uncounted = 0
        by_patient: dict[str, list[tuple[datetime, date, Contact]]] = defaultdict(list)
        for c in contacts:
            if c.start is None or c.status != "finished" or c.start.astimezone(tz).date() > as_of:
                continue
            if not c.counts:
                self.uncounted += 1
                continue
            self.counted.append(c)
            if c.patient_id is not None:
                by_patient[c.patient_id].append((c.start, c.start.astimezone(tz).date(), c))
        self._starts: dict[str, list[datetime]] = {}
        self._days: dict[str, list[date]] = {}
        self._contacts: dict[str, list[Contact]] = {}
        for patient, items in by_patient.items():
            items.sort(key=lambda item: item[0])
            self._starts[patient] = [i[0] for i in items]
            self._days[patient] = [i[1] for i in items]  # same order: local dates rise with instants
            self._contacts[patient] = [i[2] for i in items]

    def any_between(self, patient: str, first: date, end: date) -> bool:
        """A counted contact of ``patient`` on a site-time-zone day in ``[first, end)``."""
        days = self._days.get(patient, [])
        i = bisect.bisect_left(days, first)
        return i < len(days) and days[i] < end

    def first_at_or_after(self, patient: str, moment: datetime) -> Contact | None:
        starts = self._starts.get(patient, [])
        i = bisect.bisect_left(starts, moment)
        return self._contacts[patient][i] if i < len(starts) else None


def _counted_episodes(episodes: Iterable[Episode], as_of: date) -> list[Episode]:
    return [
        e
        for e in episodes
        if e.status in COUNTED_EPISODE_STATUSES
        and e.start is not None
        and e.patient_id is not None
        and e.start <= as_of
    ]


def _stage_of(month: int) -> str:
    return next((key for key, _, months in STAGES if month in months), "after_program")


def engagement(
    episodes: Sequence[Episode], index: _ContactIndex, as_of: date, months: int
) -> tuple[tuple[MonthEngagement, ...], tuple[StageEngagement, ...]]:
    eligible: Counter[int] = Counter()
    engaged: Counter[int] = Counter()
    for e in episodes:
        assert e.start is not None and e.patient_id is not None  # _counted_episodes guarantees both
        for m in range(1, months + 1):
            first, end = program_month(e.start, m)
            if end > as_of:
                break
            eligible[m] += 1
            engaged[m] += index.any_between(e.patient_id, first, end)
    by_month = tuple(MonthEngagement(m, _stage_of(m), eligible[m], engaged[m]) for m in range(1, months + 1))
    stages = tuple(
        StageEngagement(
            key,
            label,
            tuple(m for m in stage_months if m <= months),
            sum(eligible[m] for m in stage_months),
            sum(engaged[m] for m in stage_months),
        )
        for key, label, stage_months in STAGES
        if any(m <= months for m in stage_months)
    )
    return by_month, stages


def contact_modes(index: _ContactIndex) -> tuple[ModeCount, ...]:
    counts = Counter(c.mode for c in index.counted)
    return tuple(ModeCount(mode, counts[mode]) for mode in COUNTED_MODES)


def quartiles(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(q1, median, q3) by the inclusive method; None for fewer than two values."""
    if len(values) < 2:
        return None
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def duration(index: _ContactIndex) -> DurationStats:
    minutes = [c.minutes for c in index.counted if c.minutes is not None]
    q = quartiles(minutes)
    if q is None:
        return DurationStats(len(minutes), minutes[0] if minutes else None, None, None)
    return DurationStats(len(minutes), q[1], q[0], q[2])


def caseload(data: ProgramData, as_of: date, cap: int) -> tuple[PeerCaseload, ...]:
    patients: dict[str, set[str]] = defaultdict(set)
    for e in data.episodes:
        if (
            e.status == "active"
            and e.care_manager_id is not None
            and e.patient_id is not None
            and e.start is not None
            and e.start <= as_of
            and (e.end is None or e.end >= as_of)
        ):
            patients[e.care_manager_id].add(e.patient_id)
    rows = [PeerCaseload(data.peer_label(pid), len(ps), len(ps) > cap) for pid, ps in patients.items()]
    return tuple(sorted(rows, key=lambda r: r.peer))


def _start(contact: Contact) -> datetime:
    assert contact.start is not None  # counted contacts have a start
    return contact.start


def ed_linkage(data: ProgramData, index: _ContactIndex, as_of: date, tz: ZoneInfo, kind: str) -> EdLinkage:
    based_on: dict[str, list[Contact]] = defaultdict(list)
    for c in index.counted:
        for sr in c.based_on:
            based_on[sr].append(c)
    hours: list[float] = []
    handoffs = 0
    for h in data.handoffs:
        if h.kind != kind or h.status == RETRACTED_STATUS or h.authored_on is None:
            continue
        if h.authored_on.astimezone(tz).date() > as_of:
            continue
        handoffs += 1
        named = based_on.get(h.id)
        first = min(named, key=_start) if named else None
        if first is None and h.patient_id is not None:
            first = index.first_at_or_after(h.patient_id, h.authored_on)
        if first is not None and first.start is not None:
            # a contact recorded before the handoff's authoredOn (clock skew) counts as immediate
            hours.append(max(0.0, (first.start - h.authored_on).total_seconds() / 3600))
    return EdLinkage(
        handoffs=handoffs,
        linked=len(hours),
        linked_1d=sum(h <= 24 for h in hours),
        linked_7d=sum(h <= 7 * 24 for h in hours),
        linked_30d=sum(h <= 30 * 24 for h in hours),
        median_hours=round(statistics.median(hours), 1) if hours else None,
    )


def aftercare(data: ProgramData, as_of: date, tz: ZoneInfo, kind: str, window_days: int) -> Aftercare:
    authored: dict[str, list[date]] = defaultdict(list)
    for h in data.handoffs:
        if h.kind == kind and h.status != RETRACTED_STATUS and h.authored_on is not None and h.patient_id:
            authored[h.patient_id].append(h.authored_on.astimezone(tz).date())
    finished = with_handoff = 0
    for e in data.episodes:
        if e.status != "finished" or e.start is None or e.patient_id is None or e.start > as_of:
            continue
        finished += 1
        last = (e.end or as_of) + timedelta(days=window_days)
        with_handoff += any(e.start <= day <= last for day in authored.get(e.patient_id, []))
    return Aftercare(finished, with_handoff)


def _kind_order(kind: str) -> tuple[int, str]:
    return (HANDOFF_KINDS.index(kind) if kind in HANDOFF_KINDS else len(HANDOFF_KINDS), kind)


def linkage_by_kind(outcomes: Iterable[HandoffOutcome]) -> tuple[KindLinkage, ...]:
    groups: dict[str, list[HandoffOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.kind or "unknown"].append(o)
    rows = []
    for kind in sorted(groups, key=_kind_order):
        items = groups[kind]
        by_outcome = Counter(o.outcome for o in items)
        days = [o.days_to_linkage for o in items if o.outcome == "linked" and o.days_to_linkage is not None]
        rows.append(
            KindLinkage(
                kind=kind,
                handoffs=len(items) - by_outcome["retracted"],
                linked=by_outcome["linked"],
                linked_7d=sum(d <= 7 for d in days),
                linked_30d=sum(d <= 30 for d in days),
                median_days=round(statistics.median(days), 1) if days else None,
                in_progress=by_outcome["in_progress"],
                not_linked=by_outcome["not_linked"],
                pending=by_outcome["pending"],
                retracted=by_outcome["retracted"],
            )
        )
    return tuple(rows)


def not_linked_reasons(outcomes: Iterable[HandoffOutcome], top: int = TOP_REASONS) -> tuple[tuple[str, int], ...]:
    reasons = Counter(o.reason or "no reason given" for o in outcomes if o.outcome == "not_linked")
    return tuple(reasons.most_common(top))


def compute_metrics(
    data: ProgramData,
    outcomes: Sequence[HandoffOutcome],
    *,
    as_of: date,
    tz: ZoneInfo,
    options: ReportOptions | None = None,
) -> ProgramMetrics:
    """Every figure of the report for ``as_of`` (a date in the site time zone ``tz``).

    ``outcomes`` are the decided handoff outcomes (``handoff_outcomes.decide_outcomes``); only those of
    handoffs authored by the as-of date are used.
    """
    opts = options or ReportOptions()
    index = _ContactIndex(data.contacts, as_of, tz)
    by_month, stages = engagement(_counted_episodes(data.episodes, as_of), index, as_of, opts.months)
    authored_by = {
        h.key or h.id for h in data.handoffs if h.authored_on and h.authored_on.astimezone(tz).date() <= as_of
    }
    reported = [o for o in outcomes if o.handoff_id in authored_by]
    return ProgramMetrics(
        engagement_by_month=by_month,
        stages=stages,
        modes=contact_modes(index),
        uncounted_contacts=index.uncounted,
        duration=duration(index),
        caseload=caseload(data, as_of, opts.caseload_cap),
        ed_linkage=ed_linkage(data, index, as_of, tz, opts.ed_kind),
        aftercare=aftercare(data, as_of, tz, opts.aftercare_kind, opts.aftercare_window_days),
        linkage_by_kind=linkage_by_kind(reported),
        not_linked_reasons=not_linked_reasons(reported),
    )
