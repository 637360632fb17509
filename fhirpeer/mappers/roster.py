"""Patient, Practitioner (and the PractitionerRole at its site) and Organization from the roster files."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import PatientRecord, SiteRecord, StaffRecord
from .common import (
    MappedResource,
    Ref,
    concept,
    conditional_reference,
    data_absent,
    human_name,
    identifier,
    with_security,
)


def map_patient(rec: PatientRecord, source: Source, m: Mappings, *, part2: bool = True) -> MappedResource:
    """The Patient fhirpeer would create, with the Part 2 labels (being a patient of the program is itself
    protected). US Core must-haves: a blank name is a name carrying the data-absent-reason extension (us-core-6),
    a blank gender is `unknown`."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [identifier(m, "Patient", rec.patient_mrn)],
        "name": human_name(rec.family_name, rec.given_name) or [data_absent(m)],
        "gender": rec.gender or m.roster.gender_when_blank,
    }
    if rec.birth_date:
        resource["birthDate"] = rec.birth_date.isoformat()
    return MappedResource(
        ResourceType.PATIENT, rec.patient_mrn, with_security(m, "Patient", resource, part2), (source,)
    )


def map_staff(rec: StaffRecord, source: Source, m: Mappings) -> MappedResource:
    identifiers = [identifier(m, "Practitioner", rec.staff_id)]
    if rec.npi:
        identifiers.append({"system": m.identifiers.npi_system, "value": rec.npi})
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "identifier": identifiers,
        "active": True,
        "name": _practitioner_name(rec, m),
    }
    if rec.discipline:
        text = m.roster.disciplines[rec.discipline].text
        code = {"system": m.roster.discipline_system_local, "code": rec.discipline, "display": text}
        resource["qualification"] = [{"code": {"coding": [code], "text": text}}]
    return MappedResource(ResourceType.PRACTITIONER, rec.staff_id, resource, (source,))


def _practitioner_name(rec: StaffRecord, m: Mappings) -> list[dict[str, Any]]:
    """US Core Practitioner: name 1..*, name.family 1..1; a blank family name carries data-absent-reason."""
    name = (human_name(rec.family_name, rec.given_name) or [{}])[0]
    if "family" not in name:
        name["_family"] = data_absent(m)
    return [name]


def map_practitioner_role(rec: StaffRecord, source: Source, m: Mappings) -> MappedResource | None:
    """The staff member's role at their site (None without a site): code = the discipline's Care Team Member
    Function code (local where none exists), specialty = their NUCC taxonomy (the discipline's when blank)."""
    if not rec.site_id:
        return None
    resource: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "identifier": [identifier(m, "PractitionerRole", rec.staff_id)],
        "active": True,
        "practitioner": conditional_reference(m, "Practitioner", rec.staff_id),
        "organization": conditional_reference(m, "Organization", rec.site_id),
    }
    specialty = {"system": m.roster.taxonomy_system, "code": rec.taxonomy} if rec.taxonomy else None
    if rec.discipline:
        discipline = m.roster.disciplines[rec.discipline]
        resource["code"] = [concept(discipline, m.roster.discipline_system_local, rec.discipline)]
        if specialty is None and discipline.specialty is not None:
            specialty = discipline.specialty.as_fhir()
    if specialty is not None:
        resource["specialty"] = [{"coding": [specialty]}]
    refs = (
        Ref(ResourceType.PRACTITIONER, rec.staff_id, "staff_id"),
        Ref(ResourceType.ORGANIZATION, rec.site_id, "site_id"),
    )
    return MappedResource(ResourceType.PRACTITIONER_ROLE, rec.staff_id, resource, (source,), refs)


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
