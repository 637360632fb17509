"""CareTeam per team_id, one participant per member row."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..domain import ResourceType
from ..mapping_files import Mappings
from ..records import TeamRows
from .common import MappedResource, Ref, concept, conditional_reference, identifier, with_security


def map_care_team(team: TeamRows, m: Mappings, *, today: date, part2: bool = True) -> MappedResource:
    """Map all member rows of one team (same team_id and patient) to one CareTeam, its status as of `today` (the
    run date: a mapper never reads the clock)."""
    ct = m.careteam
    members = team.members
    first = members[0][0]
    ordered = sorted(members, key=lambda item: (item[0].start_date, item[0].staff_id, item[0].role))
    participants: list[dict[str, Any]] = []
    refs: list[Ref] = [Ref(ResourceType.PATIENT, first.patient_mrn, "patient_mrn")]
    for rec, _ in ordered:
        period = {"start": rec.start_date.isoformat()}
        if rec.end_date:
            period["end"] = rec.end_date.isoformat()
        participants.append(
            {
                "role": [concept(ct.roles[rec.role], ct.role_system_local, rec.role)],
                "member": conditional_reference(m, "Practitioner", rec.staff_id),
                "period": period,
            }
        )
        refs.append(Ref(ResourceType.PRACTITIONER, rec.staff_id, "staff_id"))
    # a member whose end_date is the run date is still on the team that day (a date Period.end includes it)
    is_active = any(rec.end_date is None or rec.end_date >= today for rec, _ in members)
    starts = [rec.start_date for rec, _ in members]
    ends = [rec.end_date for rec, _ in members if rec.end_date]
    period = {"start": min(starts).isoformat()}
    if len(ends) == len(members):  # every assignment has an end, planned or past
        period["end"] = max(ends).isoformat()
    resource: dict[str, Any] = {
        "resourceType": "CareTeam",
        "identifier": [identifier(m, "CareTeam", first.team_id)],
        "status": ct.status_when_open if is_active else ct.status_when_closed,
        "category": [{"coding": [c.as_fhir() for c in ct.category]}],
        "name": "Peer recovery care team",
        "subject": conditional_reference(m, "Patient", first.patient_mrn),
        "period": period,
        "participant": participants,
    }
    site = next((rec.site_id for rec, _ in ordered if rec.site_id), None)
    if site:
        resource["managingOrganization"] = [conditional_reference(m, "Organization", site)]
        refs.append(Ref(ResourceType.ORGANIZATION, site, "site_id"))
    sources = tuple(src for _, src in members)
    unique_refs = tuple(dict.fromkeys(refs))
    return MappedResource(
        ResourceType.CARE_TEAM, first.team_id, with_security(m, "CareTeam", resource, part2), sources, unique_refs
    )
