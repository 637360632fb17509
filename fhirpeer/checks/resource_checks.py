"""Check emitted resources: structure and cardinality with the fhir.resources R4B models' verdicts (the fast
path of `r4_structure`), plus the required code bindings and R4 invariants the models do not enforce (statuses,
intent, priority, gender, Encounter.class system, Appointment start/end) and the US Core must-haves
(`us_core_must_haves.py`).

Problems are reported as 'path: message' without the offending values.
"""

from __future__ import annotations

from typing import Any

from .. import r4_value_sets as vs
from .r4_structure import check_structure, supported_types
from .us_core_checks import us_core_problems

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
    "Task": (("status", vs.R4_TASK_STATUS), ("intent", vs.R4_TASK_INTENT)),
    "EpisodeOfCare": (("status", vs.R4_EPISODE_OF_CARE_STATUS),),
}
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: R4 Appointment app-3: the statuses that may lack start and end
_APPOINTMENT_UNTIMED = ("proposed", "cancelled", "waitlist")


def check_resource(resource: dict[str, Any]) -> list[str]:
    """Return the problems of one resource (empty when it is valid R4 and has the US Core must-haves)."""
    rtype = resource.get("resourceType", "")
    if rtype not in supported_types():
        return [f"resourceType: {rtype or 'missing'} is not one fhirpeer emits"]
    return _binding_problems(rtype, resource) + us_core_problems(resource) + check_structure(resource)


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
        if isinstance(part, dict) and part.get("status") not in vs.R4_PARTICIPATION_STATUS:
            problems.append(f"Appointment.participant[{i}].status: code not in the required R4 value set")
    has_start, has_end = "start" in resource, "end" in resource
    if has_start != has_end:
        problems.append("Appointment: start and end go together (R4 app-2)")
    elif not has_start and resource.get("status") not in _APPOINTMENT_UNTIMED:
        problems.append("Appointment: start and end required unless proposed, cancelled or waitlist (R4 app-3)")
    return problems
