"""Appointment per peer contact that did not happen (scheduled, cancelled, no-show), and the update of one sent
before when the contact is completed after all or was entered in error."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import ContactRecord
from .common import (
    MappedResource,
    Ref,
    concept,
    conditional_reference,
    end_of,
    fhir_datetime,
    identifier,
    with_security,
)


def map_appointment(
    rec: ContactRecord, source: Source, m: Mappings, *, only_if_exists: bool = False, part2: bool = True
) -> MappedResource:
    """The Appointment of a contact whose status is in `appointment.yaml`. `only_if_exists` for a contact that
    also became an Encounter: its Appointment is only updated (fulfilled, entered-in-error), never created."""
    appt, enc = m.appointment, m.encounter
    # R4 app-2/app-3: a start needs an end; a contact without a duration is booked for the configured slot
    minutes = rec.duration_min if rec.duration_min is not None else appt.slot_minutes_when_blank
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": [identifier(m, "Appointment", rec.contact_id)],
        "status": appt.status[rec.status],
        "serviceType": [concept(enc.service_type, enc.service_type_system_local, enc.service_type_code)],
        "start": fhir_datetime(rec.start),
        "end": fhir_datetime(end_of(rec.start, minutes)),
    }
    if rec.duration_min:  # positiveInt: a zero-minute contact has no minutesDuration
        resource["minutesDuration"] = rec.duration_min
    resource["participant"] = [
        {"actor": conditional_reference(m, "Patient", rec.patient_mrn), "status": appt.participant_status},
        {
            "type": [{"coding": [enc.peer_participant_type.as_fhir()]}],
            "actor": conditional_reference(m, "Practitioner", rec.peer_id),
            "status": appt.participant_status,
        },
    ]
    refs = [
        Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn"),
        Ref(ResourceType.PRACTITIONER, rec.peer_id, "peer_id"),
    ]
    if rec.handoff_id:
        resource["basedOn"] = [conditional_reference(m, "ServiceRequest", rec.handoff_id)]
        refs.append(Ref(ResourceType.SERVICE_REQUEST, rec.handoff_id, "handoff_id"))
    return MappedResource(
        ResourceType.APPOINTMENT,
        rec.contact_id,
        with_security(m, "Appointment", resource, part2),
        (source,),
        tuple(refs),
        only_if_exists=only_if_exists,
    )
