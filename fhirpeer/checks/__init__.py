"""Fast checks of emitted resources that give the same verdicts as fhir.resources, without pydantic models.

    from fhirpeer.checks import check_structure, supported_types
    problems = check_structure(resource)   # [] exactly when fhir.resources' R4B model accepts it

Required code bindings (Encounter.status values and the like) are not structure: they stay in
`fhirpeer.validation`.
"""

from .r4_structure import check_structure, supported_types

__all__ = ["check_structure", "supported_types"]
