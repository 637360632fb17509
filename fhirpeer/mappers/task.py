"""Task per warm handoff: the Gravity SDOH "Task for Referral Management" that carries the ServiceRequest to its
receiver, who moves it through accepted / in-progress / completed (or rejected, cancelled, failed)."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import HandoffRecord
from .common import MappedResource, Ref, conditional_reference, fhir_datetime, identifier, with_security


def map_referral_task(rec: HandoffRecord, source: Source, m: Mappings, *, part2: bool = True) -> MappedResource:
    tk = m.task
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [identifier(m, ResourceType.TASK, rec.handoff_id)],
        "status": tk.status[rec.status],
        "intent": tk.intent,
        "code": {"coding": [tk.code.as_fhir()]},
        "focus": conditional_reference(m, ResourceType.SERVICE_REQUEST, rec.handoff_id),
        "for": conditional_reference(m, ResourceType.PATIENT, rec.patient_mrn),
        "authoredOn": fhir_datetime(rec.requested_at),
    }
    reason = tk.status_reasons.get(rec.status)
    if reason:
        coding = {"system": tk.status_reason_system_local, "code": rec.status, "display": reason}
        resource["statusReason"] = {"coding": [coding], "text": reason}
    refs = [
        Ref(ResourceType.SERVICE_REQUEST, rec.handoff_id, "handoff_id"),
        Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn"),
    ]
    if rec.requester_id:
        resource["requester"] = conditional_reference(m, ResourceType.PRACTITIONER, rec.requester_id)
        refs.append(Ref(ResourceType.PRACTITIONER, rec.requester_id, "requester_id"))
    if rec.to_staff_id:  # the receiving person, else the receiving organization; unowned when neither
        resource["owner"] = conditional_reference(m, ResourceType.PRACTITIONER, rec.to_staff_id)
        refs.append(Ref(ResourceType.PRACTITIONER, rec.to_staff_id, "to_staff_id"))
    elif rec.to_site_id:
        resource["owner"] = conditional_reference(m, ResourceType.ORGANIZATION, rec.to_site_id)
        refs.append(Ref(ResourceType.ORGANIZATION, rec.to_site_id, "to_site_id"))
    labelled = with_security(m, "Task", resource, part2)
    return MappedResource(ResourceType.TASK, rec.handoff_id, labelled, (source,), tuple(refs))
