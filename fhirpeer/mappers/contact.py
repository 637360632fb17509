"""A peer contact → its resources, in write order: an Appointment when it did not happen (or to update the one
sent before), an Encounter when it happened (or to mark the one sent before entered-in-error)."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import ContactRecord
from .appointment import map_appointment
from .common import MappedResource
from .encounter import map_encounter


def is_sent(rec: ContactRecord, m: Mappings, send_text_contacts: bool) -> bool:
    """Text contacts (and any mode not in `send_modes`) stay out unless configured."""
    return rec.mode in m.encounter.send_modes or (send_text_contacts and rec.mode == "text")


def contact_resource_type(rec: ContactRecord, m: Mappings) -> ResourceType:
    """The main resource a contact becomes: an Encounter when it happened, else an Appointment."""
    return ResourceType.ENCOUNTER if rec.status in m.encounter.status else ResourceType.APPOINTMENT


def map_contact(
    rec: ContactRecord,
    source: Source,
    m: Mappings,
    *,
    site_kind: str | None = None,
    episodes: Sequence[str] = (),
    part2: bool = True,
) -> list[MappedResource]:
    """Appointment (when the status is in appointment.yaml) before Encounter (when it is in encounter.yaml).
    `episodes`: the enrollments the contact belongs to (see `map_encounter`)."""
    becomes_encounter = rec.status in m.encounter.status
    resources: list[MappedResource] = []
    if rec.status in m.appointment.status:
        resources.append(map_appointment(rec, source, m, only_if_exists=becomes_encounter, part2=part2))
    if becomes_encounter:
        resources.append(map_encounter(rec, source, m, site_kind=site_kind, episodes=episodes, part2=part2))
    return resources
