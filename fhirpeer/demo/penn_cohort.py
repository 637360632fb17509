"""The Penn cohort: a sample program whose report reproduces the Penn peer program's published figures.

`generate_penn_cohort(out_dir, as_of)` writes the input CSVs of the contract (patients, staff, sites,
peer_contacts, care_team, handoffs, enrollments) for a program built backwards from ``as_of``, so that the
report computed with the same as-of date gives exactly (Penn integrated peer program, shared/seeds):

* engaged / eligible patients in program months 1–6: 41/50, 34/45, 30/42, 17/30, 14/26, 8/19;
* counted contacts by telephone, in person and by video 217 / 76 / 7 of 300 (72.3 / 25.3 / 2.3 %, each
  within one point of Penn's 73 / 26 / 3 %); texts exist in the export but are never counted;
* contact length median 25 min, quartiles 11 and 45 (``statistics.quantiles(..., method="inclusive")``);
* caseloads of 10–20 patients per peer; ED warm handoffs (``ed_to_peer``) reaching a peer within 1, 7 and 30
  days; ``aftercare_peer`` handoffs for most finished episodes.

The export also holds what must not count: no-shows, cancellations, future scheduled contacts, a contact
entered in error, texts, a planned enrollment, an enrollment entered in error, a withdrawn aftercare handoff
and one authored too late, and contacts at 23:30 on a month's last day (the next day in UTC). Dates are in
the site time zone, America/New_York; every timestamp carries its offset (EST or EDT as the date requires).

The same ``as_of`` and ``seed`` give byte-identical files. All names are fictional.
Run ``python -m fhirpeer.demo.penn_cohort OUT_DIR --as-of 2026-01-05`` for a look.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..program_report.metrics import add_months, months_ended, program_month

__all__ = ["COLUMNS", "PENN_ELIGIBLE", "PENN_ENGAGED", "CohortSummary", "generate_penn_cohort"]

SITE_TIME_ZONE = "America/New_York"
PROGRAM = "primary_care_peer"
MONTHS = 6

PENN_ENGAGED = (41, 34, 30, 17, 14, 8)
PENN_ELIGIBLE = (50, 45, 42, 30, 26, 19)
COUNTED_CONTACTS = 300
MODE_COUNTS = {"telephone": 217, "in_person": 76, "video": 7}
DURATION_Q1, DURATION_MEDIAN, DURATION_Q3 = 11, 25, 45
RECENT_PATIENTS = 14  # enrolled less than a month ago: active, not yet eligible for any month
WITHDRAWN_FINISHERS = 3  # of the 19 who reached month 6, three withdrew on the way
WITHDRAWN_ACTIVE = 2
AFTERCARE_HANDOFFS = 12
ED_REFERRED_ENROLLEES = 10

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("patient_mrn", "family_name", "given_name", "birth_date", "gender"),
    "staff.csv": ("staff_id", "npi", "family_name", "given_name", "discipline", "site_id"),
    "sites.csv": ("site_id", "name", "kind"),
    "peer_contacts.csv": (
        "contact_id", "patient_mrn", "peer_id", "start", "mode", "status", "duration_min", "setting", "site_id",
        "handoff_id", "enrollment_id", "purposes",
    ),
    "care_team.csv": ("team_id", "patient_mrn", "staff_id", "role", "start_date", "end_date", "site_id"),
    "handoffs.csv": (
        "handoff_id", "patient_mrn", "kind", "requested_at", "status", "requester_id", "to_staff_id",
        "to_site_id", "priority", "via", "note",
    ),
    "enrollments.csv": (
        "enrollment_id", "patient_mrn", "start_date", "status", "end_date", "end_reason", "peer_id", "team_id",
        "site_id", "program", "referral_handoff_id",
    ),
}  # fmt: skip
"""Column order of every file written (the contract's columns)."""

# Patients per number of completed program months (0…6; "6" holds everyone past month 6).
_COMPLETED_MONTHS = {6: 19, 5: 7, 4: 4, 3: 12, 2: 3, 1: 5}
_PAST_SIX = (6, 6, 7, 7, 8, 8, 9)  # how far past the start those who finished are, cycled

# ED warm handoffs of patients seen only in the ED: hours to the first peer contact (None: never reached), and
# whether the contact names the handoff (else the report finds it as the first contact after it).
_ED_ONLY_LINKS: tuple[tuple[float | None, bool], ...] = (
    (3.5, True), (22.0, False),
    (30.0, True), (52.0, False), (75.0, True), (120.0, False), (160.0, True),
    (200.0, True), (400.0, False), (690.0, True),
    (840.0, False), (1150.0, False),
    (None, False), (None, False),
)  # fmt: skip

PEERS = ("PEER-01", "PEER-02", "PEER-03")
ED_COACHES = ("EDPEER-01", "EDPEER-02")
_FAMILY = ("Rivera", "Chen", "Okafor", "Lindqvist", "Haddad", "Moreau", "Novak", "Tanaka", "Osei", "Brennan",
           "Kowalski", "Duarte", "Nakamura", "Abernathy", "Castellano", "Whitfield", "Petrov", "Mbeki")  # fmt: skip
_GIVEN = ("Alex", "Jordan", "Morgan", "Casey", "Riley", "Taylor", "Avery", "Quinn", "Jamie", "Dana", "Robin",
          "Sam", "Drew", "Kendall", "Reese", "Skyler", "Hayden", "Emerson")  # fmt: skip


@dataclass(frozen=True)
class CohortSummary:
    """What was written, and the figures the report must give for the same as-of date."""

    out_dir: Path
    as_of: date
    time_zone: str
    rows: dict[str, int]
    engagement: tuple[tuple[int, int], ...]  # (engaged, eligible) for months 1…6
    modes: dict[str, int]  # counted contacts per mode
    duration_quartiles: tuple[float, float, float]  # q1, median, q3 in minutes
    caseloads: dict[str, int]  # peer → patients with an active episode
    ed_handoffs: int
    ed_linked: tuple[int, int, int]  # within 1, 7, 30 days
    finished_episodes: int
    with_aftercare_handoff: int

    def format(self) -> str:
        months = ", ".join(f"{e}/{n}" for e, n in self.engagement)
        total = sum(self.modes.values())
        modes = ", ".join(f"{m} {100 * n / total:.1f} %" for m, n in self.modes.items())
        return (
            f"Penn cohort as of {self.as_of.isoformat()} in {self.out_dir}: engaged/eligible by month {months}; "
            f"{total} counted contacts ({modes}); duration quartiles {self.duration_quartiles}; "
            f"caseloads {sorted(self.caseloads.values())}"
        )


@dataclass
class _Patient:
    index: int
    mrn: str
    completed: int  # program months ended by as_of (may exceed 6)
    start: date
    peer: str = ""
    engaged: set[int] = field(default_factory=set)
    status: str = "active"
    end: date | None = None
    end_reason: str = ""
    referral: str = ""

    @property
    def enrollment_id(self) -> str:
        return f"ENR-{self.index:04d}"

    @property
    def team_id(self) -> str:
        return f"TEAM-{self.index:04d}"

    def eligible(self, month: int) -> bool:
        return self.completed >= month

    def last_engaged(self) -> int:
        return max(self.engaged, default=0)


@dataclass
class _Slot:
    """A counted contact to be written (mode and length are dealt out at the end)."""

    patient: str
    start: datetime
    peer: str
    site: str
    enrollment: str = ""
    handoff: str = ""
    mode: str = ""
    purposes: str = ""


def _npi(index: int) -> str:
    """A syntactically valid NPI (Luhn check digit over the 80840 prefix), fictional."""
    base = f"1{index:08d}"
    digits = [int(d) for d in "80840" + base]
    total = 0
    for i, d in enumerate(reversed(digits)):
        doubled = d * 2 if i % 2 == 0 else d
        total += doubled - 9 if doubled > 9 else doubled
    return base + str((10 - total % 10) % 10)


def duration_values(n: int, rng: random.Random) -> list[int]:
    """``n`` whole-minute lengths whose inclusive quartiles are exactly 11, 25 and 45.

    Quartile i sits between sorted positions j and j+1 (j = ⌊i(n−1)/4⌋); both are given the target value, and
    the four segments around them stay inside [1, 11], [11, 25], [25, 45] and [45, 180].
    """
    if n < 9:
        raise ValueError("at least 9 lengths are needed to pin three quartiles")
    j1, j2, j3 = (i * (n - 1) // 4 for i in (1, 2, 3))
    sizes = (j1 + 1, j2 - j1, j3 - j2, n - j3 - 1)
    ranges = ((1, DURATION_Q1), (DURATION_Q1, DURATION_MEDIAN), (DURATION_MEDIAN, DURATION_Q3), (DURATION_Q3, 180))
    values: list[int] = []
    for k, (size, (low, high)) in enumerate(zip(sizes, ranges, strict=True)):
        segment = sorted(rng.randint(low, high) for _ in range(size))
        if k < 3:
            segment[-1] = high  # position j_k holds the quartile…
        if k > 0:
            segment[0] = low  # …and so does position j_k + 1
        values += segment
    return values


class _Cohort:
    def __init__(self, as_of: date, seed: int) -> None:
        self.as_of = as_of
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(SITE_TIME_ZONE)
        self.patients: list[_Patient] = []
        self.slots: list[_Slot] = []
        self.other_contacts: list[list[str]] = []
        self.handoffs: list[list[str]] = []
        self.ed_only: list[str] = []
        self._contact_seq = 0
        self._handoff_seq = 0

    # --- time -------------------------------------------------------------------------------------------

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), self.tz)

    def office_time(self, day: date) -> datetime:
        return self.at(day, self.rng.randint(8, 19), self.rng.choice((0, 10, 15, 20, 30, 40, 45, 50)))

    def after(self, moment: datetime, hours: float) -> datetime:
        """``hours`` of elapsed time after ``moment`` (added in UTC: local wall-clock arithmetic skips DST)."""
        return (moment.astimezone(UTC) + timedelta(hours=hours)).astimezone(self.tz)

    def stamp(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).isoformat(timespec="seconds")

    def day_in(self, first: date, end: date) -> date:
        """A random day in ``[first, end)``."""
        return first + timedelta(days=self.rng.randrange((end - first).days))

    # --- enrolment --------------------------------------------------------------------------------------

    def start_for(self, completed: int) -> date:
        """A start date whose first ``completed`` program months (and no more) have ended by as_of."""
        offsets = list(range(1, 28))
        self.rng.shuffle(offsets)
        for days in offsets:
            start = add_months(self.as_of, -completed) - timedelta(days=days)
            if completed == 0:
                start = self.as_of - timedelta(days=days + 1)
            ended = sum(1 for m in range(1, completed + 2) if program_month(start, m)[1] <= self.as_of)
            if ended == completed:
                return start
        raise AssertionError("no start date fits")  # pragma: no cover - 27 candidates always include one

    def enrol(self) -> None:
        completed: list[int] = []
        past = iter(_PAST_SIX * 3)
        for months, count in _COMPLETED_MONTHS.items():
            completed += [next(past) if months == 6 else months for _ in range(count)]
        completed += [0] * RECENT_PATIENTS
        self.rng.shuffle(completed)
        for i, c in enumerate(completed, start=1):
            start = self.start_for(c)
            assert months_ended(start, self.as_of, MONTHS) == min(c, MONTHS)
            self.patients.append(_Patient(i, f"PENN-{1000 + i:06d}", c, start))
        self.patients.sort(key=lambda p: p.start)

    def assign_engagement(self) -> None:
        """Engaged months: the top k of a persistent propensity plus noise, among the eligible."""
        propensity = {p.mrn: self.rng.gauss(0, 1) for p in self.patients}
        for month, k in enumerate(PENN_ENGAGED, start=1):
            eligible = [p for p in self.patients if p.eligible(month)]
            assert len(eligible) == PENN_ELIGIBLE[month - 1]
            ranked = sorted(eligible, key=lambda p: propensity[p.mrn] + self.rng.gauss(0, 0.6), reverse=True)
            for p in ranked[:k]:
                p.engaged.add(month)

    def assign_status(self) -> None:
        finishers = [p for p in self.patients if p.completed >= MONTHS]
        for p in sorted((p for p in finishers if p.last_engaged() < MONTHS), key=_Patient.last_engaged)[
            :WITHDRAWN_FINISHERS
        ]:
            self.withdraw(p)
        in_program = [p for p in self.patients if 2 <= p.completed < MONTHS and p.last_engaged() <= p.completed - 2]
        for p in in_program[:WITHDRAWN_ACTIVE]:
            self.withdraw(p)
        for p in finishers:
            if p.status == "active":
                p.status = "finished"
                p.end = program_month(p.start, MONTHS)[1] - timedelta(days=1)
                p.end_reason = self.rng.choice(("completed_program", "completed_program", "transferred_to_community"))
        active = [p for p in self.patients if p.status == "active"]
        for i, p in enumerate(active):
            p.peer = PEERS[i % len(PEERS)]
        for p in self.patients:
            p.peer = p.peer or self.rng.choice(PEERS)

    def withdraw(self, p: _Patient) -> None:
        """Withdrawn a few days into the month after the last engaged one."""
        first, end = program_month(p.start, p.last_engaged() + 1)
        p.status = "withdrawn"
        p.end = min(first + timedelta(days=self.rng.randint(3, 12)), end - timedelta(days=1))
        p.end_reason = self.rng.choice(("withdrew", "lost_to_follow_up"))

    # --- contacts ---------------------------------------------------------------------------------------

    def windows(self, p: _Patient) -> list[tuple[date, date, str]]:
        """Where a counted contact of ``p`` may go: engaged months, and the open month while still active."""
        found = []
        for m in sorted(p.engaged):
            first, end = program_month(p.start, m)
            found.append((first, end, _stage(m)))
        if p.status == "active" and p.completed < MONTHS:
            first = program_month(p.start, p.completed + 1)[0]
            if first < self.as_of:
                found.append((first, self.as_of, _stage(p.completed + 1)))
        return found

    def penn_slot(self, p: _Patient, moment: datetime, stage: str) -> _Slot:
        return _Slot(p.mrn, moment, p.peer, _practice(p), p.enrollment_id, purposes=_purposes(self.rng, stage))

    def required_slots(self) -> None:
        """One contact in each engaged month; some at 23:30 on the month's last day when the next is not engaged."""
        for p in self.patients:
            for m in sorted(p.engaged):
                first, end = program_month(p.start, m)
                late = m + 1 <= min(p.completed, MONTHS) and m + 1 not in p.engaged and self.rng.random() < 0.5
                moment = self.at(end - timedelta(days=1), 23, 30) if late else self.office_time(self.day_in(first, end))
                self.slots.append(self.penn_slot(p, moment, _stage(m)))

    def ed_handoffs(self) -> tuple[int, int, int, int]:
        """ED warm handoffs: enrollees met in the ED before their start, and patients seen only in the ED."""
        hours: list[float | None] = []
        referred = self.rng.sample([p for p in self.patients if p.status != "withdrawn"], ED_REFERRED_ENROLLEES)
        for p in referred:
            requested = self.at(p.start - timedelta(days=2), self.rng.randint(13, 18), 0)
            handoff = self.handoff(p.mrn, "ed_to_peer", requested, "completed", via="in_person")
            p.referral = handoff
            delay = self.rng.uniform(0.5, 20.0)
            self.slots.append(
                _Slot(p.mrn, self.after(requested, delay), self.rng.choice(ED_COACHES), "PENN-ED",
                      handoff=handoff, mode="in_person", purposes="engagement")
            )  # fmt: skip
            hours.append(delay)
        for i, (delay, named) in enumerate(_ED_ONLY_LINKS, start=1):
            mrn = f"ED-{5000 + i:06d}"
            self.ed_only.append(mrn)
            requested = self.at(self.as_of - timedelta(days=self.rng.randint(60, 150)), self.rng.randint(9, 21), 15)
            status = "completed" if named else ("declined" if delay is None and i % 2 else "active")
            handoff = self.handoff(mrn, "ed_to_peer", requested, status, via="warm_line")
            coach = self.rng.choice(ED_COACHES)
            self.other_contact(mrn, coach, self.after(requested, 1), "telephone", "no_show", "PENN-ED")
            if delay is not None:
                moment = self.after(requested, delay)
                self.slots.append(_Slot(mrn, moment, coach, "PENN-ED", handoff=handoff if named else ""))
            hours.append(delay)
        linked = [h for h in hours if h is not None]
        return len(hours), sum(h <= 24 for h in linked), sum(h <= 168 for h in linked), sum(h <= 720 for h in linked)

    def fill_slots(self) -> None:
        windows = [(p, w) for p in self.patients for w in self.windows(p)]
        while len(self.slots) < COUNTED_CONTACTS:
            p, (first, end, stage) = self.rng.choice(windows)
            self.slots.append(self.penn_slot(p, self.office_time(self.day_in(first, end)), stage))
        if len(self.slots) != COUNTED_CONTACTS:
            raise AssertionError("more required contacts than the cohort's total")

    def deal_modes_and_lengths(self) -> list[int]:
        pool = [mode for mode, n in MODE_COUNTS.items() for _ in range(n)]
        for slot in self.slots:
            if slot.mode:
                pool.remove(slot.mode)
        self.rng.shuffle(pool)
        free = iter(pool)
        for slot in self.slots:
            slot.mode = slot.mode or next(free)
        lengths = duration_values(len(self.slots), self.rng)
        self.rng.shuffle(lengths)
        return lengths

    def other_contact(self, mrn: str, peer: str, moment: datetime, mode: str, status: str, site: str) -> None:
        self._contact_seq += 1
        minutes = {"completed": str(self.rng.randint(1, 4)), "entered_in_error": "20", "scheduled": "30"}
        self.other_contacts.append(
            [f"C-{90000 + self._contact_seq}", mrn, peer, self.stamp(moment), mode, status,
             minutes.get(status, ""), "", site, "", "", ""]
        )  # fmt: skip

    def noise(self) -> None:
        """Contacts that must never count: texts, no-shows, cancellations, future bookings, an error."""
        for p in self.patients:
            stop = p.end or self.as_of - timedelta(days=1)
            span = (stop - p.start).days
            if span <= 0:
                continue
            for _ in range(self.rng.randint(0, 2)):
                moment = self.office_time(p.start + timedelta(days=self.rng.randrange(span)))
                self.other_contact(p.mrn, p.peer, moment, "text", "completed", "")
            if self.rng.random() < 0.5:
                moment = self.office_time(p.start + timedelta(days=self.rng.randrange(span)))
                status = self.rng.choice(("no_show", "cancelled"))
                self.other_contact(p.mrn, p.peer, moment, self.rng.choice(("telephone", "in_person")), status, "")
            if p.status == "active":
                moment = self.office_time(self.as_of + timedelta(days=self.rng.randint(1, 21)))
                self.other_contact(p.mrn, p.peer, moment, "in_person", "scheduled", _practice(p))
        unengaged = [
            (p, m) for p in self.patients for m in range(1, min(p.completed, MONTHS) + 1) if m not in p.engaged
        ]
        for p, m in self.rng.sample(unengaged, 3):
            first, end = program_month(p.start, m)
            self.other_contact(p.mrn, p.peer, self.office_time(self.day_in(first, end)), "telephone",
                               "entered_in_error", _practice(p))  # fmt: skip

    # --- handoffs ---------------------------------------------------------------------------------------

    def handoff(self, mrn: str, kind: str, requested: datetime, status: str, *, via: str = "", to_site: str = "",
                note: str = "") -> str:  # fmt: skip
        self._handoff_seq += 1
        key = f"H-{self._handoff_seq:05d}"
        requester = "EDMD-01" if kind == "ed_to_peer" else "PEER-SUP"
        to_staff = self.rng.choice(ED_COACHES) if kind == "ed_to_peer" else ""
        priority = "urgent" if kind == "ed_to_peer" else "routine"
        self.handoffs.append(
            [key, mrn, kind, self.stamp(requested), status, requester, to_staff, to_site, priority, via, note]
        )
        return key

    def aftercare(self) -> int:
        finished = [p for p in self.patients if p.status == "finished"]
        chosen = self.rng.sample(finished, AFTERCARE_HANDOFFS)
        for p in chosen:
            assert p.end is not None
            day = p.end - timedelta(days=self.rng.randint(0, 10))
            status = self.rng.choice(("completed", "completed", "active"))
            self.handoff(p.mrn, "aftercare_peer", self.at(day, 11, 0), status, via="in_person",
                         to_site="PEER-COMMUNITY", note="Aftercare plan: community peer support")  # fmt: skip
        rest = [p for p in finished if p not in chosen]
        retracted, late = (
            rest[0],
            next((p for p in rest[1:] if p.end and p.end + timedelta(days=45) <= self.as_of), None),
        )
        assert retracted.end is not None
        self.handoff(retracted.mrn, "aftercare_peer", self.at(retracted.end, 10, 0), "entered_in_error",
                     to_site="PEER-COMMUNITY")  # fmt: skip
        if late is not None and late.end is not None:
            self.handoff(late.mrn, "aftercare_peer", self.at(late.end + timedelta(days=40), 10, 0), "active",
                         to_site="PEER-COMMUNITY")  # fmt: skip
        for p in self.rng.sample([p for p in self.patients if p.completed >= 2], 8):
            kind = self.rng.choice(("mental_health", "mutual_aid", "housing", "sud_treatment"))
            day = program_month(p.start, 2)[0] + timedelta(days=self.rng.randint(0, 20))
            self.handoff(p.mrn, kind, self.office_time(day), self.rng.choice(("active", "completed", "declined")),
                         to_site="MH-CLINIC" if kind == "mental_health" else "")  # fmt: skip
        return AFTERCARE_HANDOFFS

    # --- files ------------------------------------------------------------------------------------------

    def contact_rows(self, lengths: Sequence[int]) -> list[list[str]]:
        rows = []
        for i, (slot, minutes) in enumerate(sorted(zip(self.slots, lengths, strict=True), key=lambda s: s[0].start)):
            setting = ""
            if slot.mode == "in_person":
                setting = "emergency_department" if slot.site == "PENN-ED" else self.rng.choice(_SETTINGS)
            rows.append(
                [f"C-{10000 + i}", slot.patient, slot.peer, self.stamp(slot.start), slot.mode, "completed",
                 str(minutes), setting, slot.site, slot.handoff, slot.enrollment, slot.purposes]
            )  # fmt: skip
        return rows + self.other_contacts

    def enrollment_rows(self) -> list[list[str]]:
        rows = [
            [p.enrollment_id, p.mrn, p.start.isoformat(), p.status, p.end.isoformat() if p.end else "", p.end_reason,
             p.peer, p.team_id, _practice(p), PROGRAM, p.referral]
            for p in self.patients
        ]  # fmt: skip
        planned_start = self.as_of + timedelta(days=10)
        rows.append(["ENR-9001", "PENN-009001", planned_start.isoformat(), "planned", "", "", PEERS[0], "", "",
                     PROGRAM, ""])  # fmt: skip
        mistaken = self.patients[-1]
        rows.append(["ENR-9002", mistaken.mrn, add_months(self.as_of, -8).isoformat(), "entered_in_error", "", "",
                     mistaken.peer, "", "", PROGRAM, ""])  # fmt: skip
        return rows

    def team_rows(self) -> list[list[str]]:
        rows = []
        for p in self.patients:
            end = p.end.isoformat() if p.end else ""
            members = ((p.peer, "peer"), (_pick(("PCP-01", "PCP-02"), p.index), "pcp"),
                       (_pick(("LCSW-01", "LCSW-02"), p.index), "lcsw"), ("PSY-01", "psychiatrist"),
                       ("PEER-SUP", "peer_supervisor"))  # fmt: skip
            rows += [[p.team_id, p.mrn, staff, role, p.start.isoformat(), end, _practice(p)] for staff, role in members]
        return rows

    def patient_rows(self) -> list[list[str]]:
        mrns = [p.mrn for p in self.patients] + self.ed_only + ["PENN-009001"]
        rows = []
        for i, mrn in enumerate(mrns):
            born = date(1960, 1, 1) + timedelta(days=self.rng.randrange(365 * 40))
            gender = self.rng.choice(("female", "male", "female", "male", "other"))
            rows.append([mrn, _FAMILY[i % len(_FAMILY)], _GIVEN[(i * 7) % len(_GIVEN)], born.isoformat(), gender])
        return rows


