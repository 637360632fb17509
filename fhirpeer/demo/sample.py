"""Seeded, streaming generator of a realistic sample peer recovery support program export.

`generate_program` writes the seven CSV files of the input contract (patients, staff, sites, peer_contacts,
care_team, handoffs, enrollments) for a fictional program shaped like the Penn integrated peer program for opioid use
disorder in primary care (6-month program; each patient has a peer recovery specialist, a PCP, a licensed
clinical social worker and a consulting psychiatrist) plus the warm handoffs of an emergency department peer
recovery coach program and referrals to community resources:

* contact modes ≈ 72 % telephone, 25 % in person, 2.5 % video, 0.5 % text (Penn: 73 / 26 / 3, without
  texts);
* contact duration median 25 min, quartiles 11 and 45 min (a two-piece log-normal: one σ below the median,
  another above, so both quartiles are hit exactly), clamped to 1–240;
* the share of patients with at least one (completed or scheduled) contact in program month 1…6 follows
  Penn's 82, 76, 71, 57, 54, 42 % (interpolated when the program has another length); months of one patient
  are correlated (a Gaussian copula), as engagement is;
* peers carry caseloads of about 15 patients; care-team members rotate (an end_date and a replacement row).

Everything is derived from one `random.Random(seed)`: the same arguments give byte-identical files. The
generator streams — rosters (sites, staff) are small and built first, then each patient's rows are written
before the next patient is drawn — so it doubles as the load generator for benchmarks (`target_contacts`).

`apply_changes` rewrites an export in place with a few realistic updates, for incremental-sync demos.

All names are fictional. Run ``python -m fhirpeer.demo.sample OUT_DIR --patients 500`` for a quick look.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from statistics import NormalDist
from typing import IO, Protocol

__all__ = [
    "HEADERS",
    "SampleSummary",
    "apply_changes",
    "generate_program",
    "make_npi",
    "npi_is_valid",
    "patients_for_contacts",
]

PATIENTS = "patients.csv"
STAFF = "staff.csv"
SITES = "sites.csv"
CONTACTS = "peer_contacts.csv"
CARE_TEAM = "care_team.csv"
HANDOFFS = "handoffs.csv"
ENROLLMENTS = "enrollments.csv"

HEADERS: dict[str, tuple[str, ...]] = {
    PATIENTS: ("patient_mrn", "family_name", "given_name", "birth_date", "gender"),
    STAFF: ("staff_id", "npi", "family_name", "given_name", "discipline", "site_id"),
    SITES: ("site_id", "name", "kind"),
    CONTACTS: (
        "contact_id", "patient_mrn", "peer_id", "start", "mode", "status",
        "duration_min", "setting", "site_id", "purposes",
    ),
    CARE_TEAM: ("team_id", "patient_mrn", "staff_id", "role", "start_date", "end_date", "site_id"),
    HANDOFFS: (
        "handoff_id", "patient_mrn", "kind", "requested_at", "status", "requester_id",
        "to_staff_id", "to_site_id", "priority", "via", "note",
    ),
    ENROLLMENTS: (
        "enrollment_id", "patient_mrn", "start_date", "status", "end_date", "end_reason", "peer_id", "team_id",
        "site_id", "program",
    ),
}  # fmt: skip
"""Column order of every generated file (the contract's columns, required ones first)."""

# --- program shape

PENN_MONTHLY_ACTIVE = (0.82, 0.76, 0.71, 0.57, 0.54, 0.42)
"""Share of patients with ≥1 peer contact in program month 1…6 (Penn, n = 50 → 19)."""
MONTH_DAYS = 30
ENROLLMENT_WINDOW_DAYS = 28
EXPORT_LAG_DAYS = 7
"""Default export date: this many days after the 30-day months of the program have passed from `start`."""
ENGAGEMENT_CORRELATION = 0.7
"""Copula correlation between a patient's months: engaged patients tend to stay engaged."""
FAILED_ATTEMPT_RATE = 0.15
"""Extra cancelled / no-show / entered-in-error rows per real contact."""
DEFAULT_CONTACTS_PER_ACTIVE_MONTH = 3.0
TARGET_CASELOAD = 15
PEERS_PER_POD = 2
"""A pod: peers sharing one LCSW and one partner PCP at one practice."""
PODS_PER_PSYCHIATRIST = 3
PODS_PER_PRACTICE = 12
"""Up to about 360 patients: two practices; more as the program grows (at most 30)."""
PEERS_PER_SUPERVISOR = 8

DURATION_MEDIAN, DURATION_Q1, DURATION_Q3 = 25.0, 11.0, 45.0
_Z75 = NormalDist().inv_cdf(0.75)
_LOG_MEDIAN = math.log(DURATION_MEDIAN)
_SIGMA_BELOW = math.log(DURATION_MEDIAN / DURATION_Q1) / _Z75
_SIGMA_ABOVE = math.log(DURATION_Q3 / DURATION_MEDIAN) / _Z75
DURATION_MAX = 240

MODE_WEIGHTS = {"telephone": 72.0, "in_person": 25.0, "video": 2.5, "text": 0.5}
SETTING_WEIGHTS = {"clinic": 68.0, "community": 16.0, "home": 9.0, "hospital": 7.0}
_PURPOSE_STAGES = (  # month 1 (engagement), months 2-3 (early treatment), stabilisation, last month
    {"engagement": 50, "recovery_planning": 15, "resource_navigation": 12, "appointment_support": 12,
     "harm_reduction": 6, "crisis_support": 3, "discharge_support": 2},
    {"engagement": 15, "recovery_planning": 30, "resource_navigation": 20, "appointment_support": 20,
     "harm_reduction": 8, "crisis_support": 4, "discharge_support": 2, "aftercare_planning": 1},
    {"engagement": 8, "recovery_planning": 28, "resource_navigation": 18, "appointment_support": 18,
     "harm_reduction": 8, "crisis_support": 4, "discharge_support": 2, "aftercare_planning": 14},
    {"engagement": 5, "recovery_planning": 18, "resource_navigation": 14, "appointment_support": 12,
     "harm_reduction": 6, "crisis_support": 3, "discharge_support": 2, "aftercare_planning": 40},
)  # fmt: skip
_PURPOSE_COUNT = {1: 55.0, 2: 35.0, 3: 10.0}
PURPOSE_POOL_SIZE = 512
"""Purpose lists are drawn once per stage into a pool of this size, then picked from (faster per contact)."""

REFERRAL_KIND_WEIGHTS = {
    "transportation": 22.0, "housing": 20.0, "mental_health": 15.0, "mutual_aid": 15.0, "sud_treatment": 8.0,
    "employment": 7.0, "legal": 5.0, "childcare": 4.0, "eldercare": 1.0, "home_health": 1.0, "other": 2.0,
}  # fmt: skip
REFERRALS_PER_PATIENT = 1.3
ED_ENTRY_SHARE = 0.28
ED_RETURN_SHARE = 0.06
AFTERCARE_SHARE = 0.45
NOTE_SHARE = 0.3

# --- people and places

_FEMALE = (
    "María", "Zoë", "Aaliyah", "Chloé", "Siobhán", "Mei", "Fatima", "Keisha", "Ashley", "Jennifer", "Jessica",
    "Amanda", "Sarah", "Brittany", "Renée", "Thảo", "Priya", "Olga", "Lakisha", "Megan", "Danielle", "Nicole",
    "Samantha", "Ana", "Guadalupe", "Hannah", "Kayla", "Jasmine", "Brianna", "Noémie", "Kateřina", "Ngozi",
)  # fmt: skip
_MALE = (
    "José", "Michael", "Christopher", "James", "Andre", "DeShawn", "Tyrone", "Matthew", "Joshua", "Daniel",
    "Luis", "Jesús", "Minh", "Dmitri", "Kwame", "Ahmed", "Seán", "Björn", "Ryan", "Brandon", "Kevin",
    "Anthony", "Jamal", "Miguel", "François", "Tomás", "William", "Robert", "Cody", "Travis", "Đức", "Jürgen",
)  # fmt: skip
_NEUTRAL = ("Alex", "Jordan", "Taylor", "Riley", "Casey", "Morgan", "Sam", "Jamie", "Avery", "Quinn", "Rowan")
_FAMILY = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "García", "Miller", "Davis", "Rodríguez", "Martínez",
    "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark", "Ramírez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyễn", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "O'Brien",
    "O'Connor", "McCarthy", "Kowalski", "Nowak", "Müller", "Schröder", "Novák", "Núñez", "Peña", "Ibáñez",
    "Trần", "Phạm", "Lê", "Kim", "Park", "Chen", "Wang", "Patel", "Shah", "Okafor", "Adeyemi", "Mensah",
    "Abdullah", "Haddad", "Cohen", "Rosenberg", "Ivanov", "García-López", "Smith-Jones", "Ruiz-Ortega",
    "Washington", "Begay", "Yazzie", "Kealoha", "D'Angelo", "DuBois", "St. Pierre", "van der Berg",
    "Zieliński", "Ó Súilleabháin",
)  # fmt: skip
_SHOWCASE_PATIENTS = (  # the first patients exercise the hard cases deterministically
    ("Núñez", "José", "male"),
    ("O'Brien", "Zoë", "female"),
    ("Nguyễn", "Thị Thảo", "female"),
    ("García-López", "María José", "female"),
    ("Smith-Jones", "Alex", "other"),
    ("D'Angelo", "Jamie", "unknown"),
)
_GENDER_WEIGHTS = {"male": 57.0, "female": 40.5, "other": 1.5, "unknown": 1.0}

