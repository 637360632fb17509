"""Check emitted resources: structure and cardinality with the fhir.resources R4B models' verdicts (the fast
path of `r4_structure`), plus the required code bindings the models do not enforce (statuses, intent, priority,
gender, Encounter.class system) and US Core must-haves.

Problems are reported as 'path: message' without the offending values.
"""

from __future__ import annotations

from typing import Any

from .. import r4_value_sets as vs
from .r4_structure import check_structure, supported_types

_BINDINGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "Encounter": (("status", vs.R4_ENCOUNTER_STATUS),),
    "CareTeam": (("status", vs.R4_CARETEAM_STATUS),),
    "ServiceRequest": (
        ("status", vs.R4_SERVICEREQUEST_STATUS),
        ("intent", vs.R4_SERVICEREQUEST_INTENT),
        ("priority", vs.R4_REQUEST_PRIORITY),
    ),
    "Patient": (("gender", vs.R4_ADMINISTRATIVE_GENDER),),
}
_REQUIRED: dict[str, tuple[str, ...]] = {  # US Core must-haves
    "Encounter": ("status", "class", "type", "subject"),
    "CareTeam": ("subject", "participant"),
    "ServiceRequest": ("status", "intent", "code", "subject"),
}
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def check_resource(resource: dict[str, Any]) -> list[str]:
    """Return the problems of one resource (empty when it is valid R4)."""
    rtype = resource.get("resourceType", "")
    if rtype not in supported_types():
        return [f"resourceType: {rtype or 'missing'} is not one fhirpeer emits"]
    return _binding_problems(rtype, resource) + check_structure(resource)


def _binding_problems(rtype: str, resource: dict[str, Any]) -> list[str]:
    problems = [f"{rtype}.{name}: required" for name in _REQUIRED.get(rtype, ()) if not resource.get(name)]
    for name, allowed in _BINDINGS.get(rtype, ()):
        value = resource.get(name)
        if value is not None and value not in allowed:
            problems.append(f"{rtype}.{name}: code not in the required R4 value set")
    klass = resource.get("class")
    if rtype == "Encounter" and (klass.get("system") if isinstance(klass, dict) else None) != _ACT_CODE:
        problems.append("Encounter.class: system must be v3-ActCode")
    if rtype == "CareTeam":
        for i, part in enumerate(resource.get("participant", [])):
            if not part.get("role") or not part.get("member"):
                problems.append(f"CareTeam.participant[{i}]: role and member are required (US Core)")
    return problems
