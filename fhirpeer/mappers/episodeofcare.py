"""EpisodeOfCare per program enrollment: the patient's six months (or however long) in the peer program."""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from ..records import EnrollmentRecord
from .common import MappedResource, Ref, conditional_reference, identifier, with_security

# Enrollment statuses in which the episode was (or is) running from start_date (R4 episode-of-care-status codes come
# from episodeofcare.yaml; these are the contract's input statuses).
_STARTED = frozenset({"active", "finished", "withdrawn"})
_ENDED = frozenset({"finished", "withdrawn"})


def _period(rec: EnrollmentRecord) -> dict[str, str]:
    period = {"start": rec.start_date.isoformat()}
    if rec.end_date is not None:
        period["end"] = rec.end_date.isoformat()
    return period


def _status_history(rec: EnrollmentRecord, m: Mappings) -> list[dict[str, Any]]:
    """Active from start_date (to end_date when it ended), then the closing status from end_date — the current
    status included, as R4's own EpisodeOfCare example lists it."""
    if rec.status not in _STARTED:
        return []
    start = rec.start_date.isoformat()
    active: dict[str, Any] = {"status": m.episodeofcare.status["active"], "period": {"start": start}}
    if rec.status not in _ENDED or rec.end_date is None:
        return [active]
    active["period"]["end"] = rec.end_date.isoformat()
    closing = {"status": m.episodeofcare.status[rec.status], "period": {"start": rec.end_date.isoformat()}}
    return [active, closing]


def _types(rec: EnrollmentRecord, m: Mappings) -> list[dict[str, Any]]:
    eoc = m.episodeofcare
    types: list[dict[str, Any]] = [{"coding": [c.as_fhir()]} for c in eoc.type_always]
    if rec.program is not None:
        program = eoc.programs[rec.program]
        local = {"system": eoc.program_system_local, "code": rec.program, "display": program.text}
        types.append({"coding": [*(c.as_fhir() for c in program.codings), local], "text": program.text})
    return types


def _end_reason(rec: EnrollmentRecord, m: Mappings) -> dict[str, Any]:
    eoc = m.episodeofcare
    assert rec.end_reason is not None
    text = eoc.end_reasons[rec.end_reason]
    coding = {"system": eoc.end_reason_system_local, "code": rec.end_reason, "display": text}
    return {"url": eoc.end_reason_extension_url, "valueCodeableConcept": {"coding": [coding], "text": text}}


def map_enrollment(rec: EnrollmentRecord, source: Source, m: Mappings, *, part2: bool = True) -> MappedResource:
    resource: dict[str, Any] = {"resourceType": "EpisodeOfCare"}
    if rec.end_reason is not None:
        resource["extension"] = [_end_reason(rec, m)]
    resource |= {
        "identifier": [identifier(m, ResourceType.EPISODE_OF_CARE, rec.enrollment_id)],
        "status": m.episodeofcare.status[rec.status],
    }
    history = _status_history(rec, m)
    if history:
        resource["statusHistory"] = history
    resource["type"] = _types(rec, m)
    resource["patient"] = conditional_reference(m, ResourceType.PATIENT, rec.patient_mrn)
    refs = [Ref(ResourceType.PATIENT, rec.patient_mrn, "patient_mrn")]
    if rec.site_id:
        resource["managingOrganization"] = conditional_reference(m, ResourceType.ORGANIZATION, rec.site_id)
        refs.append(Ref(ResourceType.ORGANIZATION, rec.site_id, "site_id"))
    resource["period"] = _period(rec)
    if rec.referral_handoff_id:
        resource["referralRequest"] = [conditional_reference(m, ResourceType.SERVICE_REQUEST, rec.referral_handoff_id)]
        refs.append(Ref(ResourceType.SERVICE_REQUEST, rec.referral_handoff_id, "referral_handoff_id"))
    if rec.peer_id:
        resource["careManager"] = conditional_reference(m, ResourceType.PRACTITIONER, rec.peer_id)
        refs.append(Ref(ResourceType.PRACTITIONER, rec.peer_id, "peer_id"))
    if rec.team_id:
        resource["team"] = [conditional_reference(m, ResourceType.CARE_TEAM, rec.team_id)]
        refs.append(Ref(ResourceType.CARE_TEAM, rec.team_id, "team_id"))
    labelled = with_security(m, "EpisodeOfCare", resource, part2)
    return MappedResource(ResourceType.EPISODE_OF_CARE, rec.enrollment_id, labelled, (source,), tuple(refs))
