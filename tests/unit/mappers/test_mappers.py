"""Mappers: the contract's "What the server holds after a sync" for CareTeam, ServiceRequest and the rosters, Part 2
labels, and the whole program (contacts: test_contact.py).

Records are built through the real record models (with the shipped vocabulary), mapped with the shipped
mappings, and every emitted resource must pass `fhirpeer.checks.resource_checks.check_resource`.
"""

from __future__ import annotations

import copy
import csv
import itertools
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from fhirpeer import contract
from fhirpeer.checks.resource_checks import check_resource
from fhirpeer.domain import InputKind, Rejection, ResourceType, Skipped
from fhirpeer.mappers import (
    MappedResource,
    Ref,
    map_care_team,
    map_contact,
    map_handoff,
    map_patient,
    map_practitioner_role,
    map_site,
    map_staff,
    match_url,
)
from fhirpeer.pipeline import MappingOptions, mapped_items
from fhirpeer.settings import Settings
from tests.support.edge_cases import write_every_case
from tests.support.mapping import all_items, folder, kind_items
from tests.support.records import (
    ACT_CODE,
    CONFIDENTIALITY,
    DATA_ABSENT,
    GRAVITY,
    LOINC,
    MR,
    NPI,
    NS,
    NUCC,
    SNOMED,
    SRC,
    STANDARD_SYSTEMS,
    US_CORE_CATEGORY,
    M,
    codings_of,
    contact,
    handoff,
    labels,
    member,
    patient,
    ref,
    site,
    staff,
    team,
    valid,
)

RUN_DATE = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def enc(**fields: Any) -> dict[str, Any]:
    return map_contact(contact(**fields), SRC, M)[-1].resource


def sr(**fields: Any) -> dict[str, Any]:
    return map_handoff(handoff(**fields), SRC, M).resource


def care_team(members: list[Any], today: date = RUN_DATE, **kwargs: Any) -> dict[str, Any]:
    return map_care_team(team(members), M, today=today, **kwargs).resource


# --- CareTeam --------------------------------------------------------------------------------------------


def test_care_team_participants_roles_periods_and_status() -> None:
    members = [
        member(staff_id="P-1", role="peer", start_date="2026-01-02"),
        member(staff_id="D-1", role="pcp", start_date="2026-01-02", site_id="S-1"),
        member(staff_id="D-2", role="lcsw", start_date="2026-01-05", end_date="2026-03-31"),
        member(staff_id="P-9", role="peer_supervisor", start_date="2025-12-01"),
    ]
    mapped = map_care_team(team(members), M, today=RUN_DATE)
    resource = valid(mapped.resource)
    assert (mapped.resource_type, mapped.key) == ("CareTeam", "T-1")
    assert resource["identifier"] == [{"system": f"{NS}/sid/care-team", "value": "T-1"}]
    assert resource["subject"] == ref("Patient", "patient-mrn", "MRN-1")
    assert resource["status"] == "active"
    assert resource["period"] == {"start": "2025-12-01"}
    assert resource["managingOrganization"] == [ref("Organization", "site-id", "S-1")]
    # an episode-of-care team (the 6-month program), not longitudinal care coordination
    assert codings_of(resource["category"][0]) == [(LOINC, "LA27977-0")]
    by_member = {p["member"]["reference"].rsplit("|", 1)[1]: p for p in resource["participant"]}
    assert sorted(by_member) == ["D-1", "D-2", "P-1", "P-9"]
    for key, part in by_member.items():
        assert part["member"] == ref("Practitioner", "staff-id", key)
        (role,) = part["role"]
        assert role["text"]
    assert codings_of(by_member["P-1"]["role"][0]) == [
        (NUCC, "175T00000X"),
        (f"{NS}/CodeSystem/care-team-role", "peer"),
    ]
    # the PCP role is the Care Team Member Function code, never a hard-coded specialty
    assert codings_of(by_member["D-1"]["role"][0]) == [
        (SNOMED, "453231000124104"),
        (f"{NS}/CodeSystem/care-team-role", "pcp"),
    ]
    assert codings_of(by_member["P-9"]["role"][0]) == [(f"{NS}/CodeSystem/care-team-role", "peer_supervisor")]
    assert by_member["D-2"]["period"] == {"start": "2026-01-05", "end": "2026-03-31"}
    assert by_member["P-1"]["period"] == {"start": "2026-01-02"}
    assert mapped.refs[0] == Ref("Patient", "MRN-1", "patient_mrn")
    assert Ref("Organization", "S-1", "site_id") in mapped.refs


