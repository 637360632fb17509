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
from .mapping_files import Mappings
from .records import Accepted, ContactRecord, HandoffRecord, PatientRecord, SiteRecord, StaffRecord, TeamRows

Item = MappedResource | Rejection | Skipped


@dataclass(frozen=True)
class MappingOptions:
    """The settings that change what a record becomes."""

    part2_labels: bool = True
    send_text_contacts: bool = False


def resource_types_of(kinds: Iterable[InputKind]) -> list[ResourceType]:
    """The resource types these input kinds become, in write order."""
    produced = {kind.resource_type for kind in kinds}
    return [t for t in ResourceType if t in produced]


def mapped_items(folder: InputFolder, kind: InputKind, mappings: Mappings, options: MappingOptions) -> Iterator[Item]:
    """Stream one kind's items in file order (care teams after their file is read: they are grouped)."""
    for record in folder.records(kind):
        if isinstance(record, Rejection):
            yield record
        elif isinstance(record, TeamRows):
            yield map_care_team(record, mappings, part2=options.part2_labels)
        else:
            yield map_record(record, mappings, options)


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
            return Skipped(ResourceType.ENCOUNTER, rec.contact_id, _not_sent_reason(rec.mode), src.file)
        return map_contact(rec, src, m, part2=part2)
    if isinstance(rec, HandoffRecord):
        return map_handoff(rec, src, m, part2=part2)
    raise TypeError(f"no mapper for {type(rec).__name__}")


def map_one(record: Accepted | TeamRows, m: Mappings, options: MappingOptions) -> list[MappedResource] | Skipped:
    """One record (a row, or a care team's rows) → its resources in write order, or why it is not sent."""
    if isinstance(record, TeamRows):
        return [map_care_team(record, m, part2=options.part2_labels)]
    mapped = map_record(record, m, options)
    return mapped if isinstance(mapped, Skipped) else [mapped]


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


def _not_sent_reason(mode: str) -> str:
    if mode == "text":
        return "mode text: text contacts are not sent (setting send_text_contacts)"
    return f"mode {mode}: not sent (send_modes in encounter.yaml)"
