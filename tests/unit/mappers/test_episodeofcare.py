"""An enrollment → its EpisodeOfCare (issue 16): status (withdrawn is cancelled), statusHistory from the dates,
period, type (episodeofcare-type da plus the program's local code), patient, managingOrganization, careManager,
team, referralRequest, the end reason as an extension, Part 2 labels; and the contacts that carry it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fhirpeer import contract
from fhirpeer.domain import ResourceType
from fhirpeer.mappers import Ref, map_encounter, map_enrollment
from tests.support.records import ACT_CODE, EPISODE_TYPE, NS, SRC, M, contact, enrollment, labels, valid

PROGRAM_SYSTEM = f"{NS}/CodeSystem/peer-program"
END_REASON_URL = f"{NS}/StructureDefinition/enrollment-end-reason"


def episode(**fields: Any) -> dict[str, Any]:
    return valid(map_enrollment(enrollment(**fields), SRC, M).resource)


@pytest.mark.parametrize(
    ("status", "fhir_status"),
    [("planned", "planned"), ("active", "active"), ("finished", "finished"), ("withdrawn", "cancelled"),
     ("entered_in_error", "entered-in-error")],
)  # fmt: skip
def test_status_maps_to_the_r4_code(status: str, fhir_status: str) -> None:
    assert episode(status=status)["status"] == fhir_status


def test_every_contract_status_end_reason_and_program_maps_and_validates() -> None:
    for status in contract.ENROLLMENT_STATUSES:
        for reason in contract.ENROLLMENT_END_REASONS:
            for program in contract.PROGRAMS:
                episode(status=status, end_reason=reason, program=program, end_date="2026-06-30")


def test_a_finished_enrollment_has_its_period_and_history() -> None:
    res = episode(status="finished", start_date="2026-01-05", end_date="2026-07-04")
    assert res["period"] == {"start": "2026-01-05", "end": "2026-07-04"}
    assert res["statusHistory"] == [
        {"status": "active", "period": {"start": "2026-01-05", "end": "2026-07-04"}},
        {"status": "finished", "period": {"start": "2026-07-04"}},
    ]


def test_an_active_enrollment_is_open_and_a_planned_one_has_no_history() -> None:
    active = episode(status="active")
    assert active["period"] == {"start": "2026-01-05"}
    assert active["statusHistory"] == [{"status": "active", "period": {"start": "2026-01-05"}}]
    assert "statusHistory" not in episode(status="planned")


def test_type_is_drug_and_alcohol_rehabilitation_then_the_program() -> None:
    res = episode(program="ed_peer_recovery")
    assert res["type"][0] == {
        "coding": [{"system": EPISODE_TYPE, "code": "da", "display": "Drug and alcohol rehabilitation"}]
    }
    assert res["type"][1]["coding"] == [
        {"system": PROGRAM_SYSTEM, "code": "ed_peer_recovery", "display": "Emergency department peer recovery"}
    ]
    assert len(episode()["type"]) == 1  # no program given: only the standard type


def test_references_point_at_patient_site_peer_team_and_handoff() -> None:
    item = map_enrollment(enrollment(site_id="S-1", peer_id="P-1", team_id="T-1", referral_handoff_id="H-1"), SRC, M)
    res = valid(item.resource)
    assert res["patient"] == {"reference": f"Patient?identifier={NS}/sid/patient-mrn|MRN-1"}
    assert res["managingOrganization"] == {"reference": f"Organization?identifier={NS}/sid/site-id|S-1"}
    assert res["careManager"] == {"reference": f"Practitioner?identifier={NS}/sid/staff-id|P-1"}
    assert res["team"] == [{"reference": f"CareTeam?identifier={NS}/sid/care-team|T-1"}]
    assert res["referralRequest"] == [{"reference": f"ServiceRequest?identifier={NS}/sid/handoff|H-1"}]
    assert set(item.refs) == {
        Ref(ResourceType.PATIENT, "MRN-1", "patient_mrn"),
        Ref(ResourceType.ORGANIZATION, "S-1", "site_id"),
        Ref(ResourceType.PRACTITIONER, "P-1", "peer_id"),
        Ref(ResourceType.CARE_TEAM, "T-1", "team_id"),
        Ref(ResourceType.SERVICE_REQUEST, "H-1", "referral_handoff_id"),
    }
    assert res["identifier"] == [{"system": f"{NS}/sid/enrollment", "value": "E-1"}]


def test_end_reason_is_an_extension_with_a_local_code_and_text() -> None:
    res = episode(status="withdrawn", end_date="2026-03-01", end_reason="lost_to_follow_up")
    [ext] = res["extension"]
    assert ext["url"] == END_REASON_URL
    assert ext["valueCodeableConcept"]["coding"][0]["code"] == "lost_to_follow_up"
    assert ext["valueCodeableConcept"]["text"] == "Lost to follow-up"


def test_part2_labels_unless_turned_off() -> None:
    assert (ACT_CODE, "42CFRPart2") in labels(episode())
    unlabelled = map_enrollment(enrollment(), SRC, M, part2=False).resource
    assert "meta" not in unlabelled


def test_end_date_before_start_date_is_refused() -> None:
    with pytest.raises(ValidationError):
        enrollment(start_date="2026-02-01", end_date="2026-01-31")


def test_a_contact_names_its_enrollment_and_must_find_it() -> None:
    rec = contact(enrollment_id="E-7")
    item = map_encounter(rec, SRC, M, episodes=("E-7",))
    assert item.resource["episodeOfCare"] == [{"reference": f"EpisodeOfCare?identifier={NS}/sid/enrollment|E-7"}]
    assert Ref(ResourceType.EPISODE_OF_CARE, "E-7", "enrollment_id", optional=False) in item.refs


def test_a_contact_in_an_enrollment_period_refers_to_it_but_does_not_depend_on_it() -> None:
    item = map_encounter(contact(), SRC, M, episodes=("E-1", "E-2"))
    assert [r["reference"].rsplit("|", 1)[1] for r in item.resource["episodeOfCare"]] == ["E-1", "E-2"]
    assert all(r.optional for r in item.refs if r.resource_type is ResourceType.EPISODE_OF_CARE)


def test_an_encounter_marked_entered_in_error_carries_no_episode() -> None:
    item = map_encounter(contact(status="entered_in_error"), SRC, M, episodes=("E-1",))
    assert "episodeOfCare" not in item.resource