_SETTINGS = ("clinic", "clinic", "clinic", "community", "home", "hospital")
STAFF_ROWS = (
    ("PEER-01", "peer", "PENN-PC-PHL"), ("PEER-02", "peer", "PENN-PC-PHL"), ("PEER-03", "peer", "PENN-PC-LAN"),
    ("PEER-SUP", "peer_supervisor", "PENN-PC-PHL"), ("PCP-01", "pcp", "PENN-PC-PHL"), ("PCP-02", "pcp", "PENN-PC-LAN"),
    ("LCSW-01", "lcsw", "PENN-PC-PHL"), ("LCSW-02", "lcsw", "PENN-PC-LAN"), ("PSY-01", "psychiatrist", "PENN-PC-PHL"),
    ("EDPEER-01", "peer", "PENN-ED"), ("EDPEER-02", "peer", "PENN-ED"), ("EDMD-01", "ed_clinician", "PENN-ED"),
)  # fmt: skip
SITE_ROWS = (
    ("PENN-PC-PHL", "Penn Primary Care Philadelphia (sample)", "primary_care"),
    ("PENN-PC-LAN", "Penn Primary Care Lancaster (sample)", "primary_care"),
    ("PENN-ED", "Penn Emergency Department (sample)", "emergency_department"),
    ("PEER-COMMUNITY", "Community Peer Support Program (sample)", "community_peer_program"),
    ("MH-CLINIC", "Community Mental Health Clinic (sample)", "mental_health"),
)
_STAGE_PURPOSES = {
    "initial_engagement": ("engagement", "recovery_planning", "resource_navigation"),
    "early_treatment": ("recovery_planning", "appointment_support", "resource_navigation", "harm_reduction"),
    "stabilization": ("recovery_planning", "appointment_support", "aftercare_planning", "crisis_support"),
}