@pytest.mark.parametrize(
    ("role", "nucc", "snomed"),
    [
        ("peer", "175T00000X", None),  # no Care Team Member Function code for a peer specialist
        ("pcp", None, "453231000124104"),
        ("oversight_pcp", None, "453231000124104"),
        ("champion_pcp", None, None),  # a practice-level role: never the patient's primary care provider
        ("lcsw", "1041C0700X", "224598009"),
        ("psychiatrist", None, "80584001"),
        ("peer_supervisor", None, None),
        ("case_manager", None, "768832004"),
    ],
)
def test_care_team_role_codes(role: str, nucc: str | None, snomed: str | None) -> None:
    concept = valid(care_team([member(role=role)]))["participant"][0]["role"][0]
    pairs = codings_of(concept)
    assert [c for s, c in pairs if s == NUCC] == ([nucc] if nucc else [])
    assert [c for s, c in pairs if s == SNOMED] == ([snomed] if snomed else [])
    assert pairs[-1] == (f"{NS}/CodeSystem/care-team-role", role)
    assert concept["text"]


def test_champion_pcp_text_says_practice_level_role() -> None:
    concept = care_team([member(role="champion_pcp")])["participant"][0]["role"][0]
    assert codings_of(concept) == [(f"{NS}/CodeSystem/care-team-role", "champion_pcp")]
    assert "champion" in concept["text"].lower()


@pytest.mark.parametrize(
    ("ends", "today", "status"),
    [
        (["2026-01-31", "2026-02-28"], date(2026, 3, 1), "inactive"),  # every member has left
        (["2026-06-30", "2026-06-30"], date(2026, 3, 1), "active"),  # planned ends, still months away
        (["2026-01-31", "2026-06-30"], date(2026, 3, 1), "active"),  # one member still on the team
        (["2026-01-31", "2026-03-01"], date(2026, 3, 1), "active"),  # the last day is the run date
        (["2026-01-31", "2026-03-01"], date(2026, 3, 2), "inactive"),
        (["2026-06-30", "2026-06-30"], date(2026, 7, 1), "inactive"),  # the same team, after its end
    ],
)
def test_care_team_status_reflects_the_run_date(ends: list[str], today: date, status: str) -> None:
    members = [
        member(staff_id="P-1", start_date="2025-10-01", end_date=ends[0]),
        member(staff_id="D-1", role="pcp", start_date="2025-09-15", end_date=ends[1]),
    ]
    resource = valid(care_team(members, today=today))
    assert resource["status"] == status
    assert resource["period"] == {"start": "2025-09-15", "end": max(ends)}  # the planned or past end
    assert "managingOrganization" not in resource


def test_care_team_status_uses_the_run_date_of_the_options(tmp_path: Path) -> None:
    (tmp_path / "care_team.csv").write_text(
        "team_id,patient_mrn,staff_id,role,start_date,end_date\nT-1,MRN-1,P-1,peer,2026-01-02,2026-06-30\n",
        encoding="utf-8",
    )

    def status_on(day: date) -> str:
        (item,) = mapped_items(folder(tmp_path, M), InputKind.CARE_TEAM, M, MappingOptions(today=day))
        assert isinstance(item, MappedResource)
        return item.resource["status"]

    assert (status_on(date(2026, 6, 30)), status_on(date(2026, 7, 1))) == ("active", "inactive")


def test_one_care_team_per_team_id_with_a_participant_per_member_row(tmp_path: Path) -> None:
    (tmp_path / "care_team.csv").write_text(
        "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id\n"
        "T-1,MRN-1,P-1,peer,2026-01-02,,\n"
        "T-2,MRN-2,P-1,peer,2026-01-03,2026-02-01,S-2\n"
        "T-1,MRN-1,D-1,pcp,2026-01-02,,S-1\n"
        "T-1,MRN-1,P-1,peer,2025-06-01,2025-12-31,\n"  # an earlier assignment of the same member
        "T-2,MRN-2,D-1,pcp,2026-01-03,2026-02-01,\n",
        encoding="utf-8",
    )
    items = kind_items(tmp_path, M, InputKind.CARE_TEAM)
    assert all(isinstance(i, MappedResource) for i in items)
    teams = {i.key: i for i in items if isinstance(i, MappedResource)}
    assert list(teams) == ["T-1", "T-2"]
    t1, t2 = valid(teams["T-1"].resource), valid(teams["T-2"].resource)
    assert len(t1["participant"]) == 3
    assert len(t2["participant"]) == 2
    assert t1["status"] == "active" and t2["status"] == "inactive"
    assert t1["managingOrganization"] == [ref("Organization", "site-id", "S-1")]
    assert t2["managingOrganization"] == [ref("Organization", "site-id", "S-2")]
    assert [p["period"] for p in t1["participant"]] == [
        {"start": "2025-06-01", "end": "2025-12-31"},
        {"start": "2026-01-02"},
        {"start": "2026-01-02"},
    ]
    assert [s.line for s in teams["T-1"].sources] == [2, 4, 5]


