"""Read and map one input kind: the records of an `InputFolder` → FHIR resources, rejections, skipped records.

Shared by the offline check (`fhirpeer validate`) and the sync engine, so both see exactly the same resources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from ._version import __version__
from .domain import InputKind, Rejection, ResourceType, Skipped
from .input.folder import InputFolder
from .mappers import MappedResource, map_care_team, map_contact, map_handoff, map_patient, map_site, map_staff
from .mappers.encounter import is_sent
from .mappers.task import map_referral_task
from .mapping_files import Mappings
from .records import Accepted, ContactRecord, HandoffRecord, PatientRecord, SiteRecord, StaffRecord, TeamRows
from .settings import Settings

Item = MappedResource | Rejection | Skipped


@dataclass(frozen=True)
class MappingOptions:
    """The settings that change what a record becomes. `referral_tasks`: the handoff kinds that get a referral
    Task (None: every kind)."""

    part2_labels: bool = True
    send_text_contacts: bool = False
    referral_tasks: frozenset[str] | None = None

    @classmethod
    def of(cls, settings: Settings) -> MappingOptions:
        return cls(settings.part2_labels, settings.send_text_contacts, settings.referral_task_kinds)

    def task_for(self, kind: str) -> bool:
        return self.referral_tasks is None or kind in self.referral_tasks


#: The resource types a record of each kind may become besides its main one.
_COMPANIONS: dict[InputKind, tuple[ResourceType, ...]] = {InputKind.HANDOFFS: (ResourceType.TASK,)}


def resource_types_of(kinds: Iterable[InputKind], options: MappingOptions | None = None) -> list[ResourceType]:
    """The resource types these input kinds become, in write order."""
    produced: set[ResourceType] = set()
    for kind in kinds:
        produced.add(kind.resource_type)
        produced.update(_COMPANIONS.get(kind, ()))
    if options is not None and options.referral_tasks == frozenset():
        produced.discard(ResourceType.TASK)
    return [t for t in ResourceType if t in produced]


def mapped_items(folder: InputFolder, kind: InputKind, mappings: Mappings, options: MappingOptions) -> Iterator[Item]:
    """Stream one kind's items in file order (care teams after their file is read: they are grouped)."""
    for record in folder.records(kind):
        if isinstance(record, Rejection):
            yield record
            continue
        mapped = map_one(record, mappings, options)
        if isinstance(mapped, Skipped):
            yield mapped
        else:
            yield from mapped


def map_record(row: Accepted, m: Mappings, options: MappingOptions) -> MappedResource | Skipped:
    """One accepted row → its resource (or why it is not sent)."""
    rec, src, part2 = row.record, row.source, options.part2_labels
    if isinstance(rec, SiteRecord):
        return map_site(rec, src, m)
    if isinstance(rec, StaffRecord):
        return map_staff(rec, src, m)
    if isinstance(rec, PatientRecord):
        return map_patient(rec, src, m)
    if isinstance(rec, ContactRecord):
        if not is_sent(rec, m, options.send_text_contacts):
            return Skipped(ResourceType.ENCOUNTER, rec.contact_id, f"mode {rec.mode} is not sent (configuration)")
        return map_contact(rec, src, m, part2=part2)
    if isinstance(rec, HandoffRecord):
        return map_handoff(rec, src, m, part2=part2)
    raise TypeError(f"no mapper for {type(rec).__name__}")


def map_one(record: Accepted | TeamRows, m: Mappings, options: MappingOptions) -> list[MappedResource] | Skipped:
    """One record (a row, or a care team's rows) → its resources in write order, or why it is not sent."""
    if isinstance(record, TeamRows):
        return [map_care_team(record, m, part2=options.part2_labels)]
    mapped = map_record(record, m, options)
    if isinstance(mapped, Skipped):
        return mapped
    rec = record.record
    if isinstance(rec, HandoffRecord) and options.task_for(rec.kind):
        return [mapped, map_referral_task(rec, record.source, m, part2=options.part2_labels)]
    return [mapped]


def record_key(record: Accepted | TeamRows) -> str:
    return record.team_id if isinstance(record, TeamRows) else record.record.key


def mapping_digest(m: Mappings, options: MappingOptions) -> str:
    """What, besides the record itself, decides what a record becomes: the mappings, the options and fhirpeer's
    version. A change of any of them makes every record be mapped again."""
    text = "|".join([__version__, m.model_dump_json(exclude={"source"}), repr(sorted(asdict(options).items()))])
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(record: Accepted | TeamRows, digest: str) -> str:
    """A record's fingerprint: equal fingerprints map to equal resources, so a rerun skips the record before
    mapping it. Its place in the file is left out (moving a row changes nothing on the server)."""
    if isinstance(record, TeamRows):
        text = "\n".join(member.model_dump_json() for member, _ in record.members)
    else:
        text = record.record.model_dump_json()
    return hashlib.sha256(f"{digest}\n{type(record).__name__}\n{text}".encode()).hexdigest()[:32]
