"""Mappers: pure functions from domain records and mappings to FHIR R4 resources (JSON dicts).

No I/O and no clock: the same record, mappings and run date always give the same resource, byte for byte,
which is what makes content hashes (and so no-op reruns) possible.
"""

from .appointment import map_appointment
from .careteam import map_care_team
from .common import MappedResource, Ref, conditional_reference, match_url
from .contact import map_contact
from .encounter import map_encounter
from .episodeofcare import map_enrollment
from .roster import map_patient, map_practitioner_role, map_site, map_staff
from .servicerequest import map_handoff

__all__ = [
    "MappedResource",
    "Ref",
    "conditional_reference",
    "map_appointment",
    "map_care_team",
    "map_contact",
    "map_encounter",
    "map_enrollment",
    "map_handoff",
    "map_patient",
    "map_practitioner_role",
    "map_site",
    "map_staff",
    "match_url",
]