# --- ServiceRequest --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("proposed", "draft"),
        ("active", "active"),
        ("completed", "completed"),
        ("declined", "revoked"),
        ("cancelled", "revoked"),
        ("entered_in_error", "entered-in-error"),
    ],
)
def test_service_request_status(status: str, expected: str) -> None:
    resource = valid(sr(status=status))
    assert resource["status"] == expected
    assert resource["intent"] == "order"


SNOMED_BY_KIND = {
    "ed_to_peer": "461481000124109",
    "aftercare_peer": "461481000124109",
    "mental_health": "306226009",
    "mutual_aid": "711281004",
    "housing": "710911006",
}  # sud_treatment's 1254709001 could not be verified: local code and text only
SOCIAL_SERVICE = (SNOMED, "410606002")
COUNSELLING = (SNOMED, "409063005")
SDOH = (US_CORE_CATEGORY, "sdoh")
CATEGORY_BY_KIND = {
    "ed_to_peer": [SOCIAL_SERVICE],
    "aftercare_peer": [SOCIAL_SERVICE],
    "mental_health": [COUNSELLING],
    "sud_treatment": [COUNSELLING],
    "mutual_aid": [SOCIAL_SERVICE],
    "housing": [SDOH, (GRAVITY, "housing-instability")],
    "transportation": [SDOH, (GRAVITY, "transportation-insecurity")],
    "legal": [SDOH],
    "employment": [SDOH, (GRAVITY, "employment-status")],
    "childcare": [SDOH],
    "eldercare": [SDOH],
    "home_health": [SOCIAL_SERVICE],
    "other": [SDOH],
}
US_CORE_SERVICE_REQUEST_CATEGORIES = {  # US Core ServiceRequest Category Codes 6.1-9.0 (incl. R4's value set)
    SDOH, (US_CORE_CATEGORY, "functional-status"), (US_CORE_CATEGORY, "disability-status"),
    (US_CORE_CATEGORY, "cognitive-status"), (SNOMED, "386053000"), SOCIAL_SERVICE, (SNOMED, "108252007"),
    (SNOMED, "363679005"), COUNSELLING, (SNOMED, "409073007"), (SNOMED, "387713003"),
}  # fmt: skip


@pytest.mark.parametrize("kind", contract.HANDOFF_KINDS)
def test_service_request_code_and_category_per_kind(kind: str) -> None:
    resource = valid(sr(kind=kind))
    code = resource["code"]
    pairs = codings_of(code)
    snomed = [c for s, c in pairs if s == SNOMED]
    assert snomed == ([SNOMED_BY_KIND[kind]] if kind in SNOMED_BY_KIND else [])
    assert pairs[-1] == (f"{NS}/CodeSystem/handoff-kind", kind)
    assert code["text"] == M.servicerequest.kinds[kind].text
    if not snomed:  # kinds with no standard code: the local code only, and code.text
        assert pairs == [(f"{NS}/CodeSystem/handoff-kind", kind)]
        assert code["text"]
    # one category entry per concept: the US Core category first, Gravity's where one fits, then patient referral
    categories = [codings_of(c) for c in resource["category"]]
    assert all(len(c) == 1 for c in categories)
    assert [c[0] for c in categories] == [*CATEGORY_BY_KIND[kind], (SNOMED, "3457005")]
    assert categories[0][0] in US_CORE_SERVICE_REQUEST_CATEGORIES


