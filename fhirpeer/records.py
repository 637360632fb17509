"""Domain records: one validated pydantic model per input row.

Allowed values for coded columns come from the mapping files (a `Vocabulary`, built by
`Mappings.vocabulary()`), passed as validation context, so a site that adds a handoff kind to
`servicerequest.yaml` can use it in its export. This module knows nothing of CSV: the readers in
`fhirpeer.input` turn rows into these records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from .cell_values import ISO_ONLY, CodeLookup, DateFormats, npi_problem, parse_date, parse_timestamp
from .domain import InputKind, Source

_KEY_FORBIDDEN = re.compile(r"[|,$\\\x00-\x1f]")
_NUCC_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")  # NUCC Health Care Provider Taxonomy: 10 characters, ends in X

#: The Vocabulary attributes that hold a coded column's allowed values.
CODED_VALUE_SETS = (
    "modes", "contact_statuses", "settings", "purposes", "roles", "kinds", "handoff_statuses", "priorities", "via",
    "genders", "disciplines", "site_kinds", "enrollment_statuses", "programs", "end_reasons",
)  # fmt: skip


@dataclass(frozen=True)
class Vocabulary:
    """How cells are read: the values each coded input column accepts, the site time zone for naive timestamps,
    and the site's own date layouts (`date_formats`, tried after ISO 8601)."""

    modes: frozenset[str]
    contact_statuses: frozenset[str]
    settings: frozenset[str]
    purposes: frozenset[str]
    roles: frozenset[str]
    kinds: frozenset[str]
    handoff_statuses: frozenset[str]
    priorities: frozenset[str]
    via: frozenset[str]
    genders: frozenset[str]
    disciplines: frozenset[str]
    site_kinds: frozenset[str]
    enrollment_statuses: frozenset[str]
    programs: frozenset[str]
    end_reasons: frozenset[str]
    tz: ZoneInfo
    date_formats: DateFormats = ISO_ONLY

    @cached_property
    def lookups(self) -> dict[str, CodeLookup]:
        """Each coded column's values, matched ignoring case and spacing (built once per run)."""
        return {name: CodeLookup.of(getattr(self, name)) for name in CODED_VALUE_SETS}


def _vocab(info: ValidationInfo) -> Vocabulary:
    if not info.context or "vocab" not in info.context:
        raise RuntimeError("records must be validated with context={'vocab': Vocabulary}")
    return info.context["vocab"]


def _note(info: ValidationInfo, field: str, reason: str) -> None:
    """Record that part of a cell was left out (the reader turns notes into warnings)."""
    notes = info.context.get("notes") if info.context else None
    if notes is not None:
        notes.append((field, reason))


def _timestamp(value: Any, info: ValidationInfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=_vocab(info).tz)
    vocab = _vocab(info)
    return parse_timestamp(str(value), vocab.tz, vocab.date_formats)


def _date(value: Any, info: ValidationInfo) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return parse_date(str(value), _vocab(info).date_formats)


