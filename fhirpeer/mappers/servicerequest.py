"""ServiceRequest per warm handoff or referral."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import HandoffRecord
from .common import (
    MappedResource,
    Ref,
    codings,
    concept,
    conditional_reference,
    fhir_datetime,
    identifier,
    with_security,
)


def map_handoff(rec: HandoffRecord, source: Source, m: Mappings, *, part2: bool = True) -> MappedResource:
    sr = m.servicerequest
    kind = sr.kinds[rec.kind]
    code = concept(kind, sr.code_system_local, rec.kind)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [identifier(m, "ServiceRequest", rec.handoff_id)],
        "status": sr.status[rec.status],
        "intent": sr.intent,
        # one entry per concept: the kind's US Core (and Gravity) categories, then "patient referral"
        "category": [{"coding": [c.as_fhir()]} for c in (*kind.category, *sr.category_always)],
        "priority": rec.priority or sr.default_priority,
        "code": code,
        "subject": conditional_reference(m, "Patient", rec.patient_mrn),
        "authoredOn": fhir_datetime(rec.requested_at),
    }
    refs = [Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn")]
    if rec.via:
        resource["orderDetail"] = [
            {
                "coding": [{"system": sr.via_system, "code": rec.via, "display": sr.via[rec.via]}],
                "text": sr.via[rec.via],
            }
        ]
    if kind.performer_type:
        resource["performerType"] = {"coding": codings(kind.performer_type)}
    if rec.requester_id:
        resource["requester"] = conditional_reference(m, "Practitioner", rec.requester_id)
        refs.append(Ref(ResourceType.PRACTITIONER, rec.requester_id, "requester_id"))
    performers = []
    if rec.to_staff_id:
        performers.append(conditional_reference(m, "Practitioner", rec.to_staff_id))
        refs.append(Ref(ResourceType.PRACTITIONER, rec.to_staff_id, "to_staff_id"))
    if rec.to_site_id:
        performers.append(conditional_reference(m, "Organization", rec.to_site_id))
        refs.append(Ref(ResourceType.ORGANIZATION, rec.to_site_id, "to_site_id"))
    if performers:
        resource["performer"] = performers
    if rec.note:
        resource["note"] = [{"text": rec.note}]
    return MappedResource(
        ResourceType.SERVICE_REQUEST,
        rec.handoff_id,
        with_security(m, "ServiceRequest", resource, part2),
        (source,),
        tuple(refs),
    )