def test_service_request_references_dates_priority_and_note() -> None:
    note = 'Met in ED bay 4, "wants MOUD".\nCall back Tuesday.'
    resource = valid(
        sr(
            handoff_id="H-0009",
            patient_mrn="MRN-3",
            requester_id="D-20",
            to_staff_id="P-1",
            to_site_id="S-CRC",
            requested_at="2026-01-10T07:55:00-05:00",
            priority="urgent",
            via="warm_line",
            note=note,
        )
    )
    assert resource["identifier"] == [{"system": f"{NS}/sid/handoff", "value": "H-0009"}]
    assert resource["subject"] == ref("Patient", "patient-mrn", "MRN-3")
    assert resource["requester"] == ref("Practitioner", "staff-id", "D-20")
    assert resource["performer"] == [
        ref("Practitioner", "staff-id", "P-1"),
        ref("Organization", "site-id", "S-CRC"),
    ]
    assert resource["authoredOn"] == "2026-01-10T07:55:00-05:00"
    assert resource["priority"] == "urgent"
    assert resource["note"] == [{"text": note}]
    assert codings_of(resource["orderDetail"][0]) == [(f"{NS}/CodeSystem/handoff-via", "warm_line")]
    mapped = map_handoff(handoff(handoff_id="H-0009", requester_id="D-20", to_site_id="S-CRC"), SRC, M)
    assert [r.column for r in mapped.refs] == ["patient_mrn", "requester_id", "to_site_id"]


@pytest.mark.parametrize("priority", contract.HANDOFF_PRIORITIES)
def test_service_request_priority(priority: str) -> None:
    assert valid(sr(priority=priority))["priority"] == priority


def test_service_request_defaults() -> None:
    resource = valid(sr(kind="housing", requested_at="2026-01-10T07:55:00"))
    assert resource["priority"] == "routine"
    assert resource["authoredOn"] == "2026-01-10T07:55:00+00:00"
    for absent in ("requester", "performer", "note", "orderDetail", "performerType"):
        assert absent not in resource


def test_aftercare_handoff_carries_the_peer_specialist_performer_type() -> None:
    assert codings_of(valid(sr(kind="aftercare_peer"))["performerType"]) == [(NUCC, "175T00000X")]
    assert "performerType" not in sr(kind="ed_to_peer")


# --- rosters and identifiers -----------------------------------------------------------------------------


def test_identifier_systems_per_type_and_npi() -> None:
    assert valid(map_patient(patient(), SRC, M).resource)["identifier"] == [
        {"type": {"coding": [MR]}, "system": f"{NS}/sid/patient-mrn", "value": "MRN-1"}
    ]
    doctor = map_staff(staff(staff_id="D-1", npi="1245319599", discipline="pcp"), SRC, M).resource
    assert valid(doctor)["identifier"] == [
        {"system": f"{NS}/sid/staff-id", "value": "D-1"},
        {"system": NPI, "value": "1245319599"},
    ]
    assert valid(map_staff(staff(), SRC, M).resource)["identifier"] == [
        {"system": f"{NS}/sid/staff-id", "value": "P-1"}
    ]
    assert valid(map_site(site(), SRC, M).resource)["identifier"] == [{"system": f"{NS}/sid/site-id", "value": "S-1"}]
    assert enc()["identifier"][0]["system"] == f"{NS}/sid/peer-contact"
    assert care_team([member()])["identifier"][0]["system"] == f"{NS}/sid/care-team"
    assert sr()["identifier"][0]["system"] == f"{NS}/sid/handoff"
    # the discipline is a local qualification: a PCP is not hard-coded as Family Medicine
    assert codings_of(doctor["qualification"][0]["code"]) == [(f"{NS}/CodeSystem/staff-discipline", "pcp")]
    assert "207Q00000X" not in json.dumps(doctor)


def test_roster_resources() -> None:
    full = map_patient(
        patient(family_name="Nguyễn", given_name="Thị Lan", birth_date="1992-11-03", gender="female"), SRC, M
    ).resource
    assert valid(full)["name"] == [{"use": "official", "family": "Nguyễn", "given": ["Thị", "Lan"]}]
    assert (full["gender"], full["birthDate"]) == ("female", "1992-11-03")
    clinic = map_site(site(name="Clinic, Main", kind="transportation"), SRC, M).resource
    assert codings_of(valid(clinic)["type"][0]) == [(f"{NS}/CodeSystem/site-kind", "transportation")]


