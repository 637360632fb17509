"""Mappers: every rule of the contract's "What the server holds after a sync" section.

Records are built through the real record models (with the shipped vocabulary), mapped with the shipped
mappings, and every emitted resource must pass `fhirpeer.validation.check_resource`.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fhirpeer import contract
from fhirpeer.checks.resource_checks import check_resource
from fhirpeer.domain import InputKind, Rejection, Skipped, Source
from fhirpeer.mappers import (
    MappedResource,
    Ref,
    map_care_team,
    map_contact,
    map_handoff,
    map_patient,
    map_site,
    map_staff,
    match_url,
)
from fhirpeer.mappers.encounter import is_sent
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import (
    CareTeamMemberRecord,
    ContactRecord,
    HandoffRecord,
    PatientRecord,
    SiteRecord,
    StaffRecord,
    TeamRows,
    Vocabulary,
)
from fhirpeer.settings import Settings
from tests.support.mapping import all_items, kind_items

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
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
MR = {"system": V2_0203, "code": "MR", "display": "Medical record number"}
STANDARD_SYSTEMS = {SNOMED, NUCC, LOINC, UCUM, ACT_CODE, CONFIDENTIALITY, PARTICIPATION, NPI, ORG_TYPE, V2_0203}


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def team(members: list[tuple[CareTeamMemberRecord, Source]]) -> TeamRows:
    return TeamRows(members[0][0].team_id, tuple(members))


def vocab(tz: str = "UTC") -> Vocabulary:
    return M.vocabulary(ZoneInfo(tz))


def contact(tz: str = "UTC", **fields: Any) -> ContactRecord:
    data = {
        "contact_id": "C-1",
        "patient_mrn": "MRN-1",
        "peer_id": "P-1",
        "start": "2026-01-05T10:00:00-05:00",
        "mode": "in_person",
        "status": "completed",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return ContactRecord.model_validate(data, context={"vocab": vocab(tz)})


def handoff(tz: str = "UTC", **fields: Any) -> HandoffRecord:
    data = {
        "handoff_id": "H-1",
        "patient_mrn": "MRN-1",
        "kind": "ed_to_peer",
        "requested_at": "2026-01-05T10:00:00-05:00",
        "status": "active",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return HandoffRecord.model_validate(data, context={"vocab": vocab(tz)})


def member(**fields: Any) -> tuple[CareTeamMemberRecord, Source]:
    data = {
        "team_id": "T-1",
        "patient_mrn": "MRN-1",
        "staff_id": "P-1",
        "role": "peer",
        "start_date": "2026-01-02",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return CareTeamMemberRecord.model_validate(data, context={"vocab": vocab()}), SRC


def enc(**fields: Any) -> dict[str, Any]:
    return map_contact(contact(**fields), SRC, M).resource


def sr(**fields: Any) -> dict[str, Any]:
    return map_handoff(handoff(**fields), SRC, M).resource


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    assert check_resource(resource) == []
    return resource


def codings_of(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept["coding"]]


def ref(rtype: str, system_suffix: str, key: str) -> dict[str, str]:
    return {"reference": f"{rtype}?identifier={NS}/sid/{system_suffix}|{key}"}


# --- Encounter -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", "finished"),
        ("scheduled", "planned"),
        ("cancelled", "cancelled"),
        ("no_show", "cancelled"),
        ("entered_in_error", "entered-in-error"),
    ],
)
def test_encounter_status(status: str, expected: str) -> None:
    assert valid(enc(status=status))["status"] == expected


@pytest.mark.parametrize(
    ("mode", "setting", "code"),
    [
        ("telephone", None, "VR"),
        ("video", None, "VR"),
        ("in_person", None, "AMB"),
        ("in_person", "clinic", "AMB"),
        ("in_person", "community", "FLD"),
        ("in_person", "home", "HH"),
        ("in_person", "hospital", "IMP"),
    ],
)
def test_encounter_class(mode: str, setting: str | None, code: str) -> None:
    resource = valid(enc(mode=mode, setting=setting))
    assert resource["class"]["system"] == ACT_CODE
    assert resource["class"]["code"] == code
    assert resource["class"]["display"]


@pytest.mark.parametrize(
    ("mode", "setting"),
    [
        ("telephone", None),
        ("video", None),
        ("text", None),
        *(("in_person", s) for s in (None, *contract.CONTACT_SETTINGS)),
    ],
)
def test_encounter_type_has_snomed_and_the_local_peer_support_coding(mode: str, setting: str | None) -> None:
    resource = valid(enc(mode=mode, setting=setting))
    (concept,) = resource["type"]
    pairs = codings_of(concept)
    assert [p for p in pairs if p[0] == SNOMED], pairs
    assert pairs[-1] == (f"{NS}/CodeSystem/peer-contact-type", "peer-support")
    assert concept["text"] == "Peer recovery support contact"
    expected_snomed = {"telephone": "185317003", "video": "719410009"}.get(mode, "308335008")
    assert pairs[0] == (SNOMED, expected_snomed)
    assert ((SNOMED, "439708006") in pairs) == (setting == "home")  # Home visit


def test_encounter_identifier_subject_participant() -> None:
    resource = valid(enc(contact_id="C-0042", patient_mrn="MRN-7", peer_id="P-3"))
    assert resource["resourceType"] == "Encounter"
    assert resource["identifier"] == [{"system": f"{NS}/sid/peer-contact", "value": "C-0042"}]
    assert resource["subject"] == ref("Patient", "patient-mrn", "MRN-7")
    (participant,) = resource["participant"]
    assert participant["type"] == [
        {"coding": [{"system": PARTICIPATION, "code": "PPRF", "display": "primary performer"}]}
    ]
    assert participant["individual"] == ref("Practitioner", "staff-id", "P-3")


def test_encounter_period_and_length_from_duration() -> None:
    resource = valid(enc(start="2026-01-05T23:50:00-05:00", duration_min="25"))
    assert resource["period"] == {"start": "2026-01-05T23:50:00-05:00", "end": "2026-01-06T00:15:00-05:00"}
    assert resource["length"] == {"value": 25, "unit": "min", "system": UCUM, "code": "min"}


def test_encounter_without_duration_has_start_only_and_no_length() -> None:
    resource = valid(enc())
    assert resource["period"] == {"start": "2026-01-05T10:00:00-05:00"}
    assert "length" not in resource


def test_encounter_zero_minutes() -> None:
    resource = valid(enc(duration_min="0"))
    assert resource["period"]["end"] == resource["period"]["start"]
    assert resource["length"]["value"] == 0


def test_timestamp_without_offset_takes_the_site_time_zone() -> None:
    rec = contact(tz="America/Chicago", start="2026-07-01T09:30:00", duration_min="30")
    resource = map_contact(rec, SRC, M).resource
    assert resource["period"] == {"start": "2026-07-01T09:30:00-05:00", "end": "2026-07-01T10:00:00-05:00"}
    winter = map_contact(contact(tz="America/Chicago", start="2026-01-05T09:30:00"), SRC, M).resource
    assert winter["period"]["start"] == "2026-01-05T09:30:00-06:00"
    utc = map_contact(contact(start="2026-01-05T09:30:00"), SRC, M).resource
    assert utc["period"]["start"] == "2026-01-05T09:30:00+00:00"
    # an explicit offset is kept, whatever the site zone
    explicit = map_contact(contact(tz="America/Chicago", start="2026-01-05T09:30:00+01:00"), SRC, M).resource
    assert explicit["period"]["start"] == "2026-01-05T09:30:00+01:00"


def test_period_end_across_a_daylight_saving_change_is_the_real_duration_later() -> None:
    # 01:30 EST (06:30Z) + 90 min = 08:00Z = 04:00 EDT (wall-clock arithmetic would say 03:00 EDT = 07:00Z)
    resource = map_contact(contact(tz="America/New_York", start="2026-03-08T01:30:00", duration_min="90"), SRC, M)
    assert resource.resource["period"] == {
        "start": "2026-03-08T01:30:00-05:00",
        "end": "2026-03-08T04:00:00-04:00",
    }
    assert resource.resource["length"]["value"] == 90


def test_service_provider_only_when_site_id() -> None:
    assert "serviceProvider" not in valid(enc())
    with_site = valid(enc(site_id="S-9"))
    assert with_site["serviceProvider"] == ref("Organization", "site-id", "S-9")


def test_encounter_refs_name_the_input_columns() -> None:
    mapped = map_contact(contact(site_id="S-9"), SRC, M)
    assert mapped.refs == (
        Ref("Patient", "MRN-1", "patient_mrn"),
        Ref("Practitioner", "P-1", "peer_id"),
        Ref("Organization", "S-9", "site_id"),
    )
    assert (mapped.resource_type, mapped.key, mapped.sources) == ("Encounter", "C-1", (SRC,))


def test_purposes_become_local_reason_codes_in_order() -> None:
    resource = valid(enc(purposes="crisis_support;engagement;crisis_support"))
    assert [codings_of(c) for c in resource["reasonCode"]] == [
        [(f"{NS}/CodeSystem/peer-contact-purpose", "crisis_support")],
        [(f"{NS}/CodeSystem/peer-contact-purpose", "engagement")],
    ]
    assert [c["text"] for c in resource["reasonCode"]] == ["Crisis support", "Engagement"]
    assert "reasonCode" not in enc()


def test_text_contacts_are_not_sent_unless_configured(tmp_path: Path) -> None:
    text = contact(mode="text")
    assert not is_sent(text, M, send_text_contacts=False)
    assert is_sent(text, M, send_text_contacts=True)
    assert all(is_sent(contact(mode=m), M, False) for m in ("in_person", "telephone", "video"))

    (tmp_path / "peer_contacts.csv").write_text(
        "contact_id,patient_mrn,peer_id,start,mode,status\n"
        "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,text,completed\n"
        "C-2,MRN-1,P-1,2026-01-05T11:00:00Z,telephone,completed\n",
        encoding="utf-8",
    )
    default = kind_items(tmp_path, M, InputKind.CONTACTS)
    assert isinstance(default[0], Skipped)
    assert (default[0].resource_type, default[0].key) == ("Encounter", "C-1")
    assert isinstance(default[1], MappedResource)
    configured = kind_items(tmp_path, M, InputKind.CONTACTS, Settings(send_text_contacts=True))
    assert all(isinstance(i, MappedResource) for i in configured)
    sent = valid(configured[0].resource)
    assert sent["class"]["code"] == "VR"
    assert codings_of(sent["type"][0])[0] == (SNOMED, "308335008")


# --- CareTeam --------------------------------------------------------------------------------------------


def test_care_team_participants_roles_periods_and_status() -> None:
    members = [
        member(staff_id="P-1", role="peer", start_date="2026-01-02"),
        member(staff_id="D-1", role="pcp", start_date="2026-01-02", site_id="S-1"),
        member(staff_id="D-2", role="lcsw", start_date="2026-01-05", end_date="2026-03-31"),
        member(staff_id="P-9", role="peer_supervisor", start_date="2025-12-01"),
    ]
    mapped = map_care_team(team(members), M)
    resource = valid(mapped.resource)
    assert (mapped.resource_type, mapped.key) == ("CareTeam", "T-1")
    assert resource["identifier"] == [{"system": f"{NS}/sid/care-team", "value": "T-1"}]
    assert resource["subject"] == ref("Patient", "patient-mrn", "MRN-1")
    assert resource["status"] == "active"
    assert resource["period"] == {"start": "2025-12-01"}
    assert resource["managingOrganization"] == [ref("Organization", "site-id", "S-1")]
    assert codings_of(resource["category"][0]) == [(LOINC, "LA28865-6")]
    by_member = {p["member"]["reference"].rsplit("|", 1)[1]: p for p in resource["participant"]}
    assert sorted(by_member) == ["D-1", "D-2", "P-1", "P-9"]
    for key, part in by_member.items():
        assert part["member"] == ref("Practitioner", "staff-id", key)
        (role,) = part["role"]
        assert role["text"]
    peer_role = codings_of(by_member["P-1"]["role"][0])
    assert (NUCC, "175T00000X") in peer_role
    assert peer_role[-1] == (f"{NS}/CodeSystem/care-team-role", "peer")
    pcp_role = codings_of(by_member["D-1"]["role"][0])
    assert (NUCC, "207Q00000X") in pcp_role and (SNOMED, "453231000124104") in pcp_role
    lcsw_role = codings_of(by_member["D-2"]["role"][0])
    assert (NUCC, "1041C0700X") in lcsw_role and (SNOMED, "224598009") in lcsw_role
    assert codings_of(by_member["P-9"]["role"][0]) == [(f"{NS}/CodeSystem/care-team-role", "peer_supervisor")]
    assert by_member["D-2"]["period"] == {"start": "2026-01-05", "end": "2026-03-31"}
    assert by_member["P-1"]["period"] == {"start": "2026-01-02"}
    assert mapped.refs[0] == Ref("Patient", "MRN-1", "patient_mrn")
    assert Ref("Organization", "S-1", "site_id") in mapped.refs


@pytest.mark.parametrize(
    ("role", "nucc", "snomed"),
    [
        ("peer", "175T00000X", None),
        ("pcp", "207Q00000X", "453231000124104"),
        ("oversight_pcp", None, "453231000124104"),
        ("champion_pcp", None, "453231000124104"),
        ("lcsw", "1041C0700X", "224598009"),
        ("psychiatrist", "2084P0802X", "80584001"),
        ("peer_supervisor", None, None),
        ("case_manager", None, "768832004"),
    ],
)
def test_care_team_role_codes(role: str, nucc: str | None, snomed: str | None) -> None:
    resource = valid(map_care_team(team([member(role=role)]), M).resource)
    pairs = codings_of(resource["participant"][0]["role"][0])
    assert [c for s, c in pairs if s == NUCC] == ([nucc] if nucc else [])
    assert [c for s, c in pairs if s == SNOMED] == ([snomed] if snomed else [])
    assert (f"{NS}/CodeSystem/care-team-role", role) in pairs


def test_care_team_is_inactive_when_every_member_has_ended() -> None:
    members = [
        member(staff_id="P-1", start_date="2025-10-01", end_date="2026-01-31"),
        member(staff_id="D-1", role="pcp", start_date="2025-09-15", end_date="2026-02-28"),
    ]
    resource = valid(map_care_team(team(members), M).resource)
    assert resource["status"] == "inactive"
    assert resource["period"] == {"start": "2025-09-15", "end": "2026-02-28"}
    assert "managingOrganization" not in resource


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
    "sud_treatment": "1254709001",
    "mutual_aid": "711281004",
    "housing": "710911006",
}


@pytest.mark.parametrize("kind", contract.HANDOFF_KINDS)
def test_service_request_code_per_kind(kind: str) -> None:
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
    assert codings_of(resource["category"][0]) == [(SNOMED, "3457005")]


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
    v = {"vocab": vocab()}
    patient = map_patient(PatientRecord.model_validate({"patient_mrn": "MRN-1"}, context=v), SRC, M).resource
    staff = map_staff(
        StaffRecord.model_validate({"staff_id": "D-1", "npi": "1245319599", "discipline": "pcp"}, context=v),
        SRC,
        M,
    ).resource
    peer = map_staff(StaffRecord.model_validate({"staff_id": "P-1"}, context=v), SRC, M).resource
    site = map_site(SiteRecord.model_validate({"site_id": "S-1", "name": "Clinic"}, context=v), SRC, M).resource
    assert valid(patient)["identifier"] == [
        {"type": {"coding": [MR]}, "system": f"{NS}/sid/patient-mrn", "value": "MRN-1"}
    ]
    assert valid(staff)["identifier"] == [
        {"system": f"{NS}/sid/staff-id", "value": "D-1"},
        {"system": NPI, "value": "1245319599"},
    ]
    assert valid(peer)["identifier"] == [{"system": f"{NS}/sid/staff-id", "value": "P-1"}]
    assert valid(site)["identifier"] == [{"system": f"{NS}/sid/site-id", "value": "S-1"}]
    assert enc()["identifier"][0]["system"] == f"{NS}/sid/peer-contact"
    assert map_care_team(team([member()]), M).resource["identifier"][0]["system"] == f"{NS}/sid/care-team"
    assert sr()["identifier"][0]["system"] == f"{NS}/sid/handoff"
    assert codings_of(staff["qualification"][0]["code"])[0] == (NUCC, "207Q00000X")


def test_roster_resources() -> None:
    v = {"vocab": vocab()}
    patient = map_patient(
        PatientRecord.model_validate(
            {
                "patient_mrn": "MRN-1",
                "family_name": "Nguyễn",
                "given_name": "Thị Lan",
                "birth_date": "1992-11-03",
                "gender": "female",
            },
            context=v,
        ),
        SRC,
        M,
    ).resource
    assert valid(patient)["name"] == [{"use": "official", "family": "Nguyễn", "given": ["Thị", "Lan"]}]
    assert (patient["gender"], patient["birthDate"]) == ("female", "1992-11-03")
    bare = map_patient(PatientRecord.model_validate({"patient_mrn": "MRN-2"}, context=v), SRC, M).resource
    assert set(valid(bare)) == {"resourceType", "identifier"}
    site = map_site(
        SiteRecord.model_validate({"site_id": "S-1", "name": "Clinic, Main", "kind": "transportation"}, context=v),
        SRC,
        M,
    ).resource
    assert codings_of(valid(site)["type"][0]) == [(f"{NS}/CodeSystem/site-kind", "transportation")]


def test_match_url_and_conditional_reference_encode_the_key() -> None:
    assert match_url(M, "Encounter", "C-1") == f"Encounter?identifier={NS}/sid/peer-contact|C-1"
    assert match_url(M, "Patient", "MRN 1+2") == f"Patient?identifier={NS}/sid/patient-mrn|MRN%201%2B2"
    assert enc(patient_mrn="MRN 1+2")["subject"] == {
        "reference": f"Patient?identifier={NS}/sid/patient-mrn|MRN%201%2B2"
    }
    # but the identifier value is the source key, verbatim
    assert enc(contact_id="C 1+2")["identifier"][0]["value"] == "C 1+2"


# --- 42 CFR Part 2 labels --------------------------------------------------------------------------------


def _labels(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in resource.get("meta", {}).get("security", [])]


def test_part2_labels_on_encounter_careteam_servicerequest_and_not_on_rosters() -> None:
    v = {"vocab": vocab()}
    labelled = [enc(), map_care_team(team([member()]), M).resource, sr()]
    for resource in labelled:
        labels = _labels(resource)
        assert (CONFIDENTIALITY, "R") in labels, resource["resourceType"]
        assert (ACT_CODE, "42CFRPart2") in labels
        assert [code for system, code in labels if system == CONFIDENTIALITY] == ["R"]
    rosters = [
        map_patient(PatientRecord.model_validate({"patient_mrn": "MRN-1"}, context=v), SRC, M).resource,
        map_staff(StaffRecord.model_validate({"staff_id": "P-1"}, context=v), SRC, M).resource,
        map_site(SiteRecord.model_validate({"site_id": "S-1", "name": "X"}, context=v), SRC, M).resource,
    ]
    for resource in rosters:
        assert "meta" not in resource, resource["resourceType"]


def test_part2_labels_turned_off() -> None:
    assert "meta" not in map_contact(contact(), SRC, M, part2=False).resource
    assert "meta" not in map_care_team(team([member()]), M, part2=False).resource
    assert "meta" not in map_handoff(handoff(), SRC, M, part2=False).resource


def test_part2_labels_turned_off_by_settings(tmp_path: Path) -> None:
    _write_program(tmp_path)
    for part2 in (True, False):
        for item in all_items(tmp_path, M, Settings(part2_labels=part2)):
            if isinstance(item, MappedResource):
                labelled = item.resource_type in ("Encounter", "CareTeam", "ServiceRequest")
                assert ("meta" in item.resource) == (part2 and labelled), (part2, item.resource_type)


# --- the whole program: validity, systems, determinism ---------------------------------------------------


def _write_program(folder: Path) -> None:
    """Every mode × setting × status, every role, every kind × status, every priority and via."""
    (folder / "sites.csv").write_text(
        "site_id,name,kind\n" + "".join(f"S-{i},Site {i},{k}\n" for i, k in enumerate(contract.SITE_KINDS)),
        encoding="utf-8",
    )
    (folder / "staff.csv").write_text(
        "staff_id,npi,family_name,given_name,discipline,site_id\n"
        + "".join(f"D-{i},{1000000000 + i},Fam{i},Giv {i},{d},S-0\n" for i, d in enumerate(contract.DISCIPLINES))
        + "P-1,,Núñez,José,peer,\n",
        encoding="utf-8",
    )
    (folder / "patients.csv").write_text(
        "patient_mrn,family_name,given_name,birth_date,gender\n"
        + "".join(f"MRN-{i},O'Brien,Zoë,1980-01-0{i + 1},{g}\n" for i, g in enumerate(contract.GENDERS))
        + "MRN-9,,,,\n",
        encoding="utf-8",
    )
    rows = []
    settings = [None, *contract.CONTACT_SETTINGS]
    combos = [(m, s) for m in contract.CONTACT_MODES for s in (settings if m == "in_person" else [None])]
    for n, ((mode, setting), status) in enumerate(itertools.product(combos, contract.CONTACT_STATUSES)):
        duration = "" if n % 3 == 0 else str(n)
        purposes = ";".join(contract.CONTACT_PURPOSES[: n % 4])
        site = f"S-{n % 3}" if n % 2 else ""
        rows.append(
            f"C-{n},MRN-{n % 4},P-1,2026-01-05T10:{n % 60:02d}:00,{mode},{status},{duration},{setting or ''},"
            f"{site},{purposes}\n"
        )
    (folder / "peer_contacts.csv").write_text(
        "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,setting,site_id,purposes\n" + "".join(rows),
        encoding="utf-8",
    )
    (folder / "care_team.csv").write_text(
        "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id\n"
        + "".join(f"T-1,MRN-1,D-{i},{r},2026-01-0{i + 1},,S-0\n" for i, r in enumerate(contract.CARE_TEAM_ROLES))
        + "T-2,MRN-2,P-1,peer,2025-01-01,2025-06-30,\n",
        encoding="utf-8",
    )
    rows = []
    for n, (kind, status) in enumerate(itertools.product(contract.HANDOFF_KINDS, contract.HANDOFF_STATUSES)):
        priority = (["", *contract.HANDOFF_PRIORITIES])[n % 5]
        via = (["", *contract.HANDOFF_VIA])[n % 5]
        note = f'"Note {n}, with ""quotes""\nand a second line"' if n % 2 else ""
        rows.append(
            f"H-{n},MRN-{n % 4},{kind},2026-01-06T09:00:00-05:00,{status},D-0,P-1,S-{n % 5},{priority},{via},{note}\n"
        )
    (folder / "handoffs.csv").write_text(
        "handoff_id,patient_mrn,kind,requested_at,status,requester_id,to_staff_id,to_site_id,priority,via,note\n"
        + "".join(rows),
        encoding="utf-8",
    )


def _map_all(folder: Path, settings: Settings) -> list[Any]:
    return all_items(folder, M, settings)


def _systems(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["system"]] if isinstance(value.get("system"), str) else []
        return found + [s for v in value.values() for s in _systems(v)]
    if isinstance(value, list):
        return [s for v in value for s in _systems(v)]
    return []


def test_every_emitted_resource_is_valid_r4_and_uses_standard_or_namespaced_systems(tmp_path: Path) -> None:
    _write_program(tmp_path)
    items = _map_all(tmp_path, Settings(send_text_contacts=True, site_timezone="America/New_York"))
    assert not [i for i in items if isinstance(i, Rejection | Skipped)]
    resources = [i.resource for i in items]
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
        assert check_resource(resource) == [], resource["identifier"]
        for system in _systems(resource):
            assert system in STANDARD_SYSTEMS or system.startswith(f"{NS}/"), system
    n_contacts = (3 + 1 + len(contract.CONTACT_SETTINGS)) * len(contract.CONTACT_STATUSES)
    assert counts == {
        "Organization": len(contract.SITE_KINDS),
        "Practitioner": len(contract.DISCIPLINES) + 1,
        "Patient": len(contract.GENDERS) + 1,
        "Encounter": n_contacts,
        "CareTeam": 2,
        "ServiceRequest": len(contract.HANDOFF_KINDS) * len(contract.HANDOFF_STATUSES),
    }


def test_mapping_is_deterministic(tmp_path: Path) -> None:
    _write_program(tmp_path)
    settings = Settings(send_text_contacts=True)
    first = [json.dumps(i.resource) for i in _map_all(tmp_path, settings)]
    second = [json.dumps(i.resource) for i in _map_all(tmp_path, settings)]
    assert first == second
    again = json.dumps(map_contact(contact(duration_min="5"), SRC, M).resource)
    assert again == json.dumps(map_contact(contact(duration_min="5"), SRC, M).resource)


def test_mapping_does_not_share_mutable_state_between_resources() -> None:
    a = enc()
    a["meta"]["security"].clear()
    a["type"][0]["coding"].clear()
    b = enc()
    assert (ACT_CODE, "42CFRPart2") in _labels(b)
    assert b["type"][0]["coding"]


# --- the binding checker ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "path", "value", "problem"),
    [
        (enc, ("status",), "done", "Encounter.status: code not in the required R4 value set"),
        (enc, ("class", "system"), "http://example.org/class", "Encounter.class: system must be v3-ActCode"),
        (enc, ("type",), [], "Encounter.type: required"),
        (sr, ("intent",), "referral", "ServiceRequest.intent: code not in the required R4 value set"),
        (sr, ("status",), "sent", "ServiceRequest.status: code not in the required R4 value set"),
        (sr, ("priority",), "whenever", "ServiceRequest.priority: code not in the required R4 value set"),
        (
            lambda: map_care_team(team([member()]), M).resource,
            ("status",),
            "open",
            "CareTeam.status: code not in the required R4 value set",
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
    resource = map_care_team(team([member()]), M).resource
    del resource["participant"][0]["role"]
    assert "CareTeam.participant[0]: role and member are required (US Core)" in check_resource(resource)
    bad_shape = enc()
    bad_shape["class"] = [bad_shape["class"]]  # the R5 shape
    assert check_resource(bad_shape)
    assert check_resource({"resourceType": "Observation"}) == ["resourceType: Observation is not one fhirpeer emits"]
    patient = {"resourceType": "Patient", "gender": "F"}
    assert "Patient.gender: code not in the required R4 value set" in check_resource(patient)
