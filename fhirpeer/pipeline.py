"""Read and map one input kind: the records of an `InputFolder` → FHIR resources, rejections, skipped records.

Shared by the offline check (`fhirpeer validate`) and the sync engine, so both see exactly the same resources.
One record can become several resources (a contact: an Appointment and/or an Encounter; a staff member: a
Practitioner and, with a site, a PractitionerRole); they are yielded together, in write order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from ._version import __version__
from .domain import InputKind, Rejection, ResourceType, Skipped
from .input.folder import InputFolder
from .input.lookups import ExportLookups, lookups_of
from .mappers import MappedResource, map_care_team, map_contact, map_handoff, map_patient, map_site, map_staff
from .mappers.contact import contact_resource_type, is_sent
from .mappers.episodeofcare import map_enrollment
from .mappers.roster import map_practitioner_role
from .mappers.task import map_referral_task
from .mapping_files import Mappings
from .records import (
    CODED_VALUE_SETS,
    Accepted,
    ContactRecord,
    EnrollmentRecord,
    HandoffRecord,
    PatientRecord,
    SiteRecord,
    StaffRecord,
    TeamRows,
    Vocabulary,
)
from .settings import Settings

Item = MappedResource | Rejection | Skipped

__all__ = [
    "ExportLookups",
    "Item",
    "MappingOptions",
    "fingerprint",
    "lookups_of",
    "map_one",
    "map_record",
    "mapped_items",
    "mapping_context",
    "mapping_digest",
    "record_key",
    "resource_types_of",
    "row_digest",
]


@dataclass(frozen=True)
class MappingOptions:
    """The settings that change what a record becomes, and the run date (CareTeam status is as of that day; pass
    the date in the site time zone — the default, the machine's date, is for callers that have none).
    `referral_tasks`: the handoff kinds that get a referral Task (None: every kind)."""

    part2_labels: bool = True
    send_text_contacts: bool = False
    today: date = field(default_factory=date.today)
    referral_tasks: frozenset[str] | None = None

    @classmethod
    def of(cls, settings: Settings) -> MappingOptions:
        """The options a run with these settings maps with; the run date is today in the site time zone."""
        return cls(settings.part2_labels, settings.send_text_contacts, datetime.now(settings.tz).date(),
                   settings.referral_task_kinds)  # fmt: skip

    def task_for(self, kind: str) -> bool:
        return self.referral_tasks is None or kind in self.referral_tasks


def resource_types_of(kinds: Iterable[InputKind], options: MappingOptions | None = None) -> list[ResourceType]:
    """The resource types these input kinds become, in write order."""
    produced = {t for kind in kinds for t in kind.resource_types}
    if options is not None and options.referral_tasks == frozenset():
        produced.discard(ResourceType.TASK)
    return [t for t in ResourceType if t in produced]


def mapped_items(folder: InputFolder, kind: InputKind, mappings: Mappings, options: MappingOptions) -> Iterator[Item]:
    """Stream one kind's items in file order (care teams after their file is read: they are grouped); the
    resources of one record come together, in write order."""
    lookups = lookups_of(folder) if kind is InputKind.CONTACTS else None
    for record in folder.records(kind):
        if isinstance(record, Rejection):
            yield record
        else:
            mapped = map_one(record, mappings, options, lookups=lookups)
            yield from ([mapped] if isinstance(mapped, Skipped) else mapped)


def map_record(
    row: Accepted, m: Mappings, options: MappingOptions, *, lookups: ExportLookups | None = None
) -> list[MappedResource] | Skipped:
    """One accepted row → its resources in write order (or why it is not sent). A contact reads `lookups`
    (`lookups_of(folder)`): its site's kind decides the setting of an in-person contact whose setting is blank (a
    site only on the server gets the default setting), and the enrollments its day falls in become
    Encounter.episodeOfCare. Without lookups, only the enrollment a contact names is referenced."""
    rec, src, part2 = row.record, row.source, options.part2_labels
    if isinstance(rec, SiteRecord):
        return [map_site(rec, src, m)]
    if isinstance(rec, StaffRecord):
        role = map_practitioner_role(rec, src, m)
        return [map_staff(rec, src, m), *([role] if role else [])]
    if isinstance(rec, PatientRecord):
        return [map_patient(rec, src, m, part2=part2)]
    if isinstance(rec, ContactRecord):
        if not is_sent(rec, m, options.send_text_contacts):
            return Skipped(contact_resource_type(rec, m), rec.contact_id, _not_sent_reason(rec.mode), src.file)
        if lookups is not None:
            site_kind, episodes = lookups.site_kind(rec), lookups.episodes_of(rec)
        else:
            site_kind, episodes = None, ((rec.enrollment_id,) if rec.enrollment_id else ())
        return map_contact(rec, src, m, site_kind=site_kind, episodes=episodes, part2=part2)
    if isinstance(rec, HandoffRecord):
        task = [map_referral_task(rec, src, m, part2=part2)] if options.task_for(rec.kind) else []
        return [map_handoff(rec, src, m, part2=part2), *task]
    if isinstance(rec, EnrollmentRecord):
        return [map_enrollment(rec, src, m, part2=part2)]
    raise TypeError(f"no mapper for {type(rec).__name__}")


def map_one(
    record: Accepted | TeamRows, m: Mappings, options: MappingOptions, *, lookups: ExportLookups | None = None
) -> list[MappedResource] | Skipped:
    """One record (a row, or a care team's rows) → its resources in write order, or why it is not sent.
    `lookups` as for `map_record` (contacts only: `lookups_of(folder)`, once per run)."""
    if isinstance(record, TeamRows):
        return [map_care_team(record, m, today=options.today, part2=options.part2_labels)]
    return map_record(record, m, options, lookups=lookups)


def record_key(record: Accepted | TeamRows) -> str:
    return record.team_id if isinstance(record, TeamRows) else record.record.key


def mapping_digest(m: Mappings, options: MappingOptions, kind: InputKind) -> str:
    """What, besides the record itself, decides what a record of `kind` becomes: the mappings, the options and
    fhirpeer's version. A change of any of them makes every such record be mapped again. The run date matters to
    care teams only (their status is as of the day), so only they are mapped again every day."""
    settings = {k: v for k, v in asdict(options).items() if k != "today" or kind is InputKind.CARE_TEAM}
    text = "|".join([__version__, m.model_dump_json(exclude={"source"}), repr(sorted(settings.items()))])
    return hashlib.sha256(text.encode()).hexdigest()


def row_digest(m: Mappings, options: MappingOptions, kind: InputKind, vocab: Vocabulary) -> str:
    """What, besides a row's cells (and what its mapping reads from other files), decides what an unparsed row of
    `kind` becomes: `mapping_digest` and how cells are read (the vocabulary: coded values, time zone, date
    layouts). The digest of `fhirpeer.input.row_skip` fingerprints."""
    coded = [(name, sorted(getattr(vocab, name))) for name in CODED_VALUE_SETS]
    text = "|".join([mapping_digest(m, options, kind), str(kind), repr(coded), str(vocab.tz),
                     repr(vocab.date_formats.patterns)])  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(record: Accepted | TeamRows, digest: str, context: str = "") -> str:
    """A parsed record's fingerprint (a care team's; a row read for a sync has its row fingerprint, see
    `row_digest`): equal fingerprints map to equal resources, so a rerun skips the record before mapping it.
    `context` is what else its mapping reads (a contact: its site's kind). Its place in the file is left out
    (moving a row changes nothing on the server)."""
    if isinstance(record, TeamRows):
        text = "\n".join(member.model_dump_json() for member, _ in record.members)
    else:
        text = record.record.model_dump_json()
    return hashlib.sha256(f"{digest}\n{type(record).__name__}\n{text}\n{context}".encode()).hexdigest()[:32]


def mapping_context(record: Accepted | TeamRows, lookups: ExportLookups | None) -> str:
    """What a record's mapping reads besides the record (for its fingerprint): a contact's site kind and
    enrollments."""
    if lookups is not None and isinstance(record, Accepted) and isinstance(record.record, ContactRecord):
        return lookups.context_of(record.record)
    return ""


def _not_sent_reason(mode: str) -> str:
    if mode == "text":
        return "mode text: text contacts are not sent (setting send_text_contacts)"
    return f"mode {mode}: not sent (send_modes in encounter.yaml)"
