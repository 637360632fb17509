"""What a contact's mapping reads from other files of the export, read once per run: the kind of each site
(sites.csv, for the setting of an in-person contact left blank) and each patient's enrollments (enrollments.csv,
for the EpisodeOfCare a completed contact belongs to)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from ..domain import InputKind
from ..records import Accepted, ContactRecord, EnrollmentRecord, SiteRecord
from .folder import InputFolder

#: Enrollment statuses whose period a contact can fall in (a planned enrollment has not begun; one entered in error
#: never was).
_RUNNING_STATUSES = frozenset({"active", "finished", "withdrawn"})


@dataclass(frozen=True)
class EnrollmentSpan:
    """One enrollment's period: start_date to end_date (open when blank), both days included."""

    enrollment_id: str
    start: date
    end: date | None

    def holds(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class ExportLookups:
    """Site kinds and enrollments of one export; `tz` is the site time zone (a contact's day is taken there)."""

    tz: ZoneInfo
    site_kinds: dict[str, str] = field(default_factory=dict)
    enrollments: dict[str, tuple[EnrollmentSpan, ...]] = field(default_factory=dict)  # patient_mrn → spans

    def site_kind(self, contact: ContactRecord) -> str | None:
        return self.site_kinds.get(contact.site_id or "")

    def episodes_of(self, contact: ContactRecord) -> tuple[str, ...]:
        """The enrollments a contact belongs to: the one it names, else every running enrollment of its patient
        whose period holds the contact's day (in the site time zone), in key order."""
        if contact.enrollment_id:
            return (contact.enrollment_id,)
        day = contact.start.astimezone(self.tz).date()
        spans = self.enrollments.get(contact.patient_mrn, ())
        return tuple(sorted(s.enrollment_id for s in spans if s.holds(day)))

    def context_of(self, contact: ContactRecord) -> str:
        """All a contact's mapping reads from other files, as text for its fingerprint."""
        return f"{self.site_kind(contact) or ''}|{','.join(self.episodes_of(contact))}"

    def row_context(self, fields: dict[str, str]) -> str:
        """What a contact row's mapping may read from other files, from its unparsed fields (for the fingerprint
        of a row that is not parsed): its site's kind and every running enrollment of its patient — a superset of
        `context_of`, since which enrollments hold the contact's day is known only once it is parsed."""
        spans = self.enrollments.get(fields.get("patient_mrn", ""), ())
        periods = ",".join(f"{s.enrollment_id}:{s.start}:{s.end or ''}" for s in spans)
        return f"{self.site_kinds.get(fields.get('site_id', ''), '')}|{periods}"


def lookups_of(folder: InputFolder) -> ExportLookups:
    """Read sites.csv and enrollments.csv of `folder` (when present) into lookups; rejected rows are left out
    (the sync reports them when it reaches their file)."""
    present = folder.present_kinds()
    site_kinds: dict[str, str] = {}
    if InputKind.SITES in present:
        for row in folder.records(InputKind.SITES):
            if isinstance(row, Accepted) and isinstance(row.record, SiteRecord) and row.record.kind:
                site_kinds.setdefault(row.record.site_id, row.record.kind)
    spans: dict[str, list[EnrollmentSpan]] = {}
    if InputKind.ENROLLMENTS in present:
        for row in folder.records(InputKind.ENROLLMENTS):
            if not (isinstance(row, Accepted) and isinstance(row.record, EnrollmentRecord)):
                continue
            rec = row.record
            if rec.status in _RUNNING_STATUSES:
                span = EnrollmentSpan(rec.enrollment_id, rec.start_date, rec.end_date)
                spans.setdefault(rec.patient_mrn, []).append(span)
    return ExportLookups(folder.vocab.tz, site_kinds, {mrn: tuple(s) for mrn, s in spans.items()})
