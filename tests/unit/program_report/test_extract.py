"""FHIR JSON → the report's model: tolerant, PHI-free in what it counts, exact in what it keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.program_report import Systems, extract_program
from fhirpeer.program_report.extract import Extractor, parse_date, parse_datetime, reference_id
from tests.support.cohort_fhir import FhirBuilder

NY = ZoneInfo("America/New_York")
SYSTEMS = Systems.for_namespace("https://fhir.example.org/")
B = FhirBuilder(SYSTEMS, "t")


def test_systems_hang_off_the_namespace() -> None:
    assert SYSTEMS.contact == "https://fhir.example.org/sid/peer-contact"
    assert SYSTEMS.enrollment == "https://fhir.example.org/sid/enrollment"
    assert SYSTEMS.contact_mode == "https://fhir.example.org/CodeSystem/peer-contact-mode"
    ehr = Systems.for_namespace("urn:example", patient_system="urn:oid:1.2.3")
    assert ehr.patient == "urn:oid:1.2.3"
    with pytest.raises(ValueError):
        Systems.for_namespace("fhir.example.org")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-01T10:00:00-04:00", datetime(2025, 6, 1, 10, tzinfo=timezone(timedelta(hours=-4)))),
        ("2025-06-01T14:00:00Z", datetime(2025, 6, 1, 14, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=NY)),
        ("2025-06-01T10:00:00", datetime(2025, 6, 1, 10, tzinfo=NY)),
        ("2025-06", None),
        ("2025", None),
        ("June 1st", None),
        (None, None),
        (20250601, None),
    ],
)
def test_parse_datetime(value: object, expected: datetime | None) -> None:
    parsed = parse_datetime(value, NY)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


def test_parse_date_reads_instants_in_the_site_time_zone() -> None:
    assert parse_date("2025-06-01", NY) == date(2025, 6, 1)
    assert parse_date("2025-06-01T02:00:00Z", NY) == date(2025, 5, 31)  # 22:00 the evening before in New York
    assert parse_date("2025-13-01", NY) is None


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"reference": "ServiceRequest/abc-1"}, "abc-1"),
        ({"reference": "https://ehr.example.org/fhir/ServiceRequest/abc-1"}, "abc-1"),
        ({"reference": "ServiceRequest/abc-1/_history/3"}, "abc-1"),
        ({"reference": "Encounter/abc-1"}, None),
        ({"reference": "ServiceRequest?identifier=x|y"}, None),
        ({"display": "a referral"}, None),
        ("ServiceRequest/abc-1", None),
    ],
)
def test_reference_id(reference: object, expected: str | None) -> None:
    assert reference_id(reference, "ServiceRequest") == expected


def _mode(**changes: object) -> str | None:
    res = B.encounter("C1", "P1", "2025-06-01T10:00:00-04:00", mode="telephone")
    res.update(changes)
    return Extractor(SYSTEMS, NY).contact_mode(res)


def test_contact_mode_prefers_fhirpeers_coding_then_snomed_then_a_face_to_face_class() -> None:
    local_video = [
        {
            "coding": [
                {"system": SYSTEMS.contact_mode, "code": "video"},
                {"system": "http://snomed.info/sct", "code": "185317003"},
            ]
        }
    ]
    assert _mode(type=local_video) == "video"
    assert _mode() == "telephone"
    assert _mode(type=[{"coding": [{"system": "http://snomed.info/sct", "code": "719410009"}]}]) == "video"
    assert (
        _mode(
            type=[{"text": "peer contact"}],
            **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "FLD"}},
        )
        == "in_person"
    )
    # VR is telephone, video or text alike: it decides nothing
    assert (
        _mode(type=[], **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}})
        is None
    )
    assert _mode(type=[{"coding": [{"system": SYSTEMS.contact_mode, "code": "fax"}]}], **{"class": {}}) is None


def test_contact_keeps_what_the_report_needs() -> None:
    res = B.encounter(
        "C1", "P1", "2025-06-01T10:00:00-04:00", mode="in_person", minutes=25, handoffs=["H1"], enrollment="E1"
    )
    contact = Extractor(SYSTEMS, NY).contact(res)
    assert contact is not None
    assert (contact.key, contact.patient_id, contact.status, contact.mode, contact.minutes) == (
        "C1",
        "t-pat-P1",
        "finished",
        "in_person",
        25.0,
    )
    assert contact.based_on == ("t-sr-H1",) and contact.episode_ids == ("t-eoc-E1",)
    assert contact.start == datetime.fromisoformat("2025-06-01T10:00:00-04:00")
    assert contact.counts


@pytest.mark.parametrize(
    ("length", "minutes", "skipped"),
    [
        ({"value": 1.5, "unit": "h", "code": "h"}, 90.0, None),
        ({"value": 30, "unit": "min"}, 30.0, None),
        ({"value": 30, "code": "wk"}, None, "Encounter: length unit not a UCUM time unit"),
        ({"value": -5, "code": "min"}, None, "Encounter: length value unusable"),
        ({"value": True, "code": "min"}, None, "Encounter: length value unusable"),
    ],
)
def test_length_in_minutes(length: dict[str, object], minutes: float | None, skipped: str | None) -> None:
    res = B.encounter("C1", "P1", "2025-06-01T10:00:00-04:00")
    res["length"] = length
    ex = Extractor(SYSTEMS, NY)
    contact = ex.contact(res)
    assert contact is not None and contact.minutes == minutes
    assert dict(ex.skipped) == ({skipped: 1} if skipped else {})


def test_a_resource_missing_elements_is_kept_with_nones_or_skipped_and_counted_without_values() -> None:
    secret = "Jane Roe 1970-01-01"
    broken_encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "identifier": [{"system": SYSTEMS.contact, "value": "C9"}],
        "status": "finished",
        "period": {"start": secret},
        "subject": {"display": secret},
    }
    resources = [
        broken_encounter,
        {"resourceType": "Encounter", "status": "finished"},  # no id
        {
            "resourceType": "EpisodeOfCare",
            "id": "x",
            "identifier": [{"system": SYSTEMS.enrollment, "value": "E9"}],
            "status": "active",
            "period": "2025",
        },
        {"resourceType": "ServiceRequest", "id": "s", "identifier": [{"system": SYSTEMS.handoff, "value": "H9"}]},
        {"resourceType": "Task", "id": "t", "status": "requested", "focus": {"reference": "Patient/1"}},
        {"resourceType": "Patient", "id": "p", "name": [{"text": secret}]},
        {"resourceType": secret, "id": "odd"},
        "not a resource",
    ]
    data = extract_program([r for r in resources if isinstance(r, dict)], SYSTEMS, NY)
    (contact,) = data.contacts
    assert (contact.key, contact.start, contact.patient_id, contact.mode) == ("C9", None, None, None)
    (episode,) = data.episodes
    assert episode.start is None and episode.patient_id is None
    (handoff,) = data.handoffs
    assert handoff.kind is None and handoff.authored_on is None
    (task,) = data.tasks
    assert task.focus_id is None
    assert data.skipped["Encounter: no id"] == 1
    assert data.skipped["Encounter: period.start missing or imprecise"] == 1
    assert data.skipped["Task: focus is not a ServiceRequest reference"] == 1
    assert data.skipped["Patient: not read by the report"] == 1
    assert data.skipped["resource: not read by the report"] == 1
    assert all(secret not in reason and "Jane" not in reason for reason in data.skipped)


def test_extract_program_sorts_the_programs_own_from_other_systems_evidence() -> None:
    foreign_encounter = B.encounter(
        None, "P1", "2025-06-02T09:00:00-04:00", mode=None, handoffs=["H1"], resource_id="r1"
    )
    foreign_episode = B.episode(None, "P1", "active", "2025-06-10", referral="H1", resource_id="r2")
    foreign_sr = B.service_request("X", "P1", "other", "active", "2025-06-01")
    foreign_sr.pop("identifier")
    task = B.task(
        None,
        "H1",
        "P1",
        "rejected",
        authored="2025-06-01T10:00:00-04:00",
        reason_code="no-capacity",
        reason_text="full",
        resource_id="r3",
    )
    task["businessStatus"] = {"coding": [{"system": "http://example.org/bs", "code": "waitlist"}]}
    task["output"] = [{"type": {"text": "a"}, "valueString": "b"}, {"type": {"text": "c"}, "valueString": "d"}]
    ours = B.encounter("C1", "P1", "2025-06-01T11:00:00-04:00")
    resources = [
        B.practitioner("PEER-01"),
        {
            "resourceType": "Practitioner",
            "id": "ehr-1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        },
        B.service_request("H1", "P1", "ed_to_peer", "active", "2025-06-01T10:00:00-04:00"),
        B.episode("E1", "P1", "active", "2025-06-01", peer="PEER-01"),
        ours,
        ours,  # read twice by two searches
        foreign_encounter,
        foreign_episode,
        foreign_sr,
        task,
    ]
    data = extract_program(resources, SYSTEMS, NY)
    assert [c.key for c in data.contacts] == ["C1"]
    assert [c.id for c in data.evidence_contacts] == ["r1"] and data.evidence_contacts[0].mode == "in_person"
    assert [e.key for e in data.episodes] == ["E1"] and data.episodes[0].care_manager_id == "t-prac-PEER-01"
    assert [e.id for e in data.evidence_episodes] == ["r2"] and data.evidence_episodes[0].referral_ids == ("t-sr-H1",)
    assert [h.key for h in data.handoffs] == ["H1"] and data.handoffs[0].kind == "ed_to_peer"
    assert data.skipped["ServiceRequest: not written by the program"] == 1
    (t,) = data.tasks
    assert (t.key, t.focus_id, t.status, t.reason_code, t.reason_text, t.business_status, t.output_count) == (
        None,
        "t-sr-H1",
        "rejected",
        "no-capacity",
        "full",
        "waitlist",
        2,
    )
    assert data.peer_label("t-prac-PEER-01") == "PEER-01"
    assert data.peer_label("ehr-1") == "npi:1234567893"
    assert data.peer_label("unknown") == "Practitioner/unknown"
