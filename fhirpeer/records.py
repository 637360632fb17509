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
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from .domain import InputKind, Source

_KEY_FORBIDDEN = re.compile(r"[|,$\\\x00-\x1f]")
_NPI = re.compile(r"[0-9]{10}")
_NUCC_TAXONOMY = re.compile(r"[0-9A-Z]{9}X")  # NUCC Health Care Provider Taxonomy: 10 characters, ends in X


@dataclass(frozen=True)
class Vocabulary:
    """The values each coded input column accepts, and the site time zone for naive timestamps."""

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


def _vocab(info: ValidationInfo) -> Vocabulary:
    if not info.context or "vocab" not in info.context:
        raise RuntimeError("records must be validated with context={'vocab': Vocabulary}")
    return info.context["vocab"]


def _one_of(value: str | None, allowed: frozenset[str]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise ValueError("unknown value")
    return value


def _timestamp(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value)
        if "T" not in text and " " not in text:
            raise ValueError("not an ISO 8601 timestamp (date and time)")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("not an ISO 8601 date (YYYY-MM-DD)") from None


class Record(BaseModel):
    """Base of every row model: strict fields, string keys checked for search-safe characters."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    key_fields: ClassVar[tuple[str, ...]] = ()
    ref_fields: ClassVar[tuple[str, ...]] = ()
    # coded column → the Vocabulary attribute holding its allowed values (from the mapping files)
    coded_fields: ClassVar[dict[str, str]] = {}

    @field_validator("*")
    @classmethod
    def _coded_value_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        allowed = cls.coded_fields.get(info.field_name or "")
        if allowed is None or value is None:
            return value
        return _one_of(value, getattr(_vocab(info), allowed))

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in (*cls.key_fields, *cls.ref_fields):
                value = data.get(name)
                if isinstance(value, str) and _KEY_FORBIDDEN.search(value):
                    raise ValueError(f"{name}: contains a character not allowed in an identifier (| , $ \\)")
        return data

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

    _d = field_validator("birth_date", mode="before")(lambda v: _date(v))


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
        if v is not None and not _NPI.fullmatch(v):
            raise ValueError("must be 10 digits")
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

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any, info: ValidationInfo) -> datetime:
        return _timestamp(v, _vocab(info).tz)

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
        if v is None:
            return ()
        items = tuple(p.strip() for p in str(v).split(";") if p.strip()) if isinstance(v, str) else tuple(v)
        unknown = [p for p in items if p not in _vocab(info).purposes]
        if unknown:
            raise ValueError("unknown value")
        return tuple(dict.fromkeys(items))

    @model_validator(mode="after")
    def _setting_only_in_person(self) -> ContactRecord:
        if self.setting is not None and self.mode != "in_person":
            raise ValueError("setting: only allowed for in_person contacts")
        return self


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

    _d = field_validator("start_date", "end_date", mode="before")(lambda v: _date(v))

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

    @field_validator("requested_at", mode="before")
    @classmethod
    def _requested(cls, v: Any, info: ValidationInfo) -> datetime:
        return _timestamp(v, _vocab(info).tz)


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

    _d = field_validator("start_date", "end_date", mode="before")(lambda v: _date(v))

    @model_validator(mode="after")
    def _period_order(self) -> EnrollmentRecord:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date: before start_date")
        return self


@dataclass(frozen=True)
class Accepted:
    """A valid row as its domain record, and where it came from."""

    record: Record
    source: Source


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