def _stage(month: int) -> str:
    return "initial_engagement" if month == 1 else "early_treatment" if month <= 3 else "stabilization"


def _purposes(rng: random.Random, stage: str) -> str:
    options = _STAGE_PURPOSES[stage]
    return ";".join(rng.sample(options, rng.choice((1, 1, 2))))


def _practice(p: _Patient) -> str:
    return "PENN-PC-LAN" if p.peer == "PEER-03" else "PENN-PC-PHL"


def _pick(options: Sequence[str], index: int) -> str:
    return options[index % len(options)]


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def generate_penn_cohort(out_dir: Path, as_of: date, seed: int = 1) -> CohortSummary:
    """Write the Penn cohort's CSV files into ``out_dir`` (created) for ``as_of``; return what to expect."""
    cohort = _Cohort(as_of, seed)
    cohort.enrol()
    cohort.assign_engagement()
    cohort.assign_status()
    ed_handoffs, *ed_linked = cohort.ed_handoffs()
    cohort.required_slots()
    cohort.fill_slots()
    lengths = cohort.deal_modes_and_lengths()
    cohort.noise()
    with_aftercare = cohort.aftercare()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staff = [(s, _npi(i), _FAMILY[-1 - i % len(_FAMILY)], _GIVEN[i % len(_GIVEN)], d, site)
             for i, (s, d, site) in enumerate(STAFF_ROWS, start=1)]  # fmt: skip
    rows = {
        "patients.csv": cohort.patient_rows(),
        "staff.csv": staff,
        "sites.csv": SITE_ROWS,
        "peer_contacts.csv": cohort.contact_rows(lengths),
        "care_team.csv": cohort.team_rows(),
        "handoffs.csv": cohort.handoffs,
        "enrollments.csv": cohort.enrollment_rows(),
    }
    counts = {name: _write(out / name, COLUMNS[name], table) for name, table in rows.items()}
    q1, median, q3 = statistics.quantiles(lengths, n=4, method="inclusive")
    active = Counter(p.peer for p in cohort.patients if p.status == "active")
    return CohortSummary(
        out_dir=out,
        as_of=as_of,
        time_zone=SITE_TIME_ZONE,
        rows=counts,
        engagement=tuple(zip(PENN_ENGAGED, PENN_ELIGIBLE, strict=True)),
        modes=dict(MODE_COUNTS),
        duration_quartiles=(q1, median, q3),
        caseloads=dict(sorted(active.items())),
        ed_handoffs=ed_handoffs,
        ed_linked=(ed_linked[0], ed_linked[1], ed_linked[2]),
        finished_episodes=sum(p.status == "finished" for p in cohort.patients),
        with_aftercare_handoff=with_aftercare,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhirpeer.demo.penn_cohort", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date.today())
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(generate_penn_cohort(args.out_dir, args.as_of, args.seed).format())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