_PRACTICE_NAMES = (
    "Riverside Family Medicine", "Northgate Primary Care Associates", "Conestoga Valley Family Practice",
    "Fairmount Internal Medicine", "Lititz Community Health", "Germantown Family Health Center",
    "Strasburg Primary Care", "Cedar Hill Medical Group", "Old City Internal Medicine",
    "Ephrata Family Practice",
)  # fmt: skip
_FIXED_SITES = (
    ("ED01", "St. Luke's Regional Medical Center – Emergency Department", "emergency_department"),
    ("HOSP01", "St. Luke's Regional Medical Center", "hospital"),
    ("CPP01", "Second Wind Recovery Community Center", "community_peer_program"),
    ("HOU01", "Harbor House Supportive Housing", "housing"),
    ("HOU02", "Bridge Street Recovery Residences", "housing"),
    ("TRN01", "CityRide Non-Emergency Medical Transport", "transportation"),
    ("TRN02", "County Shared-Ride Program", "transportation"),
    ("MA01", 'Narcotics Anonymous – "Just for Today" Group', "mutual_aid"),
    ("MA02", "SMART Recovery, Tuesday Evening Meeting", "mutual_aid"),
    ("SUD01", "Bridgeway Outpatient Treatment Center", "sud_treatment"),
    ("SUD02", "Hope Springs Residential Program", "sud_treatment"),
    ("MH01", "Crossroads Behavioral Health", "mental_health"),
    ("LEG01", "Legal Aid Society, Health Justice Unit", "legal"),
    ("EMP01", "WorkSource Career Center", "employment"),
    ("CC01", "Little Steps Child Care Co-op", "childcare"),
    ("ELD01", "Valley Area Agency on Aging", "eldercare"),
    ("HH01", "Visiting Nurse Association Home Health", "home_health"),
    ("OTH01", "Community Food Pantry & Clothing Closet", "other"),
)
ED_SITE, HOSPITAL_SITE, PEER_PROGRAM_SITE = "ED01", "HOSP01", "CPP01"

_NOTES: dict[str, tuple[str, ...]] = {
    "ed_to_peer": (
        'Warm line call from ED; pt "ready to start" buprenorphine, peer met pt at bedside.',
        "Seen in ED after overdose, naloxone given.\nPeer to follow up within 24h, pt agreed.",
        "Opt-out linkage: pt accepted peer visit, declined inpatient detox.",
    ),
    "aftercare_peer": (
        "Warm handoff to community peer, first meeting Thursday 2pm at the center.",
        'Pt chose remote peer group ("easier with work"), intro call done.',
    ),
    "resource": (
        'Intake waitlist ~2 weeks, told to "call back Monday", peer will check in.',
        "Needs rides to Tue/Thu appointments, 8:30am,\nwheelchair-accessible van requested.",
        "Declined referral for now, will revisit at next check-in.",
        "Connected with home group, sponsor identified; café meeting spot near clinic.",
        "Pt prefers afternoon calls.\nSister is emergency contact, OK to leave message.",
    ),
}


# --- small helpers


class _Choice:
    """Weighted random choice over fixed values (cumulative weights precomputed: cheaper than `choices`)."""

    __slots__ = ("_cum", "_total", "_values")

    def __init__(self, weights: dict[str, float]) -> None:
        self._values = tuple(weights)
        self._cum = tuple(accumulate(weights.values()))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> str:
        return self._values[bisect.bisect_right(self._cum, rng.random() * self._total)]


