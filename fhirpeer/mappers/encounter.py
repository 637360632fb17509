"""Encounter per peer contact."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import ContactRecord
from .common import (
    MappedResource,
    Ref,
    codings,
    conditional_reference,
    fhir_datetime,
    identifier,
    with_security,
)


def is_sent(rec: ContactRecord, m: Mappings, send_text_contacts: bool) -> bool:
    """Text contacts (and any mode not in `send_modes`) stay out unless configured."""
    return rec.mode in m.encounter.send_modes or (send_text_contacts and rec.mode == "text")


def map_contact(rec: ContactRecord, source: Source, m: Mappings, *, part2: bool = True) -> MappedResource:
    enc = m.encounter
    setting = rec.setting or enc.default_setting
    klass = enc.class_by_setting[setting] if rec.mode == "in_person" else enc.class_by_mode[rec.mode]
    type_codings = [*enc.type_by_mode[rec.mode]]
    if rec.mode == "in_person":
        type_codings += enc.type_by_setting.get(setting, [])
    type_codings += enc.type_always
    period: dict[str, str] = {"start": fhir_datetime(rec.start)}
    if rec.duration_min is not None:
        # add in UTC: aware-datetime arithmetic in a DST zone is wall-clock arithmetic
        end = rec.start.astimezone(UTC) + timedelta(minutes=rec.duration_min)
        period["end"] = fhir_datetime(end.astimezone(rec.start.tzinfo))
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [identifier(m, "Encounter", rec.contact_id)],
        "status": enc.status[rec.status],
        "class": {"system": enc.class_system, **klass.model_dump(exclude_none=True)},
        "type": [{"coding": codings(type_codings), "text": enc.type_text}],
        "subject": conditional_reference(m, "Patient", rec.patient_mrn),
        "participant": [
            {
                "type": [{"coding": [enc.peer_participant_type.as_fhir()]}],
                "individual": conditional_reference(m, "Practitioner", rec.peer_id),
            }
        ],
        "period": period,
    }
    if rec.duration_min is not None:
        resource["length"] = {"value": rec.duration_min, **enc.length_unit}
    if rec.purposes:
        resource["reasonCode"] = [
            {
                "coding": [{"system": enc.purpose_system, "code": p, "display": enc.purposes[p]}],
                "text": enc.purposes[p],
            }
            for p in rec.purposes
        ]
    refs = [
        Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn"),
        Ref(ResourceType.PRACTITIONER, rec.peer_id, "peer_id"),
    ]
    if rec.site_id:
        resource["serviceProvider"] = conditional_reference(m, "Organization", rec.site_id)
        refs.append(Ref(ResourceType.ORGANIZATION, rec.site_id, "site_id"))
    return MappedResource(
        ResourceType.ENCOUNTER, rec.contact_id, with_security(m, "Encounter", resource, part2), (source,), tuple(refs)
    )
