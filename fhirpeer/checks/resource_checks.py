"""Check emitted resources: R4B model validation (structure, cardinality), the required code bindings and R4
invariants the models do not enforce (statuses, intent, priority, gender, Encounter.class system, Appointment
start/end), and the US Core must-haves (`us_core_must_haves.py`).

Problems are reported as 'path: message' without the offending values.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import BaseModel, ValidationError

from .. import r4_value_sets as vs
from .us_core_checks import us_core_problems

_MODELS: dict[str, type[BaseModel]] = {
    "Encounter": Encounter,
    "Appointment": Appointment,
    "CareTeam": CareTeam,
    "ServiceRequest": ServiceRequest,
    "Patient": Patient,
    "Practitioner": Practitioner,
    "PractitionerRole": PractitionerRole,
    "Organization": Organization,
}

_BINDINGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "Encounter": (("status", vs.R4_ENCOUNTER_STATUS),),
    "Appointment": (("status", vs.R4_APPOINTMENT_STATUS),),
    "CareTeam": (("status", vs.R4_CARETEAM_STATUS),),
    "ServiceRequest": (
        ("status", vs.R4_SERVICEREQUEST_STATUS),
        ("intent", vs.R4_SERVICEREQUEST_INTENT),
        ("priority", vs.R4_REQUEST_PRIORITY),
    ),
    "Patient": (("gender", vs.R4_ADMINISTRATIVE_GENDER),),
}
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: R4 Appointment app-3: the statuses that may lack start and end
_APPOINTMENT_UNTIMED = ("proposed", "cancelled", "waitlist")


def check_resource(resource: dict[str, Any]) -> list[str]:
    """Return the problems of one resource (empty when it is valid R4 and has the US Core must-haves)."""
    rtype = resource.get("resourceType", "")
    model = _MODELS.get(rtype)
    if model is None:
        return [f"resourceType: {rtype or 'missing'} is not one fhirpeer emits"]
    problems = _binding_problems(rtype, resource) + us_core_problems(resource)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        problems += [
            f"{rtype}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
    return problems


def _binding_problems(rtype: str, resource: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for name, allowed in _BINDINGS.get(rtype, ()):
        value = resource.get(name)
        if value is not None and value not in allowed:
            problems.append(f"{rtype}.{name}: code not in the required R4 value set")
    klass = resource.get("class")
    if rtype == "Encounter" and (klass.get("system") if isinstance(klass, dict) else None) != _ACT_CODE:
        problems.append("Encounter.class: system must be v3-ActCode")
    if rtype == "Appointment":
        problems += _appointment_problems(resource)
    return problems


def _appointment_problems(resource: dict[str, Any]) -> list[str]:
    problems = []
    for i, part in enumerate(resource.get("participant", [])):
        if part.get("status") not in vs.R4_PARTICIPATION_STATUS:
            problems.append(f"Appointment.participant[{i}].status: code not in the required R4 value set")
    has_start, has_end = "start" in resource, "end" in resource
    if has_start != has_end:
        problems.append("Appointment: start and end go together (R4 app-2)")
    elif not has_start and resource.get("status") not in _APPOINTMENT_UNTIMED:
        problems.append("Appointment: start and end required unless proposed, cancelled or waitlist (R4 app-3)")
    return problems