_pick_mode = _Choice(MODE_WEIGHTS)
_pick_setting = _Choice(SETTING_WEIGHTS)
_pick_gender = _Choice(_GENDER_WEIGHTS)
_pick_referral = _Choice(REFERRAL_KIND_WEIGHTS)
_pick_purposes = tuple(_Choice({k: float(v) for k, v in stage.items()}) for stage in _PURPOSE_STAGES)
_pick_purpose_count = _Choice({str(k): v for k, v in _PURPOSE_COUNT.items()})


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth's method; a rounded normal for large means)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _duration(rng: random.Random) -> int:
    """Contact length in minutes: two-piece log-normal with median 25 and quartiles 11 / 45, 1–240."""
    z = abs(rng.gauss(0.0, 1.0))
    log_minutes = _LOG_MEDIAN - _SIGMA_BELOW * z if rng.random() < 0.5 else _LOG_MEDIAN + _SIGMA_ABOVE * z
    return min(DURATION_MAX, max(1, round(math.exp(log_minutes))))


def _luhn_sum(digits: str, double_first: bool) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if (i % 2 == 0) == double_first:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def make_npi(base9: str) -> str:
    """A 10-digit NPI: 9 digits plus the Luhn check digit computed with the 80840 prefix."""
    check = (10 - _luhn_sum("80840" + base9, double_first=True) % 10) % 10
    return f"{base9}{check}"


def npi_is_valid(npi: str) -> bool:
    """True when `npi` is 10 digits whose last is the Luhn check digit over ``80840`` + the first nine."""
    return len(npi) == 10 and npi.isdigit() and _luhn_sum("80840" + npi, double_first=False) % 10 == 0


def _weekday(day: date, lo: date, hi: date) -> date:
    """Move a weekend day to the nearest weekday inside ``[lo, hi]`` (Saturday → Friday, Sunday → Monday)."""
    wd = day.weekday()
    if wd == 5:
        return day - timedelta(days=1) if day > lo else day + timedelta(days=2)
    if wd == 6:
        return day + timedelta(days=1) if day < hi else day - timedelta(days=2)
    return day


def monthly_active_targets(months: int) -> tuple[float, ...]:
    """Expected share of patients with ≥1 contact per program month: Penn's curve, stretched to `months`."""
    if months < 1:
        raise ValueError("months must be at least 1")
    curve = PENN_MONTHLY_ACTIVE
    if months == 1:
        return (curve[0],)
    out = []
    for m in range(months):
        x = m * (len(curve) - 1) / (months - 1)
        lo = min(int(x), len(curve) - 2)
        out.append(curve[lo] + (curve[lo + 1] - curve[lo]) * (x - lo))
    return tuple(out)


def patients_for_contacts(
    target_contacts: int,
    *,
    contacts_per_active_month: float = DEFAULT_CONTACTS_PER_ACTIVE_MONTH,
    months: int = 6,
) -> int:
    """How many patients give about `target_contacts` contact rows at the given contact rate."""
    per_patient = contacts_per_active_month * sum(monthly_active_targets(months)) * (1 + FAILED_ATTEMPT_RATE)
    return max(1, round(target_contacts / per_patient))


def _rate_for_target(target_contacts: int, patients: int, months: int) -> float:
    """Mean real contacts per active patient-month that yields about `target_contacts` rows (≥ 1)."""
    active_months = patients * sum(monthly_active_targets(months))
    return max(1.0, target_contacts / (active_months * (1 + FAILED_ATTEMPT_RATE)))


# --- rosters


@dataclass(frozen=True)
class _Pod:
    """Peers sharing a practice, a partner PCP, an LCSW and a consulting psychiatrist."""

    site_id: str
    pcp: str
    lcsw: str
    psychiatrist: str


