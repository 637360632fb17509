"""Small mapped resources for writer and planner tests."""

from __future__ import annotations

from fhirpeer.domain import Source
from fhirpeer.mappers import MappedResource, Ref, match_url
from fhirpeer.mapping_files import Mappings


def encounter_item(mappings: Mappings, key: str, patient: str = "M1") -> MappedResource:
    """A minimal Encounter for contact `key` pointing at Patient `patient` by conditional reference."""
    resource = {
        "resourceType": "Encounter",
        "identifier": [{"system": mappings.system_for("Encounter"), "value": key}],
        "status": "finished",
        "subject": {"reference": match_url(mappings, "Patient", patient)},
    }
    return MappedResource(
        "Encounter", key, resource, (Source("peer_contacts.csv", 2),), (Ref("Patient", patient, "patient_mrn"),)
    )
