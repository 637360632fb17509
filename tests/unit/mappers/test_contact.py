"""A peer contact → an Appointment when it did not happen, an Encounter when it did (issue 12): classes by setting
(an ED bedside visit is EMER, not an inpatient admission), one Encounter.type entry per concept, purposes as types,
peer support as serviceType, no length or end on what did not happen, basedOn the handoff it fulfils."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirpeer import contract
from fhirpeer.domain import InputKind, ResourceType, Skipped
from fhirpeer.mappers import MappedResource, Ref, map_appointment, map_contact, map_encounter
from fhirpeer.mappers.contact import is_sent
from fhirpeer.mapping_files import CodedConcept, Coding
from fhirpeer.settings import Settings
from tests.support.mapping import kind_items
from tests.support.records import (
    ACT_CODE,
    CONFIDENTIALITY,
    NS,
    PARTICIPATION,
    SNOMED,
    SRC,
    UCUM,
    M,
    codings_of,
    contact,
    labels,
    ref,
    valid,
)

MODE_SYSTEM = f"{NS}/CodeSystem/peer-contact-mode"
PURPOSE_SYSTEM = f"{NS}/CodeSystem/peer-contact-purpose"
PPRF = {"system": PARTICIPATION, "code": "PPRF", "display": "primary performer"}


def enc(site_kind: str | None = None, **fields: Any) -> dict[str, Any]:
    return valid(map_encounter(contact(**fields), SRC, M, site_kind=site_kind).resource)


def appt(**fields: Any) -> dict[str, Any]:
    fields.setdefault("status", "scheduled")
    return valid(map_appointment(contact(**fields), SRC, M).resource)


# --- which resources a contact becomes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # (resource type, status, only_if_exists) in write order
        ("completed", [("Appointment", "fulfilled", True), ("Encounter", "finished", False)]),
        ("scheduled", [("Appointment", "booked", False)]),
        ("cancelled", [("Appointment", "cancelled", False)]),
        ("no_show", [("Appointment", "noshow", False)]),
        ("entered_in_error", [("Appointment", "entered-in-error", True), ("Encounter", "entered-in-error", True)]),
    ],
)
def test_a_contact_becomes_an_appointment_and_or_an_encounter(status: str, expected: list[Any]) -> None:
    mapped = map_contact(contact(status=status), SRC, M)
    assert [(r.resource_type, r.resource["status"], r.only_if_exists) for r in mapped] == expected
    assert all(r.key == "C-1" and r.sources == (SRC,) for r in mapped)
    for r in mapped:
        valid(r.resource)
    # no Encounter status says "did not happen": those contacts are never Encounters
    assert not [
        r for r in mapped if r.resource_type == "Encounter" and r.resource["status"] in ("planned", "cancelled")
    ]


def test_appointment_is_written_before_the_encounter_that_points_at_it() -> None:
    appointment, encounter = map_contact(contact(), SRC, M)
    assert list(ResourceType).index(appointment.resource_type) < list(ResourceType).index(encounter.resource_type)
    assert encounter.resource["appointment"] == [ref("Appointment", "peer-contact", "C-1")]
    assert Ref(ResourceType.APPOINTMENT, "C-1", "contact_id", optional=True) in encounter.refs
    assert appointment.resource["identifier"] == encounter.resource["identifier"]  # one system, the contact key
    assert [r for r in encounter.refs if r.optional] == [Ref(ResourceType.APPOINTMENT, "C-1", "contact_id", True)]


# --- Encounter.class ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "setting", "site_kind", "code"),
    [
        ("telephone", None, None, "VR"),
        ("video", None, None, "VR"),
        ("in_person", None, None, "AMB"),
        ("in_person", "clinic", None, "AMB"),
        ("in_person", "community", None, "FLD"),
        ("in_person", "home", None, "HH"),
        ("in_person", "hospital", None, "IMP"),  # a bedside visit to an admitted patient
        ("in_person", "emergency_department", None, "EMER"),  # an ED visit is not an admission
        ("in_person", None, "emergency_department", "EMER"),  # blank setting at an ED site
        ("in_person", None, "primary_care", "AMB"),
        ("in_person", "hospital", "emergency_department", "IMP"),  # the cell wins over the site
        ("telephone", None, "emergency_department", "VR"),  # a call from the ED is still virtual
    ],
)
def test_encounter_class(mode: str, setting: str | None, site_kind: str | None, code: str) -> None:
    klass = enc(site_kind=site_kind, mode=mode, setting=setting)["class"]
    assert (klass["system"], klass["code"]) == (ACT_CODE, code)
    assert klass["display"]


def test_an_ed_contact_read_from_the_export_gets_emer_from_its_sites_kind(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        "site_id,name,kind\nS-ED,Emergency Department,emergency_department\nS-PC,Practice,primary_care\n",
        encoding="utf-8",
    )
    (tmp_path / "peer_contacts.csv").write_text(
        "contact_id,patient_mrn,peer_id,start,mode,status,setting,site_id\n"
        "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,in_person,completed,,S-ED\n"
        "C-2,MRN-1,P-1,2026-01-05T11:00:00Z,in_person,completed,,S-PC\n"
        "C-3,MRN-1,P-1,2026-01-05T12:00:00Z,in_person,completed,,S-ELSEWHERE\n"  # on the server only: default
        "C-4,MRN-1,P-1,2026-01-05T13:00:00Z,in_person,completed,hospital,S-ED\n",
        encoding="utf-8",
    )
    items = kind_items(tmp_path, M, InputKind.CONTACTS)
    classes = {i.key: i.resource["class"]["code"] for i in items if isinstance(i, MappedResource)
               and i.resource_type == "Encounter"}  # fmt: skip
    assert classes == {"C-1": "EMER", "C-2": "AMB", "C-3": "AMB", "C-4": "IMP"}


# --- Encounter.type, serviceType, reasonCode ------------------------------------------------------------

MODE_SNOMED = {
    "in_person": "453701000124103",  # In-person encounter
    "telephone": "185317003",  # Telephone encounter
    "video": "453131000124105",  # Videotelephony encounter
    "text": "445450000",  # Encounter by short message service text messaging
}


@pytest.mark.parametrize(
    ("mode", "setting"),
    [
        ("telephone", None),
        ("video", None),
        ("text", None),
        *(("in_person", s) for s in (None, *contract.CONTACT_SETTINGS)),
    ],
)
def test_encounter_type_is_one_entry_per_concept_mode_first(mode: str, setting: str | None) -> None:
    types = enc(mode=mode, setting=setting)["type"]
    # the mode: its SNOMED code and the local mode coding (the program report reads it) are one meaning
    assert codings_of(types[0]) == [(SNOMED, MODE_SNOMED[mode]), (MODE_SYSTEM, mode)]
    assert types[0]["text"]
    if setting == "home":
        assert codings_of(types[1]) == [(SNOMED, "439708006"), (f"{NS}/CodeSystem/peer-contact-setting", "home")]
    assert len(types) == (2 if setting == "home" else 1)
    for concept in types:  # never two standard codes of different meanings in one CodeableConcept
        assert len([s for s, _ in codings_of(concept) if s == SNOMED]) <= 1
    every_code = [c for t in types for _, c in codings_of(t)]
    assert "308335008" not in every_code and "719410009" not in every_code  # the root, a video *consultation*
    assert "peer-support" not in every_code  # peer support is the serviceType, not a type


def test_peer_recovery_support_is_the_service_type() -> None:
    resource = enc()
    assert codings_of(resource["serviceType"]) == [(f"{NS}/CodeSystem/peer-contact-type", "peer-support")]
    assert resource["serviceType"]["text"] == "Peer recovery support"


def test_purposes_are_further_type_entries_not_reasons() -> None:
    resource = enc(purposes="crisis_support;engagement;crisis_support")
    assert [codings_of(t) for t in resource["type"][1:]] == [
        [(PURPOSE_SYSTEM, "crisis_support")],
        [(PURPOSE_SYSTEM, "engagement")],
    ]
    assert [t["text"] for t in resource["type"][1:]] == ["Crisis support", "Engagement"]
    assert "reasonCode" not in resource


def test_reason_code_only_for_a_condition_the_site_configures() -> None:
    oud = CodedConcept(
        text="Opioid dependence", codings=[Coding(system=SNOMED, code="75544000", display="Opioid dependence")]
    )
    site = M.model_copy(update={"encounter": M.encounter.model_copy(update={"reason": oud})})
    resource = valid(map_encounter(contact(purposes="engagement"), SRC, site).resource)
    assert resource["reasonCode"] == [
        {
            "coding": [{"system": SNOMED, "code": "75544000", "display": "Opioid dependence"}],
            "text": "Opioid dependence",
        }
    ]
    assert "reasonCode" not in enc(purposes="engagement")


# --- identifier, subject, participant, period ----------------------------------------------------------


def test_encounter_identifier_subject_participant_with_period() -> None:
    resource = enc(contact_id="C-0042", patient_mrn="MRN-7", peer_id="P-3", duration_min="20")
    assert resource["identifier"] == [{"system": f"{NS}/sid/peer-contact", "value": "C-0042"}]
    assert resource["subject"] == ref("Patient", "patient-mrn", "MRN-7")
    (participant,) = resource["participant"]
    assert participant["type"] == [{"coding": [PPRF]}]
    assert participant["individual"] == ref("Practitioner", "staff-id", "P-3")
    assert (
        participant["period"]
        == resource["period"]
        == {
            "start": "2026-01-05T10:00:00-05:00",
            "end": "2026-01-05T10:20:00-05:00",
        }
    )


def test_encounter_period_and_length_from_duration() -> None:
    resource = enc(start="2026-01-05T23:50:00-05:00", duration_min="25")
    assert resource["period"] == {"start": "2026-01-05T23:50:00-05:00", "end": "2026-01-06T00:15:00-05:00"}
    assert resource["length"] == {"value": 25, "unit": "min", "system": UCUM, "code": "min"}


def test_encounter_without_duration_has_start_only_and_no_length() -> None:
    resource = enc()
    assert resource["period"] == {"start": "2026-01-05T10:00:00-05:00"}
    assert "length" not in resource
    assert enc(duration_min="0")["length"]["value"] == 0


def test_what_did_not_happen_carries_no_length_or_end() -> None:
    marked = map_encounter(contact(status="entered_in_error", duration_min="30"), SRC, M)
    assert marked.only_if_exists
    assert marked.resource["period"] == {"start": "2026-01-05T10:00:00-05:00"}
    assert "length" not in marked.resource
    assert "end" not in marked.resource["participant"][0]["period"]
    for status in ("scheduled", "cancelled", "no_show"):
        (only,) = map_contact(contact(status=status, duration_min="30"), SRC, M)
        assert only.resource_type == "Appointment"
        assert "length" not in only.resource and "period" not in only.resource


def test_period_end_across_a_daylight_saving_change_is_the_real_duration_later() -> None:
    # 01:30 EST (06:30Z) + 90 min = 08:00Z = 04:00 EDT (wall-clock arithmetic would say 03:00 EDT = 07:00Z)
    rec = contact(tz="America/New_York", start="2026-03-08T01:30:00", duration_min="90")
    assert map_encounter(rec, SRC, M).resource["period"] == {
        "start": "2026-03-08T01:30:00-05:00",
        "end": "2026-03-08T04:00:00-04:00",
    }
    assert map_appointment(rec, SRC, M).resource["end"] == "2026-03-08T04:00:00-04:00"


def test_timestamp_without_offset_takes_the_site_time_zone() -> None:
    summer = map_encounter(contact(tz="America/Chicago", start="2026-07-01T09:30:00", duration_min="30"), SRC, M)
    assert summer.resource["period"] == {"start": "2026-07-01T09:30:00-05:00", "end": "2026-07-01T10:00:00-05:00"}
    winter = map_encounter(contact(tz="America/Chicago", start="2026-01-05T09:30:00"), SRC, M)
    assert winter.resource["period"]["start"] == "2026-01-05T09:30:00-06:00"
    explicit = map_encounter(contact(tz="America/Chicago", start="2026-01-05T09:30:00+01:00"), SRC, M)
    assert explicit.resource["period"]["start"] == "2026-01-05T09:30:00+01:00"


def test_service_provider_and_based_on_the_handoff_it_fulfils() -> None:
    plain = enc()
    assert "serviceProvider" not in plain and "basedOn" not in plain
    mapped = map_encounter(contact(site_id="S-ED", handoff_id="H-0001"), SRC, M)
    resource = valid(mapped.resource)
    assert resource["serviceProvider"] == ref("Organization", "site-id", "S-ED")
    assert resource["basedOn"] == [ref("ServiceRequest", "handoff", "H-0001")]
    assert mapped.refs == (
        Ref(ResourceType.PATIENT, "MRN-1", "patient_mrn"),
        Ref(ResourceType.PRACTITIONER, "P-1", "peer_id"),
        Ref(ResourceType.APPOINTMENT, "C-1", "contact_id", optional=True),
        Ref(ResourceType.SERVICE_REQUEST, "H-0001", "handoff_id"),
        Ref(ResourceType.ORGANIZATION, "S-ED", "site_id"),
    )


def test_a_handoff_id_with_a_forbidden_character_is_rejected() -> None:
    with pytest.raises(ValueError, match="handoff_id"):
        contact(handoff_id="H|1")


# --- Appointment ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [("scheduled", "booked"), ("cancelled", "cancelled"), ("no_show", "noshow")]
)
def test_appointment_for_a_contact_that_did_not_happen(status: str, code: str) -> None:
    resource = appt(status=status, contact_id="C-9", patient_mrn="MRN-7", peer_id="P-3", duration_min="45")
    assert resource["status"] == code
    assert resource["identifier"] == [{"system": f"{NS}/sid/peer-contact", "value": "C-9"}]
    assert (resource["start"], resource["end"]) == ("2026-01-05T10:00:00-05:00", "2026-01-05T10:45:00-05:00")
    assert resource["minutesDuration"] == 45
    assert resource["participant"] == [
        {"actor": ref("Patient", "patient-mrn", "MRN-7"), "status": "accepted"},
        {"type": [{"coding": [PPRF]}], "actor": ref("Practitioner", "staff-id", "P-3"), "status": "accepted"},
    ]
    assert codings_of(resource["serviceType"][0]) == [(f"{NS}/CodeSystem/peer-contact-type", "peer-support")]
    assert (CONFIDENTIALITY, "R") in labels(resource) and (ACT_CODE, "42CFRPart2") in labels(resource)


def test_appointment_without_duration_is_booked_for_the_configured_slot() -> None:
    resource = appt()
    assert M.appointment.slot_minutes_when_blank == 30
    assert resource["end"] == "2026-01-05T10:30:00-05:00"  # R4 app-2/app-3: a start needs an end
    assert "minutesDuration" not in resource  # only when the export gives one
    zero = appt(duration_min="0")
    assert zero["end"] == zero["start"] and "minutesDuration" not in zero  # positiveInt


def test_appointment_points_at_the_handoff_it_fulfils() -> None:
    mapped = map_appointment(contact(status="scheduled", handoff_id="H-7"), SRC, M)
    assert mapped.resource["basedOn"] == [ref("ServiceRequest", "handoff", "H-7")]
    assert Ref(ResourceType.SERVICE_REQUEST, "H-7", "handoff_id") in mapped.refs
    assert not mapped.only_if_exists


def test_completed_contact_fulfils_an_appointment_sent_before_only() -> None:
    appointment, _ = map_contact(contact(status="completed", duration_min="20"), SRC, M)
    assert appointment.only_if_exists
    assert valid(appointment.resource)["status"] == "fulfilled"
    assert appointment.resource["minutesDuration"] == 20


# --- text contacts --------------------------------------------------------------------------------------


def test_text_contacts_are_not_sent_unless_configured(tmp_path: Path) -> None:
    text = contact(mode="text")
    assert not is_sent(text, M, send_text_contacts=False)
    assert is_sent(text, M, send_text_contacts=True)
    assert all(is_sent(contact(mode=m), M, False) for m in ("in_person", "telephone", "video"))

    (tmp_path / "peer_contacts.csv").write_text(
        "contact_id,patient_mrn,peer_id,start,mode,status\n"
        "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,text,completed\n"
        "C-2,MRN-1,P-1,2026-01-05T11:00:00Z,telephone,completed\n"
        "C-3,MRN-1,P-1,2026-01-05T12:00:00Z,text,scheduled\n",
        encoding="utf-8",
    )
    default = kind_items(tmp_path, M, InputKind.CONTACTS)
    skipped = [(i.resource_type, i.key) for i in default if isinstance(i, Skipped)]
    assert skipped == [("Encounter", "C-1"), ("Appointment", "C-3")]
    assert [(i.resource_type, i.key) for i in default if isinstance(i, MappedResource)] == [
        ("Appointment", "C-2"),
        ("Encounter", "C-2"),
    ]
    configured = kind_items(tmp_path, M, InputKind.CONTACTS, Settings(send_text_contacts=True))
    assert all(isinstance(i, MappedResource) for i in configured)
    sent = valid(configured[1].resource)
    assert (sent["resourceType"], sent["class"]["code"]) == ("Encounter", "VR")
    assert codings_of(sent["type"][0]) == [(SNOMED, "445450000"), (MODE_SYSTEM, "text")]