@dataclass
class _Roster:
    """Sites and staff (small: built in memory before the patients are streamed)."""

    sites: list[tuple[str, str, str]] = field(default_factory=list)
    staff: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    by_discipline: dict[str, list[str]] = field(default_factory=dict)
    pods: list[_Pod] = field(default_factory=list)
    practice_pcps: dict[str, list[str]] = field(default_factory=dict)
    sites_by_kind: dict[str, list[str]] = field(default_factory=dict)

    @property
    def peers(self) -> list[str]:
        return self.by_discipline["peer"]

    def pod_of_peer(self, peer_index: int) -> _Pod:
        return self.pods[peer_index // PEERS_PER_POD]


def _build_sites(n_practices: int) -> list[tuple[str, str, str]]:
    sites = []
    for k in range(n_practices):
        name = _PRACTICE_NAMES[k % len(_PRACTICE_NAMES)]
        if k >= len(_PRACTICE_NAMES):
            name = f"{name} – Office {k // len(_PRACTICE_NAMES) + 1}"
        sites.append((f"PC{k + 1:02d}", name, "primary_care"))
    return sites + list(_FIXED_SITES)


class _StaffMaker:
    """Creates staff rows with unique ids and unique valid NPIs."""

    def __init__(self, rng: random.Random, roster: _Roster) -> None:
        self._rng, self._roster, self._npis = rng, roster, set[str]()

    def make(self, prefix: str, discipline: str, count: int, site: Callable[[int], str], npi: bool) -> list[str]:
        ids = []
        for n in range(count):
            staff_id = f"{prefix}-{n + 1:04d}"
            given = self._rng.choice(_FEMALE if self._rng.random() < 0.55 else _MALE)
            self._roster.staff.append(
                (
                    staff_id,
                    self._new_npi() if npi else "",
                    self._rng.choice(_FAMILY),
                    given,
                    discipline,
                    site(n),
                )
            )
            ids.append(staff_id)
        self._roster.by_discipline[discipline] = ids
        return ids

    def _new_npi(self) -> str:
        while True:
            value = make_npi(f"{self._rng.choice('12')}{self._rng.randrange(10**8):08d}")
            if value not in self._npis:
                self._npis.add(value)
                return value


def _build_roster(rng: random.Random, patients: int) -> _Roster:
    """Sites and staff sized to the program: one peer per ~15 patients, smaller pools of clinicians."""
    n_peers = max(1, math.ceil(patients / TARGET_CASELOAD))
    n_pods = math.ceil(n_peers / PEERS_PER_POD)
    n_practices = min(30, max(2, math.ceil(n_pods / PODS_PER_PRACTICE)))
    roster = _Roster(sites=_build_sites(n_practices))
    for site_id, _name, kind in roster.sites:
        roster.sites_by_kind.setdefault(kind, []).append(site_id)
    practices = roster.sites_by_kind["primary_care"]

    def pod_site(pod: int) -> str:
        return practices[pod % n_practices]

    maker = _StaffMaker(rng, roster)
    maker.make("PEER", "peer", n_peers, lambda n: pod_site(n // PEERS_PER_POD), npi=False)
    pcps = maker.make("PCP", "pcp", n_pods, pod_site, npi=True)
    lcsws = maker.make("LCSW", "lcsw", n_pods, pod_site, npi=True)
    psychiatrists = maker.make("PSY", "psychiatrist", math.ceil(n_pods / PODS_PER_PSYCHIATRIST), lambda n: "", True)
    maker.make(
        "SUP",
        "peer_supervisor",
        math.ceil(n_peers / PEERS_PER_SUPERVISOR),
        lambda n: PEER_PROGRAM_SITE,
        False,
    )
    maker.make("CM", "case_manager", max(1, math.ceil(n_pods / 5)), pod_site, npi=False)
    maker.make("ED", "ed_clinician", max(2, math.ceil(n_peers / 6)), lambda n: ED_SITE, npi=True)
    for pod in range(n_pods):
        roster.pods.append(_Pod(pod_site(pod), pcps[pod], lcsws[pod], psychiatrists[pod // PODS_PER_PSYCHIATRIST]))
        roster.practice_pcps.setdefault(pod_site(pod), []).append(pcps[pod])
    return roster


# --- summary


@dataclass(frozen=True)
class SampleSummary:
    """What `generate_program` wrote, with the realised distributions.

    `mode_shares` and `status_shares` are over all contact rows; `month_active_share[m]` is the share of all
    patients with ≥1 completed or scheduled contact in program month m + 1 (30-day months from enrolment);
    `duration_quartiles` are nearest-rank quartiles of completed contacts' minutes; `caseloads` is
    (min, max) distinct patients per peer over the program.
    """

    out_dir: Path
    counts: dict[str, int]
    mode_shares: dict[str, float]
    status_shares: dict[str, float]
    month_active_share: tuple[float, ...]
    duration_quartiles: tuple[int, int, int]
    caseloads: tuple[int, int]
    contacts_per_active_month: float
    as_of: date
    elapsed_s: float

    @property
    def contacts(self) -> int:
        """Rows in peer_contacts.csv."""
        return self.counts[CONTACTS]

    @property
    def contacts_per_second(self) -> float:
        """Generation throughput."""
        return self.contacts / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def format(self) -> str:
        """A few human-readable lines."""
        counts = ", ".join(f"{name.removesuffix('.csv')} {n}" for name, n in self.counts.items())
        modes = ", ".join(f"{k} {v:.1%}" for k, v in sorted(self.mode_shares.items(), key=lambda kv: -kv[1]))
        months = " ".join(f"{v:.0%}" for v in self.month_active_share)
        q1, q2, q3 = self.duration_quartiles
        return "\n".join(
            (
                f"sample program in {self.out_dir} (as of {self.as_of}): {counts}",
                f"contact modes: {modes}",
                f"contact minutes: median {q2} (quartiles {q1}, {q3})",
                f"patients with a contact by program month: {months}",
                f"peer caseloads {self.caseloads[0]}–{self.caseloads[1]}; "
                f"{self.contacts_per_active_month:.2f} contacts per active patient-month",
                f"{self.contacts} contacts in {self.elapsed_s:.2f}s ({self.contacts_per_second:,.0f}/s)",
            )
        )


@dataclass
class _Stats:
    """Running tallies (constant memory)."""

    months: int
    counts: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    durations: list[int] = field(default_factory=lambda: [0] * (DURATION_MAX + 1))
    active: list[int] = field(default_factory=list)
    caseload: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.active = [0] * self.months

    def quartiles(self) -> tuple[int, int, int]:
        total = sum(self.durations)
        if not total:
            return (0, 0, 0)
        out, seen, minutes = [], 0, iter(range(DURATION_MAX + 1))
        for q in (0.25, 0.5, 0.75):
            rank = max(1, math.ceil(q * total))
            while seen < rank:
                m = next(minutes)
                seen += self.durations[m]
            out.append(m)
        return (out[0], out[1], out[2])

    def summary(self, out_dir: Path, patients: int, rate: float, as_of: date, elapsed: float) -> SampleSummary:
        n = max(1, self.counts[CONTACTS])
        loads = [self.caseload[p] for p in self.caseload] or [0]
        return SampleSummary(
            out_dir=out_dir,
            counts={name: self.counts[name] for name in HEADERS},
            mode_shares={k: v / n for k, v in self.modes.items()},
            status_shares={k: v / n for k, v in self.statuses.items()},
            month_active_share=tuple(a / max(1, patients) for a in self.active),
            duration_quartiles=self.quartiles(),
            caseloads=(min(loads), max(loads)),
            contacts_per_active_month=rate,
            as_of=as_of,
            elapsed_s=elapsed,
        )


# --- per-patient generation


@dataclass
class _Patient:
    """What the rows of one patient share."""

    index: int
    mrn: str
    team_id: str
    enrolled: date
    program_end: date
    pod: _Pod
    peer_spans: list[tuple[date, str]] = field(default_factory=list)
    lcsw: str = ""

    def peer_on(self, day: date) -> str:
        """The peer assigned on `day` (the last span starting on or before it)."""
        peer = self.peer_spans[0][1]
        for since, staff_id in self.peer_spans[1:]:
            if since <= day:
                peer = staff_id
        return peer


class _Generator:
    """Writes one patient at a time; holds only rosters and running tallies."""

    def __init__(self, rng: random.Random, roster: _Roster, *, start: date, months: int, offset: str,
                 rate: float, as_of: date) -> None:  # fmt: skip
        self.rng, self.roster, self.start, self.months = rng, roster, start, months
        self.offset, self.rate, self.as_of = offset, rate, as_of
        self.thresholds = tuple(NormalDist().inv_cdf(p) for p in monthly_active_targets(months))
        self.stats = _Stats(months=months)
        self._contact_seq = 0
        self._handoff_seq = 0
        self._cover = 0
        self._clock = tuple(f"T{t // 60:02d}:{t % 60:02d}:00{offset}" for t in range(24 * 60))
        self._purpose_pools = tuple(
            tuple(self._draw_purposes(stage) for _ in range(PURPOSE_POOL_SIZE)) for stage in range(len(_PURPOSE_STAGES))
        )

    @property
    def contacts_written(self) -> int:
        """Contact rows drawn so far."""
        return self._contact_seq

    # timestamps

    def _stamp(self, day: date, hour: int, minute: int) -> str:
        return day.isoformat() + self._clock[hour * 60 + minute]

    def _office_stamp(self, day: date) -> str:
        """A quarter-hour timestamp in office hours (8:00-16:45)."""
        return day.isoformat() + self._clock[480 + 15 * self.rng.randrange(36)]

    # patients

    def new_patient(self, index: int) -> tuple[_Patient, list[str]]:
        """Draw patient `index` (0-based) and its patients.csv row."""
        rng = self.rng
        number = index + 1
        enrolled = _weekday(self.start + timedelta(days=rng.randrange(ENROLLMENT_WINDOW_DAYS)), self.start, date.max)
        peer_index = index % len(self.roster.peers)
        patient = _Patient(
            index=index,
            mrn=f"MRN{number:06d}",
            team_id=f"T-{number:06d}",
            enrolled=enrolled,
            program_end=enrolled + timedelta(days=MONTH_DAYS * self.months),
            pod=self.roster.pod_of_peer(peer_index),
        )
        patient.peer_spans.append((enrolled, self.roster.peers[peer_index]))
        if index < len(_SHOWCASE_PATIENTS):
            family, given, gender = _SHOWCASE_PATIENTS[index]
        else:
            gender = _pick_gender(rng)
            pool = {"female": _FEMALE, "male": _MALE}.get(gender, _NEUTRAL)
            family, given = rng.choice(_FAMILY), rng.choice(pool)
            if rng.random() < 0.05:  # two given names
                given = f"{given} {rng.choice(pool)}"
        age_days = int(rng.triangular(18 * 365.25 + 1, 76 * 365.25 - 2, 34 * 365.25))
        birth = self.start - timedelta(days=age_days)
        return patient, [patient.mrn, family, given, birth.isoformat(), gender]

    # care team

    def team_rows(self, p: _Patient) -> list[list[str]]:
        """The patient's care-team member rows, with rotations and program-end dates."""
        rng, roster = self.rng, self.roster
        members: list[tuple[str, str]] = [
            ("peer", p.peer_spans[0][1]),
            ("pcp", p.pod.pcp),
            ("lcsw", p.pod.lcsw),
            ("psychiatrist", p.pod.psychiatrist),
        ]
        sup = roster.by_discipline["peer_supervisor"]
        if rng.random() < 0.25:
            members.append(("peer_supervisor", sup[(p.index % len(roster.peers)) // PEERS_PER_SUPERVISOR]))
        others = [pcp for pcp in roster.practice_pcps[p.pod.site_id] if pcp != p.pod.pcp]
        if others and rng.random() < 0.10:
            members.append(("oversight_pcp", rng.choice(others)))
        elif others and rng.random() < 0.02:
            members.append(("champion_pcp", rng.choice(others)))
        if rng.random() < 0.08:
            members.append(("case_manager", rng.choice(roster.by_discipline["case_manager"])))
        on_team = {staff_id for _, staff_id in members}
        ended = p.program_end <= self.as_of
        leaves_practice = ended and rng.random() < 0.05
        rows: list[list[str]] = []
        for role, staff_id in members:
            final_end = ""
            if ended and (leaves_practice or role not in ("pcp", "oversight_pcp", "champion_pcp")):
                final_end = p.program_end.isoformat()
            rows.extend(self._member_rows(p, role, staff_id, final_end, on_team))
        for row in rows:
            if row[3] == "peer":
                self.stats.caseload[row[2]] += 1
        return rows

    def _member_rows(self, p: _Patient, role: str, staff_id: str, final_end: str, on_team: set[str]) -> list[list[str]]:
        """One member's row, or two when coverage rotates mid-program (end_date, then the replacement)."""
        site = p.pod.site_id
        rotation = {"peer": 0.06, "lcsw": 0.08, "pcp": 0.03}.get(role, 0.0)
        if rotation and self.rng.random() < rotation:
            last = (min(p.program_end, self.as_of) - p.enrolled).days - 7
            replacement = self._replacement(p, role, staff_id, on_team)
            if last > 21 and replacement:
                handover = p.enrolled + timedelta(days=self.rng.randrange(21, last))
                on_team.add(replacement)
                if role == "peer":
                    p.peer_spans.append((handover, replacement))
                return [
                    [p.team_id, p.mrn, staff_id, role, p.enrolled.isoformat(), handover.isoformat(), site],
                    [p.team_id, p.mrn, replacement, role, handover.isoformat(), final_end, site],
                ]
        return [[p.team_id, p.mrn, staff_id, role, p.enrolled.isoformat(), final_end, site]]

    def _replacement(self, p: _Patient, role: str, current: str, on_team: set[str]) -> str | None:
        """Who covers next: peers round-robin (keeps caseloads even), others from the same pool."""
        if role == "peer":
            peers = self.roster.peers
            for _ in range(2):
                self._cover = (self._cover + 1) % len(peers)
                if peers[self._cover] not in on_team:
                    return peers[self._cover]
            return None
        pool = self.roster.practice_pcps[p.pod.site_id] if role == "pcp" else self.roster.by_discipline[role]
        choices = [s for s in pool if s not in on_team and s != current]
        return self.rng.choice(choices) if choices else None

    # enrollment

    def enrollment_row(self, p: _Patient) -> list[str]:
        """The patient's enrollment in the program: finished once its months are over by the export date."""
        finished = p.program_end <= self.as_of
        end = (p.program_end - timedelta(days=1)).isoformat() if finished else ""
        return [f"E-{p.index + 1:06d}", p.mrn, p.enrolled.isoformat(), "finished" if finished else "active", end,
                "completed_program" if finished else "", p.peer_spans[0][1], p.team_id, p.pod.site_id,
                "primary_care_peer"]  # fmt: skip

    # contacts

    def contact_rows(self, p: _Patient) -> Iterable[list[str]]:
        """The patient's peer contacts, month by month, in time order."""
        rng, rnd, rho = self.rng, self.rng.random, ENGAGEMENT_CORRELATION
        latent, noise = rng.gauss(0.0, 1.0), math.sqrt(1 - rho * rho)
        for m in range(self.months):
            if rho * latent + noise * rng.gauss(0.0, 1.0) >= self.thresholds[m]:
                continue
            self.stats.active[m] += 1
            real = 1 + _poisson(rng, self.rate - 1)
            failed = sum(rnd() < FAILED_ATTEMPT_RATE for _ in range(real))
            flags = [False] * real + [True] * failed
            days = sorted(int(rnd() * MONTH_DAYS) for _ in flags)
            rng.shuffle(flags)
            month_start = p.enrolled + timedelta(days=MONTH_DAYS * m)
            month_end = month_start + timedelta(days=MONTH_DAYS - 1)
            purposes = self._purpose_pools[_stage(m, self.months)]
            for offset_days, is_failed in zip(days, flags, strict=True):
                day = _weekday(month_start + timedelta(days=offset_days), month_start, month_end)
                yield self._contact(p, day, is_failed, purposes)

    def _contact(self, p: _Patient, day: date, failed: bool, purposes: Sequence[str]) -> list[str]:
        """One contact row; the hot path of the generator (kept free of avoidable calls)."""
        rnd, stats = self.rng.random, self.stats
        self._contact_seq += 1
        mode = _pick_mode(self.rng)
        future = day >= self.as_of
        if failed:
            status = "cancelled" if future else _failed_status(self.rng)
        else:
            status = "scheduled" if future else "completed"
        setting, site = "", ""
        if mode == "in_person":
            setting = _pick_setting(self.rng)
            site = _setting_site(setting, p.pod.site_id)
        elif rnd() < 0.6:
            site = p.pod.site_id
        if mode == "telephone" and status == "completed":  # calls happen any minute, into the evening
            clock = self._clock[540 + int(rnd() * 660)]
        else:  # appointments: quarter hours, 8:00-16:45
            clock = self._clock[480 + 15 * int(rnd() * 36)]
        duration = ""
        if status == "completed" and rnd() < 0.99:
            minutes = _duration(self.rng)
            stats.durations[minutes] += 1
            duration = str(minutes)
        stats.modes[mode] += 1
        stats.statuses[status] += 1
        drawn = purposes[int(rnd() * len(purposes))]
        if setting == "hospital" and "discharge_support" not in drawn:
            drawn = f"discharge_support;{drawn}" if drawn else "discharge_support"
        return [
            f"C-{self._contact_seq:07d}", p.mrn, p.peer_on(day), day.isoformat() + clock, mode, status,
            duration, setting, site, drawn,
        ]  # fmt: skip

    def _draw_purposes(self, stage: int) -> str:
        """A `;`-joined list of one to three distinct purposes for a contact in `stage` (or blank, rarely)."""
        rng = self.rng
        if rng.random() < 0.03:
            return ""
        picks: list[str] = []
        want = int(_pick_purpose_count(rng))
        pick = _pick_purposes[stage]
        while len(picks) < want:
            purpose = pick(rng)
            if purpose not in picks:
                picks.append(purpose)
        return ";".join(picks)

    # handoffs

    def handoff_rows(self, p: _Patient) -> list[list[str]]:
        """ED-to-peer handoffs, resource referrals and the aftercare peer-to-peer handoff, in time order."""
        rng = self.rng
        rows: list[tuple[str, list[str]]] = []
        if rng.random() < ED_ENTRY_SHARE:
            rows.append(self._ed_handoff(p, p.enrolled - timedelta(days=rng.randrange(4)), returning=False))
        if rng.random() < ED_RETURN_SHARE:
            day = p.enrolled + timedelta(days=rng.randrange(14, MONTH_DAYS * self.months))
            if day < self.as_of:
                rows.append(self._ed_handoff(p, day, returning=True))
        for _ in range(_poisson(rng, REFERRALS_PER_PATIENT)):
            row = self._referral(p)
            if row:
                rows.append(row)
        if rng.random() < AFTERCARE_SHARE:
            last_month = p.enrolled + timedelta(days=MONTH_DAYS * (self.months - 1))
            day = _weekday(last_month + timedelta(days=rng.randrange(8, 27)), last_month, p.program_end)
            if day < self.as_of:
                via = rng.choice(("warm_line", "in_person", "telephone"))
                stamp, peer = self._office_stamp(day), p.peer_on(day)
                rows.append(self._handoff(p, "aftercare_peer", day, stamp, peer, "", PEER_PROGRAM_SITE, "", via))
        rows.sort(key=lambda item: item[0])
        for _, row in rows:
            self._handoff_seq += 1
            row[0] = f"H-{self._handoff_seq:07d}"
        return [row for _, row in rows]

    def _ed_handoff(self, p: _Patient, day: date, returning: bool) -> tuple[str, list[str]]:
        rng = self.rng
        requested = self._stamp(day, rng.randrange(24), rng.randrange(60))
        weights = (0.05, 0.45, 0.35, 0.15) if returning else (0.45, 0.30, 0.20, 0.05)
        priority = rng.choices(("routine", "urgent", "asap", "stat"), weights)[0]
        if priority == "routine" and rng.random() < 0.5:
            priority = ""  # blank means routine
        to_staff = p.peer_on(day) if returning or rng.random() < 0.6 else ""
        requester = rng.choice(self.roster.by_discipline["ed_clinician"])
        via = rng.choice(("warm_line", "warm_line", "in_person"))
        return self._handoff(p, "ed_to_peer", day, requested, requester, to_staff, PEER_PROGRAM_SITE, priority, via)

    def _referral(self, p: _Patient) -> tuple[str, list[str]] | None:
        rng = self.rng
        kind = _pick_referral(rng)
        span = (min(p.program_end, self.as_of) - p.enrolled).days
        if span <= 1:
            return None
        day = _weekday(p.enrolled + timedelta(days=int(rng.triangular(0, span, 0))), p.enrolled, self.as_of)
        if day >= self.as_of:
            return None
        requester = p.peer_on(day)
        if kind == "mental_health" and rng.random() < 0.6:
            requester = p.pod.lcsw
        priority = "urgent" if kind in ("housing", "mental_health") and rng.random() < 0.15 else ""
        via = rng.choice(("telephone", "telephone", "warm_line", "in_person", "video", ""))
        site = rng.choice(self.roster.sites_by_kind.get(kind, [""]))
        return self._handoff(p, kind, day, self._office_stamp(day), requester, "", site, priority, via)

    def _handoff(self, p: _Patient, kind: str, day: date, requested: str, requester: str, to_staff: str,
                 to_site: str, priority: str, via: str) -> tuple[str, list[str]]:  # fmt: skip
        """A handoff row (its id is given once the patient's handoffs are in time order)."""
        rng = self.rng
        status = _handoff_status(rng, (self.as_of - day).days, kind)
        note = ""
        if rng.random() < NOTE_SHARE:
            note = rng.choice(_NOTES.get(kind, _NOTES["resource"]))
        return requested, [
            "", p.mrn, kind, requested, status, requester, to_staff, to_site,
            priority, via, note,
        ]  # fmt: skip


def _stage(month: int, months: int) -> int:
    """Purpose mix: 0 engagement (month 1), 1 early treatment (2–3), 2 stabilisation, 3 the last month."""
    if month == 0:
        return 0
    if month == months - 1:
        return 3
    return 1 if month < 3 else 2


def _setting_site(setting: str, practice: str) -> str:
    """Where an in-person contact took place: practice, peer program, hospital, or no site (home)."""
    if setting == "clinic":
        return practice
    return {"community": PEER_PROGRAM_SITE, "hospital": HOSPITAL_SITE}.get(setting, "")


def _by_threshold(r: float, table: Sequence[tuple[float, str]]) -> str:
    """The first value whose cumulative threshold exceeds `r` (the last one otherwise)."""
    for threshold, value in table:
        if r < threshold:
            return value
    return table[-1][1]


_FAILED_CONTACT = ((0.5, "no_show"), (0.96, "cancelled"), (1.0, "entered_in_error"))
_ED_HANDOFF = ((0.9, "completed"), (0.95, "declined"), (0.99, "cancelled"), (1.0, "entered_in_error"))
_RECENT_HANDOFF = ((0.5, "proposed"), (1.0, "active"))
_MONTH_OLD_HANDOFF = ((0.4, "active"), (0.8, "completed"), (0.9, "declined"), (1.0, "cancelled"))
_OLD_HANDOFF = (
    (0.7, "completed"), (0.82, "declined"), (0.94, "cancelled"), (0.99, "active"), (1.0, "entered_in_error"),
)  # fmt: skip


def _failed_status(rng: random.Random) -> str:
    """Status of a contact that did not take place."""
    return _by_threshold(rng.random(), _FAILED_CONTACT)


def _handoff_status(rng: random.Random, age_days: int, kind: str) -> str:
    """Status by how long ago the handoff was requested: recent ones are still open."""
    if kind == "ed_to_peer" and age_days > 2:
        table = _ED_HANDOFF
    elif age_days < 7:
        table = _RECENT_HANDOFF
    elif age_days < 30:
        table = _MONTH_OLD_HANDOFF
    else:
        table = _OLD_HANDOFF
    return _by_threshold(rng.random(), table)


# --- public API

_OFFSET = re.compile(r"^[+-](?:0\d|1[0-4]):[0-5]\d$|^Z$")


class _RowWriter(Protocol):
    """What `csv.writer` returns."""

    def writerow(self, row: Iterable[str], /) -> object: ...
    def writerows(self, rows: Iterable[Iterable[str]], /) -> None: ...


def _writer(stack: ExitStack, path: Path) -> _RowWriter:
    handle = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
    out = csv.writer(handle)
    out.writerow(HEADERS[path.name])
    return out


def generate_program(
    out_dir: Path,
    *,
    patients: int,
    seed: int = 7,
    start: date = date(2026, 1, 5),
    months: int = 6,
    site_timezone: str = "-05:00",
    contacts_per_active_month: float = DEFAULT_CONTACTS_PER_ACTIVE_MONTH,
    target_contacts: int | None = None,
    as_of: date | None = None,
) -> SampleSummary:
    """Write a sample program's seven CSV files into `out_dir` (created if needed) and summarise them.

    `patients` enrol on weekdays over the first four weeks after `start` and follow a `months` × 30-day
    program. Contacts on or after `as_of` (the export date; default `start` + months × 30 + 7 days) are
    scheduled or already cancelled; earlier ones completed, cancelled, no-show or (rarely) entered in error.
    Timestamps carry the fixed UTC offset `site_timezone` (``-05:00``). `contacts_per_active_month` is the
    mean number of real contacts in a month with contact; `target_contacts` overrides it to produce about
    that many contact rows (never fewer than one real contact per active month; `patients_for_contacts`
    sizes the program for a target at the default rate). There is one peer per 15 patients (so caseloads
    are 10–20 from 30 patients up). Rows are streamed: memory does not grow with the number of contacts.
    """
    if patients < 1:
        raise ValueError("patients must be at least 1")
    if not _OFFSET.match(site_timezone):
        raise ValueError("site_timezone must be a UTC offset such as -05:00")
    if target_contacts is not None and target_contacts < 1:
        raise ValueError("target_contacts must be at least 1")
    offset = "+00:00" if site_timezone == "Z" else site_timezone
    rate = (
        _rate_for_target(target_contacts, patients, months)
        if target_contacts is not None
        else contacts_per_active_month
    )
    if rate < 1:
        raise ValueError("contacts_per_active_month must be at least 1")
    as_of = as_of or start + timedelta(days=MONTH_DAYS * months + EXPORT_LAG_DAYS)
    began = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    roster = _build_roster(rng, patients)
    gen = _Generator(rng, roster, start=start, months=months, offset=offset, rate=rate, as_of=as_of)
    _write_rosters(out_dir, roster, gen.stats)
    _write_patients(out_dir, gen, patients)
    return gen.stats.summary(out_dir, patients, rate, as_of, time.perf_counter() - began)


def _write_rosters(out_dir: Path, roster: _Roster, stats: _Stats) -> None:
    with ExitStack() as stack:
        _writer(stack, out_dir / SITES).writerows(roster.sites)
        _writer(stack, out_dir / STAFF).writerows(roster.staff)
    stats.counts[SITES], stats.counts[STAFF] = len(roster.sites), len(roster.staff)


def _write_patients(out_dir: Path, gen: _Generator, patients: int) -> None:
    """Stream every patient's rows into the four patient-level files."""
    counts = gen.stats.counts
    with ExitStack() as stack:
        w_patients = _writer(stack, out_dir / PATIENTS)
        w_team = _writer(stack, out_dir / CARE_TEAM)
        w_contacts = _writer(stack, out_dir / CONTACTS)
        w_handoffs = _writer(stack, out_dir / HANDOFFS)
        w_enrollments = _writer(stack, out_dir / ENROLLMENTS)
        for index in range(patients):
            patient, row = gen.new_patient(index)
            w_patients.writerow(row)
            team = gen.team_rows(patient)
            w_team.writerows(team)
            w_enrollments.writerow(gen.enrollment_row(patient))
            before = gen.contacts_written
            w_contacts.writerows(gen.contact_rows(patient))
            handoffs = gen.handoff_rows(patient)
            w_handoffs.writerows(handoffs)
            counts[CARE_TEAM] += len(team)
            counts[CONTACTS] += gen.contacts_written - before
            counts[HANDOFFS] += len(handoffs)
        counts[PATIENTS] = counts[ENROLLMENTS] = patients


# --- incremental changes

_CHANGE_ORDER = (CONTACTS, HANDOFFS, CARE_TEAM)
_KEY_COLUMNS = {CONTACTS: ("contact_id",), HANDOFFS: ("handoff_id",), CARE_TEAM: ("team_id", "staff_id")}
_CANDIDATE = {  # (column, values that make a row a candidate for a change)
    CONTACTS: ("status", ("scheduled",)),
    HANDOFFS: ("status", ("proposed", "active")),
    CARE_TEAM: ("end_date", ("",)),
}


def _open_rows(path: Path) -> tuple[list[str], Iterator[list[str]], IO[str]]:
    """Header, row iterator and handle of a CSV export file (BOM tolerated)."""
    handle = path.open(encoding="utf-8-sig", newline="")
    reader = csv.reader(handle)
    header = next(reader, [])
    missing = [c for c in (*_KEY_COLUMNS[path.name], _CANDIDATE[path.name][0]) if c not in header]
    if missing:
        handle.close()
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)}")
    return header, reader, handle


def _scan(path: Path) -> tuple[dict[str, str], str]:
    """Rows that can change, in one streamed pass, and the day of the latest completed contact.

    Returns {business key: day} for the candidates (the day is a contact's start date, else blank; only
    candidates are kept) and, for contacts, the latest completed contact's day (the export's "today").
    """
    header, reader, handle = _open_rows(path)
    with handle:
        keys = [header.index(c) for c in _KEY_COLUMNS[path.name]]
        column, values = _CANDIDATE[path.name]
        at = header.index(column)
        is_contacts = path.name == CONTACTS and "start" in header
        status = header.index("status") if is_contacts else -1
        start = header.index("start") if is_contacts else -1
        candidates: dict[str, str] = {}
        latest = ""
        for row in reader:
            if len(row) != len(header):
                continue
            if row[at] in values:
                candidates["|".join(row[i] for i in keys)] = row[start][:10] if is_contacts else ""
            elif is_contacts and row[status] == "completed" and row[start][:10] > latest:
                latest = row[start][:10]
    return candidates, latest


def _allocate(candidates: dict[str, Sequence[str]], count: int, rng: random.Random) -> dict[str, set[str]]:
    """Spread `count` changes round-robin over the files that still have candidates; pick keys at random."""
    quota = dict.fromkeys(_CHANGE_ORDER, 0)
    remaining = count
    while remaining > 0:
        progressed = False
        for name in _CHANGE_ORDER:
            if remaining and quota[name] < len(candidates[name]):
                quota[name] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            break
    return {name: set(rng.sample(candidates[name], quota[name])) for name in _CHANGE_ORDER}


def _rewrite(path: Path, keys: set[str], change: Callable[[dict[str, str]], None]) -> list[str]:
    """Rewrite `path` through a temporary file, applying `change` to the rows whose key is in `keys`."""
    if not keys:
        return []
    header, reader, handle = _open_rows(path)
    key_at = [header.index(c) for c in _KEY_COLUMNS[path.name]]
    changed: list[str] = []
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with handle, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            out = csv.writer(dst)
            out.writerow(header)
            for row in reader:
                key = "|".join(row[i] for i in key_at) if len(row) == len(header) else ""
                if key in keys:
                    record = dict(zip(header, row, strict=True))
                    change(record)
                    row = [record[column] for column in header]
                    changed.append(key)
                out.writerow(row)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return changed


def apply_changes(export_dir: Path, *, count: int = 5, seed: int = 11) -> list[tuple[str, str]]:
    """Rewrite an export in place with `count` realistic updates; return the (file, business key) pairs.

    Changes go round-robin over: a scheduled contact that took place (completed, with a duration), an open
    handoff that was completed, and a current care-team member who left the team (end_date = the day of the
    latest completed contact after the changes, or the member's start if later). Care-team keys read
    ``team_id|staff_id``. Fewer than `count` pairs come back when the export has too few candidates.
    Deterministic per `seed`; streamed (only the candidates' keys are held), files replaced atomically.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    export_dir = Path(export_dir)
    rng = random.Random(seed)
    paths = {name: export_dir / name for name in _CHANGE_ORDER if (export_dir / name).exists()}
    scans = {name: _scan(path) for name, path in paths.items()}
    candidates = {name: list(scans[name][0]) if name in scans else [] for name in _CHANGE_ORDER}
    chosen = _allocate(candidates, count, rng)
    completed_days = [scans[CONTACTS][0][key] for key in chosen[CONTACTS]] if CONTACTS in scans else []
    today = max([scans[CONTACTS][1], *completed_days]) if CONTACTS in scans else ""

    def complete_contact(row: dict[str, str]) -> None:
        row["status"] = "completed"
        row["duration_min"] = str(_duration(rng))

    def complete_handoff(row: dict[str, str]) -> None:
        row["status"] = "completed"

    def end_member(row: dict[str, str]) -> None:
        row["end_date"] = max(today, row.get("start_date", ""))

    changers = {CONTACTS: complete_contact, HANDOFFS: complete_handoff, CARE_TEAM: end_member}
    changed: list[tuple[str, str]] = []
    for name, path in paths.items():
        changed.extend((name, key) for key in _rewrite(path, chosen[name], changers[name]))
    return changed


# --- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fhirpeer.demo.sample OUT_DIR --patients N [--target-contacts N] [--seed N] [--months N]``."""
    parser = argparse.ArgumentParser(prog="python -m fhirpeer.demo.sample", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--patients", type=int, help="default: enough for --target-contacts, else 300")
    parser.add_argument("--target-contacts", type=int)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--months", type=int, default=6)
    args = parser.parse_args(argv)
    patients = args.patients
    if patients is None:
        patients = patients_for_contacts(args.target_contacts, months=args.months) if args.target_contacts else 300
    summary = generate_program(
        args.out_dir,
        patients=patients,
        seed=args.seed,
        months=args.months,
        target_contacts=args.target_contacts,
    )
    print(summary.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