class Record(BaseModel):
    """Base of every row model: strict fields, coded values matched ignoring case, identifiers checked for
    search-safe characters.

    Every problem is a field error (so one validation names them all) except checks across fields, which are
    model errors: the reader drops an optional field's bad cell with a warning and rejects the record for any
    other problem."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    key_fields: ClassVar[tuple[str, ...]] = ()
    ref_fields: ClassVar[tuple[str, ...]] = ()
    # coded column → the Vocabulary attribute holding its allowed values (from the mapping files)
    coded_fields: ClassVar[dict[str, str]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _cell(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        name = info.field_name or ""
        if (name in cls.key_fields or name in cls.ref_fields) and _KEY_FORBIDDEN.search(value):
            raise ValueError("contains a character not allowed in an identifier (| , $ \\)")
        allowed = cls.coded_fields.get(name)
        if allowed is None:
            return value
        return _vocab(info).lookups[allowed].code(value)

    @property
    def key(self) -> str:
        return "/".join(str(getattr(self, f)) for f in self.key_fields)


class PatientRecord(Record):
    key_fields: ClassVar = ("patient_mrn",)
    coded_fields: ClassVar = {"gender": "genders"}
    patient_mrn: str
    family_name: str | None = None
    given_name: str | None = None
    birth_date: date | None = None
    gender: str | None = None

    _d = field_validator("birth_date", mode="before")(_date)


class StaffRecord(Record):
    key_fields: ClassVar = ("staff_id",)
    coded_fields: ClassVar = {"discipline": "disciplines"}
    ref_fields: ClassVar = ("site_id",)
    staff_id: str
    npi: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    discipline: str | None = None
    site_id: str | None = None
    taxonomy: str | None = None

    @field_validator("npi")
    @classmethod
    def _npi(cls, v: str | None) -> str | None:
        problem = None if v is None else npi_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy(cls, v: str | None) -> str | None:
        if v is not None and not _NUCC_TAXONOMY.fullmatch(v.upper()):
            raise ValueError("not a NUCC taxonomy code (10 characters ending in X)")
        return v.upper() if v is not None else None


class SiteRecord(Record):
    key_fields: ClassVar = ("site_id",)
    coded_fields: ClassVar = {"kind": "site_kinds"}
    site_id: str
    name: str
    kind: str | None = None


class ContactRecord(Record):
    key_fields: ClassVar = ("contact_id",)
    coded_fields: ClassVar = {"mode": "modes", "status": "contact_statuses", "setting": "settings"}
    ref_fields: ClassVar = ("patient_mrn", "peer_id", "site_id", "handoff_id", "enrollment_id")
    contact_id: str
    patient_mrn: str
    peer_id: str
    start: datetime
    mode: str
    status: str
    duration_min: int | None = None
    setting: str | None = None
    site_id: str | None = None
    purposes: tuple[str, ...] = ()
    handoff_id: str | None = None  # the handoff this contact fulfils
    enrollment_id: str | None = None  # the program enrollment (EpisodeOfCare) it belongs to

    _start = field_validator("start", mode="before")(_timestamp)

    @field_validator("duration_min", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int | None:
        if v is None:
            return None
        text = str(v)
        if not (text.isascii() and text.isdigit()):  # ASCII only: int() on other digits echoes the value
            raise ValueError("must be whole minutes")
        minutes = int(text)
        if minutes > 1440:
            raise ValueError("must be between 0 and 1440")
        return minutes

    @field_validator("purposes", mode="before")
    @classmethod
    def _split_purposes(cls, v: Any, info: ValidationInfo) -> tuple[str, ...]:
        """Known purposes are kept; unknown ones are left out with a note (the rest of the cell still counts)."""
        if v is None:
            return ()
        items = tuple(p.strip() for p in str(v).split(";") if p.strip()) if isinstance(v, str) else tuple(v)
        lookup = _vocab(info).lookups["purposes"]
        known: list[str] = []
        for item in items:
            try:
                known.append(lookup.code(item))
            except ValueError:
                _note(info, "purposes", f"unknown value (allowed: {lookup.allowed}); that entry is ignored")
        return tuple(dict.fromkeys(known))

    @field_validator("setting")
    @classmethod
    def _setting_only_in_person(cls, v: str | None, info: ValidationInfo) -> str | None:
        mode = info.data.get("mode")  # validated before setting (field order); absent when it was bad
        if v is not None and mode is not None and mode != "in_person":
            raise ValueError(f"only applies to in_person contacts, not {mode}")
        return v


class CareTeamMemberRecord(Record):
    key_fields: ClassVar = ("team_id", "staff_id")
    coded_fields: ClassVar = {"role": "roles"}
    ref_fields: ClassVar = ("patient_mrn", "site_id")
    team_id: str
    patient_mrn: str
    staff_id: str
    role: str
    start_date: date
    end_date: date | None = None
    site_id: str | None = None

    _d = field_validator("start_date", "end_date", mode="before")(_date)

    @model_validator(mode="after")
    def _period_order(self) -> CareTeamMemberRecord:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date: before start_date")
        return self


class HandoffRecord(Record):
    key_fields: ClassVar = ("handoff_id",)
    coded_fields: ClassVar = {"kind": "kinds", "status": "handoff_statuses", "priority": "priorities", "via": "via"}
    ref_fields: ClassVar = ("patient_mrn", "requester_id", "to_staff_id", "to_site_id")
    handoff_id: str
    patient_mrn: str
    kind: str
    requested_at: datetime
    status: str
    requester_id: str | None = None
    to_staff_id: str | None = None
    to_site_id: str | None = None
    priority: str | None = None
    via: str | None = None
    note: str | None = None

    _requested = field_validator("requested_at", mode="before")(_timestamp)


class EnrollmentRecord(Record):
    key_fields: ClassVar = ("enrollment_id",)
    coded_fields: ClassVar = {"status": "enrollment_statuses", "end_reason": "end_reasons", "program": "programs"}
    ref_fields: ClassVar = ("patient_mrn", "peer_id", "team_id", "site_id", "referral_handoff_id")
    enrollment_id: str
    patient_mrn: str
    start_date: date
    status: str
    end_date: date | None = None
    end_reason: str | None = None
    peer_id: str | None = None
    team_id: str | None = None
    site_id: str | None = None
    program: str | None = None
    referral_handoff_id: str | None = None

    _d = field_validator("start_date", "end_date", mode="before")(_date)

    @model_validator(mode="after")
    def _period_order(self) -> EnrollmentRecord:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date: before start_date")
        return self


@dataclass(frozen=True)
class Accepted:
    """A valid row as its domain record, and where it came from; `fingerprint`, when it was read for a sync, is
    the fingerprint to record for it (`fhirpeer.input.row_skip`)."""

    record: Record
    source: Source
    fingerprint: str | None = None


@dataclass(frozen=True)
class TeamRows:
    """The member rows of one care team (same team_id and patient), in file order: one CareTeam."""

    team_id: str
    members: tuple[tuple[CareTeamMemberRecord, Source], ...]


#: The record model of each input kind.
RECORD_MODELS: dict[InputKind, type[Record]] = {
    InputKind.SITES: SiteRecord,
    InputKind.STAFF: StaffRecord,
    InputKind.PATIENTS: PatientRecord,
    InputKind.CARE_TEAM: CareTeamMemberRecord,
    InputKind.HANDOFFS: HandoffRecord,
    InputKind.ENROLLMENTS: EnrollmentRecord,
    InputKind.CONTACTS: ContactRecord,
}


def required_fields(model: type[Record]) -> list[str]:
    """The fields a row must fill (their columns must be in the header)."""
    return [name for name, field in model.model_fields.items() if field.is_required()]


def optional_fields(model: type[Record]) -> frozenset[str]:
    """The fields a row may leave blank: a bad cell in one is dropped with a warning, not the record."""
    return frozenset(name for name, field in model.model_fields.items() if not field.is_required())
