"""Domain records for mapper tests, built through the real record models with the shipped vocabulary, and the
helpers that read the resources back."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fhirpeer.checks.resource_checks import check_resource
from fhirpeer.domain import Source
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import (
    CareTeamMemberRecord,
    ContactRecord,
    EnrollmentRecord,
    HandoffRecord,
    PatientRecord,
    Record,
    SiteRecord,
    StaffRecord,
    TeamRows,
    Vocabulary,
)

M = load_mappings()
NS = "https://fhir.example.org"
SRC = Source("test.csv", 2)

SNOMED = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
NPI = "http://hl7.org/fhir/sid/us-npi"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
GRAVITY = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MR = {"system": V2_0203, "code": "MR", "display": "Medical record number"}
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
EPISODE_TYPE = "http://terminology.hl7.org/CodeSystem/episodeofcare-type"
STANDARD_SYSTEMS = {
    SNOMED, NUCC, LOINC, UCUM, ACT_CODE, CONFIDENTIALITY, PARTICIPATION, NPI, ORG_TYPE, US_CORE_CATEGORY, GRAVITY,
    V2_0203, TASK_CODE, EPISODE_TYPE,
}  # fmt: skip

_DEFAULTS: dict[type[Record], dict[str, Any]] = {
    ContactRecord: {
        "contact_id": "C-1",
        "patient_mrn": "MRN-1",
        "peer_id": "P-1",
        "start": "2026-01-05T10:00:00-05:00",
        "mode": "in_person",
        "status": "completed",
    },
    HandoffRecord: {
        "handoff_id": "H-1",
        "patient_mrn": "MRN-1",
        "kind": "ed_to_peer",
        "requested_at": "2026-01-05T10:00:00-05:00",
        "status": "active",
    },
    CareTeamMemberRecord: {
        "team_id": "T-1",
        "patient_mrn": "MRN-1",
        "staff_id": "P-1",
        "role": "peer",
        "start_date": "2026-01-02",
    },
    StaffRecord: {"staff_id": "P-1"},
    PatientRecord: {"patient_mrn": "MRN-1"},
    SiteRecord: {"site_id": "S-1", "name": "Clinic"},
    EnrollmentRecord: {"enrollment_id": "E-1", "patient_mrn": "MRN-1", "start_date": "2026-01-05", "status": "active"},
}


def vocab(tz: str = "UTC") -> Vocabulary:
    return M.vocabulary(ZoneInfo(tz))


def record(model: type[Record], tz: str = "UTC", **fields: Any) -> Any:
    """A valid `model` record from its defaults and `fields` (a None field is left out)."""
    data = {**_DEFAULTS[model], **fields}
    return model.model_validate({k: v for k, v in data.items() if v is not None}, context={"vocab": vocab(tz)})


def contact(tz: str = "UTC", **fields: Any) -> ContactRecord:
    return record(ContactRecord, tz, **fields)


def handoff(tz: str = "UTC", **fields: Any) -> HandoffRecord:
    return record(HandoffRecord, tz, **fields)


def enrollment(**fields: Any) -> EnrollmentRecord:
    return record(EnrollmentRecord, **fields)


def staff(**fields: Any) -> StaffRecord:
    return record(StaffRecord, **fields)


def patient(**fields: Any) -> PatientRecord:
    return record(PatientRecord, **fields)


def site(**fields: Any) -> SiteRecord:
    return record(SiteRecord, **fields)


def member(**fields: Any) -> tuple[CareTeamMemberRecord, Source]:
    return record(CareTeamMemberRecord, **fields), SRC


def team(members: list[tuple[CareTeamMemberRecord, Source]]) -> TeamRows:
    return TeamRows(members[0][0].team_id, tuple(members))


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    assert check_resource(resource) == []
    return resource


def codings_of(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept["coding"]]


def ref(rtype: str, system_suffix: str, key: str) -> dict[str, str]:
    return {"reference": f"{rtype}?identifier={NS}/sid/{system_suffix}|{key}"}


def labels(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in resource.get("meta", {}).get("security", [])]
