"""Encounter per peer contact that happened (or marks one sent before as entered in error)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import ContactRecord
from .common import (
    MappedResource,
    Ref,
    concept,
    conditional_reference,
    identifier,
    period_of,
    with_security,
)

#: The Encounter status that only marks what was sent before: written only when the server holds the key.
MARKS_ONLY = "entered-in-error"


def contact_setting(rec: ContactRecord, m: Mappings, site_kind: str | None) -> str:
    """The setting of an in-person contact: the cell, else the one its site's kind implies, else the default."""
    enc = m.encounter
    return rec.setting or enc.setting_by_site_kind.get(site_kind or "") or enc.default_setting


def map_encounter(
    rec: ContactRecord,
    source: Source,
    m: Mappings,
    *,
    site_kind: str | None = None,
    episodes: Sequence[str] = (),
    part2: bool = True,
) -> MappedResource:
    """The Encounter of a contact whose status is in `encounter.yaml`; `site_kind` is the kind of its site (when
    the export has the site), which decides the setting when the cell is blank. `episodes` are the enrollments it
    belongs to (Encounter.episodeOfCare, for a contact that happened): the one its `enrollment_id` names must be
    found, the ones its day falls in are dropped when they are nowhere."""
    enc = m.encounter
    status = enc.status[rec.status]
    happened = status != MARKS_ONLY  # nothing that did not happen carries a length or period.end
    in_person = rec.mode == "in_person"
    setting = contact_setting(rec, m, site_kind) if in_person else None
    klass = enc.class_by_setting[setting] if setting else enc.class_by_mode[rec.mode]
    types = [concept(enc.type_by_mode[rec.mode], enc.mode_system_local, rec.mode)]
    if setting in enc.type_by_setting:
        types.append(concept(enc.type_by_setting[setting], enc.setting_system_local, setting))
    types += [concept(enc.purposes[p], enc.purpose_system, p) for p in rec.purposes]
    minutes = rec.duration_min if happened else None
    period = period_of(rec.start, minutes)
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [identifier(m, "Encounter", rec.contact_id)],
        "status": status,
        "class": klass.as_fhir(enc.class_system),
        "type": types,
        "serviceType": concept(enc.service_type, enc.service_type_system_local, enc.service_type_code),
        "subject": conditional_reference(m, "Patient", rec.patient_mrn),
        "participant": [
            {
                "type": [{"coding": [enc.peer_participant_type.as_fhir()]}],
                "period": dict(period),
                "individual": conditional_reference(m, "Practitioner", rec.peer_id),
            }
        ],
        "appointment": [conditional_reference(m, "Appointment", rec.contact_id)],
        "period": period,
    }
    if minutes is not None:
        resource["length"] = {"value": minutes, **enc.length_unit}
    if enc.reason is not None:
        resource["reasonCode"] = [{"coding": [c.as_fhir() for c in enc.reason.codings], "text": enc.reason.text}]
    refs = [
        Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn"),
        Ref(ResourceType.PRACTITIONER, rec.peer_id, "peer_id"),
        # the contact's own Appointment, when it was sent as one before (dropped when it is on the server nowhere)
        Ref(ResourceType.APPOINTMENT, rec.contact_id, "contact_id", optional=True),
    ]
    if rec.handoff_id:
        resource["basedOn"] = [conditional_reference(m, "ServiceRequest", rec.handoff_id)]
        refs.append(Ref(ResourceType.SERVICE_REQUEST, rec.handoff_id, "handoff_id"))
    if happened and episodes:
        resource["episodeOfCare"] = [conditional_reference(m, "EpisodeOfCare", key) for key in episodes]
        named = rec.enrollment_id is not None
        refs += [Ref(ResourceType.EPISODE_OF_CARE, key, "enrollment_id", optional=not named) for key in episodes]
    if rec.site_id:
        resource["serviceProvider"] = conditional_reference(m, "Organization", rec.site_id)
        refs.append(Ref(ResourceType.ORGANIZATION, rec.site_id, "site_id"))
    return MappedResource(
        ResourceType.ENCOUNTER,
        rec.contact_id,
        with_security(m, "Encounter", resource, part2),
        (source,),
        tuple(refs),
        only_if_exists=not happened,
    )
