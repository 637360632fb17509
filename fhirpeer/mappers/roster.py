"""Patient, Practitioner and Organization from the roster files."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import PatientRecord, SiteRecord, StaffRecord
from .common import MappedResource, concept, human_name, identifier


def map_patient(rec: PatientRecord, source: Source, m: Mappings) -> MappedResource:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [identifier(m, "Patient", rec.patient_mrn)],
    }
    if name := human_name(rec.family_name, rec.given_name):
        resource["name"] = name
    if rec.gender:
        resource["gender"] = rec.gender
    if rec.birth_date:
        resource["birthDate"] = rec.birth_date.isoformat()
    return MappedResource(ResourceType.PATIENT, rec.patient_mrn, resource, (source,))


def map_staff(rec: StaffRecord, source: Source, m: Mappings) -> MappedResource:
    identifiers = [identifier(m, "Practitioner", rec.staff_id)]
    if rec.npi:
        identifiers.append({"system": m.identifiers.npi_system, "value": rec.npi})
    resource: dict[str, Any] = {"resourceType": "Practitioner", "identifier": identifiers, "active": True}
    if name := human_name(rec.family_name, rec.given_name):
        resource["name"] = name
    if rec.discipline:
        mapped = m.roster.disciplines[rec.discipline]
        resource["qualification"] = [{"code": concept(mapped, m.roster.discipline_system_local, rec.discipline)}]
    return MappedResource(ResourceType.PRACTITIONER, rec.staff_id, resource, (source,))


def map_site(rec: SiteRecord, source: Source, m: Mappings) -> MappedResource:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "identifier": [identifier(m, "Organization", rec.site_id)],
        "active": True,
        "name": rec.name,
    }
    if rec.kind:
        resource["type"] = [concept(m.roster.site_kinds[rec.kind], m.roster.site_kind_system_local, rec.kind)]
    return MappedResource(ResourceType.ORGANIZATION, rec.site_id, resource, (source,))
