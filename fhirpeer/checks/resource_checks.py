"""Check emitted resources: R4B model validation (structure, cardinality) plus the required code
bindings the models do not enforce (statuses, intent, priority, gender, Encounter.class system).

Problems are reported as 'path: message' without the offending values.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import BaseModel, ValidationError

from .. import r4_value_sets as vs

_MODELS: dict[str, type[BaseModel]] = {
    "Encounter": Encounter,
    "CareTeam": CareTeam,
    "ServiceRequest": ServiceRequest,
    "Patient": Patient,
    "Practitioner": Practitioner,
    "Organization": Organization,
}

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
    model = _MODELS.get(rtype)
    if model is None:
        return [f"resourceType: {rtype or 'missing'} is not one fhirpeer emits"]
    problems = _binding_problems(rtype, resource)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        problems += [
            f"{rtype}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
    return problems


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