def test_patient_us_core_must_haves_when_the_export_leaves_them_blank() -> None:
    bare = valid(map_patient(patient(patient_mrn="MRN-2"), SRC, M).resource)
    assert bare["gender"] == "unknown"  # US Core Patient.gender 1..1
    assert bare["name"] == [{"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}]  # us-core-6
    assert "birthDate" not in bare
    given_only = valid(map_patient(patient(given_name="Alex"), SRC, M).resource)
    assert given_only["name"] == [{"use": "official", "given": ["Alex"]}]


def test_practitioner_without_a_family_name_carries_data_absent_reason() -> None:
    absent = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
    given_only = valid(map_staff(staff(given_name="Dana"), SRC, M).resource)
    assert given_only["name"] == [{"use": "official", "given": ["Dana"], "_family": absent}]
    nameless = valid(map_staff(staff(), SRC, M).resource)
    assert nameless["name"] == [{"_family": absent}]  # US Core Practitioner name 1..*, name.family 1..1


@pytest.mark.parametrize(
    ("discipline", "taxonomy", "code", "specialty"),
    [
        ("peer", None, [], "175T00000X"),  # the peer keeps NUCC Peer Specialist as specialty
        ("peer", "175T00000X", [], "175T00000X"),
        ("pcp", None, [(SNOMED, "453231000124104")], None),  # no hard-coded Family Medicine
        ("pcp", "207R00000X", [(SNOMED, "453231000124104")], "207R00000X"),  # an internist, from staff.csv
        ("lcsw", None, [(SNOMED, "224598009")], "1041C0700X"),
        ("psychiatrist", "2084P0802X", [(SNOMED, "80584001")], "2084P0802X"),
        ("ed_clinician", "207P00000X", [(SNOMED, "453121000124107")], "207P00000X"),
        (None, "363L00000X", None, "363L00000X"),
    ],
)
def test_practitioner_role_per_staff_member_with_a_site(
    discipline: str | None, taxonomy: str | None, code: list[Any] | None, specialty: str | None
) -> None:
    rec = staff(staff_id="D-7", discipline=discipline, taxonomy=taxonomy, site_id="S-PC")
    mapped = map_practitioner_role(rec, SRC, M)
    assert mapped is not None
    resource = valid(mapped.resource)
    assert (mapped.resource_type, mapped.key, mapped.sources) == ("PractitionerRole", "D-7", (SRC,))
    assert resource["identifier"] == [{"system": f"{NS}/sid/staff-id", "value": "D-7"}]
    assert resource["practitioner"] == ref("Practitioner", "staff-id", "D-7")
    assert resource["organization"] == ref("Organization", "site-id", "S-PC")
    assert resource["active"] is True
    if code is None:
        assert "code" not in resource
    else:
        assert codings_of(resource["code"][0]) == [*code, (f"{NS}/CodeSystem/staff-discipline", discipline)]
    if specialty is None:
        assert "specialty" not in resource
    else:
        assert codings_of(resource["specialty"][0]) == [(NUCC, specialty)]
    assert mapped.refs == (Ref("Practitioner", "D-7", "staff_id"), Ref("Organization", "S-PC", "site_id"))


def test_no_practitioner_role_without_a_site_and_taxonomy_is_checked() -> None:
    assert map_practitioner_role(staff(discipline="peer"), SRC, M) is None
    assert staff(taxonomy="207r00000x").taxonomy == "207R00000X"
    for bad in ("207R0000X", "family medicine", "207R00000Y"):
        with pytest.raises(ValueError, match="taxonomy"):
            staff(taxonomy=bad)


def test_match_url_and_conditional_reference_encode_the_key() -> None:
    assert match_url(M, "Encounter", "C-1") == f"Encounter?identifier={NS}/sid/peer-contact|C-1"
    assert match_url(M, "Patient", "MRN 1+2") == f"Patient?identifier={NS}/sid/patient-mrn|MRN%201%2B2"
    assert enc(patient_mrn="MRN 1+2")["subject"] == {
        "reference": f"Patient?identifier={NS}/sid/patient-mrn|MRN%201%2B2"
    }
    # but the identifier value is the source key, verbatim
    assert enc(contact_id="C 1+2")["identifier"][0]["value"] == "C 1+2"


# --- 42 CFR Part 2 labels --------------------------------------------------------------------------------

LABELLED = ("Patient", "Encounter", "Appointment", "CareTeam", "ServiceRequest", "Task", "EpisodeOfCare")


def test_part2_labels_on_what_reveals_sud_treatment_and_the_patients_fhirpeer_creates() -> None:
    labelled = [
        map_patient(patient(), SRC, M).resource,
        *(r.resource for r in map_contact(contact(), SRC, M)),  # the Appointment and the Encounter
        care_team([member()]),
        sr(),
    ]
    assert [r["resourceType"] for r in labelled] == [
        "Patient",
        "Appointment",
        "Encounter",
        "CareTeam",
        "ServiceRequest",
    ]
    for resource in labelled:
        found = labels(resource)
        assert (CONFIDENTIALITY, "R") in found, resource["resourceType"]
        assert (ACT_CODE, "42CFRPart2") in found
        assert [code for system, code in found if system == CONFIDENTIALITY] == ["R"]
    staff_and_sites = [
        map_staff(staff(), SRC, M).resource,
        map_site(site(), SRC, M).resource,
        map_practitioner_role(staff(site_id="S-1"), SRC, M).resource,  # type: ignore[union-attr]
    ]
    for resource in staff_and_sites:
        assert "meta" not in resource, resource["resourceType"]


def test_part2_labels_turned_off() -> None:
    assert "meta" not in map_patient(patient(), SRC, M, part2=False).resource
    assert all("meta" not in r.resource for r in map_contact(contact(), SRC, M, part2=False))
    assert "meta" not in care_team([member()], part2=False)
    assert "meta" not in map_handoff(handoff(), SRC, M, part2=False).resource


def test_part2_labels_turned_off_by_settings(tmp_path: Path) -> None:
    write_every_case(tmp_path)
    for part2 in (True, False):
        for item in all_items(tmp_path, M, Settings(part2_labels=part2)):
            if isinstance(item, MappedResource):
                labelled = item.resource_type in LABELLED
                assert ("meta" in item.resource) == (part2 and labelled), (part2, item.resource_type)


# --- the whole program: validity, systems, determinism ---------------------------------------------------


def _systems(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["system"]] if isinstance(value.get("system"), str) else []
        return found + [s for v in value.values() for s in _systems(v)]
    if isinstance(value, list):
        return [s for v in value for s in _systems(v)]
    return []


def test_every_emitted_resource_is_valid_r4_and_uses_standard_or_namespaced_systems(tmp_path: Path) -> None:
    write_every_case(tmp_path)
    items = all_items(tmp_path, M, Settings(send_text_contacts=True, site_timezone="America/New_York"))
    assert not [i for i in items if isinstance(i, Rejection | Skipped)]
    resources = [i.resource for i in items if isinstance(i, MappedResource)]
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
        assert check_resource(resource) == [], resource["identifier"]
        for system in _systems(resource):
            assert system in STANDARD_SYSTEMS or system.startswith(f"{NS}/"), system
    n_contact_rows = (3 + 1 + len(contract.CONTACT_SETTINGS)) * len(contract.CONTACT_STATUSES)
    n_happened = n_contact_rows * len(contract.CONTACT_STATUSES_OF_ENCOUNTERS) // len(contract.CONTACT_STATUSES)
    assert counts == {
        "Organization": len(contract.SITE_KINDS),
        "Practitioner": len(contract.DISCIPLINES) + 2,
        "PractitionerRole": len(contract.DISCIPLINES) + 1,  # P-1 has no site
        "Patient": len(contract.GENDERS) + 1,
        "Appointment": n_contact_rows,  # every contact: booked, cancelled, noshow, or an update of one sent before
        "Encounter": n_happened,
        "CareTeam": 2,
        "ServiceRequest": len(contract.HANDOFF_KINDS) * len(contract.HANDOFF_STATUSES),
        "Task": len(contract.HANDOFF_KINDS) * len(contract.HANDOFF_STATUSES),  # a referral Task per handoff
        "EpisodeOfCare": len(contract.ENROLLMENT_STATUSES) * 3,
    }
    # EMER exactly for in-person contacts in the ED: by setting, or with a blank setting at the ED site (S-1)
    with (tmp_path / "peer_contacts.csv").open(encoding="utf-8") as rows:
        expected = {
            row["contact_id"]: row["mode"] == "in_person"
            and (row["setting"] == "emergency_department" or (row["setting"] == "" and row["site_id"] == "S-1"))
            for row in csv.DictReader(rows)
            if row["status"] in contract.CONTACT_STATUSES_OF_ENCOUNTERS
        }
    encounters = {r["identifier"][0]["value"]: r for r in resources if r["resourceType"] == "Encounter"}
    assert {k: r["class"]["code"] == "EMER" for k, r in encounters.items()} == expected
    assert any(expected.values()) and not all(expected.values())
    assert any("basedOn" in r for r in encounters.values())


def test_a_record_yields_its_resources_in_write_order(tmp_path: Path) -> None:
    write_every_case(tmp_path)
    order = list(ResourceType)
    for kind in (InputKind.STAFF, InputKind.CONTACTS):
        items = [i for i in kind_items(tmp_path, M, kind) if isinstance(i, MappedResource)]
        for key, group in itertools.groupby(items, key=lambda i: (i.key, i.sources)):
            types = [order.index(i.resource_type) for i in group]
            assert types == sorted(types) and len(set(types)) == len(types), key
        assert {i.resource_type for i in items} == set(kind.resource_types)


def test_mapping_is_deterministic(tmp_path: Path) -> None:
    write_every_case(tmp_path)
    settings = Settings(send_text_contacts=True)
    first = [json.dumps(i.resource) for i in all_items(tmp_path, M, settings) if isinstance(i, MappedResource)]
    second = [json.dumps(i.resource) for i in all_items(tmp_path, M, settings) if isinstance(i, MappedResource)]
    assert first == second
    again = json.dumps(enc(duration_min="5"))
    assert again == json.dumps(enc(duration_min="5"))


def test_mapping_does_not_share_mutable_state_between_resources() -> None:
    a = enc()
    a["meta"]["security"].clear()
    a["type"][0]["coding"].clear()
    a["participant"][0]["period"]["start"] = "changed"
    b = enc()
    assert (ACT_CODE, "42CFRPart2") in labels(b)
    assert b["type"][0]["coding"]
    assert b["participant"][0]["period"] == b["period"]


# --- the binding checker ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "path", "value", "problem"),
    [
        (enc, ("status",), "done", "Encounter.status: code not in the required R4 value set"),
        (enc, ("class", "system"), "http://example.org/class", "Encounter.class: system must be v3-ActCode"),
        (enc, ("type",), [], "Encounter.type: required (US Core min 1)"),
        (sr, ("intent",), "referral", "ServiceRequest.intent: code not in the required R4 value set"),
        (sr, ("status",), "sent", "ServiceRequest.status: code not in the required R4 value set"),
        (sr, ("priority",), "whenever", "ServiceRequest.priority: code not in the required R4 value set"),
        (
            lambda: care_team([member()]),
            ("status",),
            "open",
            "CareTeam.status: code not in the required R4 value set",
        ),
        (
            lambda: map_contact(contact(status="no_show"), SRC, M)[0].resource,
            ("status",),
            "no-show",
            "Appointment.status: code not in the required R4 value set",
        ),
    ],
)
def test_binding_checker_catches_bad_codes(build: Any, path: tuple[str, ...], value: Any, problem: str) -> None:
    resource = copy.deepcopy(build())
    node = resource
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert problem in check_resource(resource)


def test_binding_checker_catches_structure_and_care_team_role() -> None:
    resource = care_team([member()])
    del resource["participant"][0]["role"]
    assert "CareTeam.participant[0].role: required (US Core min 1)" in check_resource(resource)
    bad_shape = enc()
    bad_shape["class"] = [bad_shape["class"]]  # the R5 shape
    assert check_resource(bad_shape)
    assert check_resource({"resourceType": "Observation"}) == ["resourceType: Observation is not one fhirpeer emits"]
    assert "Patient.gender: code not in the required R4 value set" in check_resource(
        {"resourceType": "Patient", "gender": "F"}
    )


def test_binding_checker_catches_appointment_invariants() -> None:
    booked = map_contact(contact(status="scheduled"), SRC, M)[0].resource
    no_end = {k: v for k, v in booked.items() if k != "end"}
    assert "Appointment: start and end go together (R4 app-2)" in check_resource(no_end)
    untimed = {k: v for k, v in booked.items() if k not in ("start", "end")}
    assert "Appointment: start and end required unless proposed, cancelled or waitlist (R4 app-3)" in check_resource(
        untimed
    )
    assert check_resource({**untimed, "status": "cancelled"}) == []
    bad_participant = copy.deepcopy(booked)
    bad_participant["participant"][1]["status"] = "confirmed"
    assert "Appointment.participant[1].status: code not in the required R4 value set" in check_resource(bad_participant)
