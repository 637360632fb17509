"""Valid resources of every type fhirpeer emits, and a mutation generator that makes invalid (and some
surprisingly valid) variants of them: the corpus on which the fast structure check must give fhir.resources'
verdicts.

Code sources (primary): FHIR R4 4.0.1 value sets at http://hl7.org/fhir/R4/ (valueset-<name>.html, named beside
each code) and HL7 Terminology (THO) code systems at http://terminology.hl7.org/CodeSystem/<name>. Example.org
systems and values are local, as in fhirpeer's own mappings.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhirpeer.demo.sample import generate_program
from fhirpeer.mapping_files import load_mappings
from fhirpeer.offline_validation import validate_export
from fhirpeer.settings import load_settings

NS = "https://fhir.example.org"
THO = "http://terminology.hl7.org/CodeSystem"
ACT_CODE = f"{THO}/v3-ActCode"
PART2_LABELS = [  # DS4P labels as fhirpeer sends them (shared/reference/fhir-mapping.md §4)
    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R", "display": "restricted"},
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": ACT_CODE, "code": "SUD", "display": "substance use disorder information sensitivity"},
    {"system": ACT_CODE, "code": "NORDSCLCD", "display": "no redisclosure without consent directive"},
]
PATIENT_REF = {"reference": "Patient/pt-0001", "display": "patient"}
PEER_REF = {"reference": "Practitioner/peer-0001"}
SITE_REF = {"reference": "Organization/site-pc01"}
PEER_SPECIALIST = {  # NUCC provider taxonomy 175T00000X Peer Specialist (shared/reference/fhir-mapping.md §2)
    "coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "175T00000X", "display": "Peer Specialist"}],
    "text": "Peer recovery specialist",
}


def mapped_resources(work_dir: Path, patients: int = 30, seed: int = 3, per_shape: int = 2) -> list[dict[str, Any]]:
    """Resources fhirpeer's own mappers emit for a generated program, a few of each distinct shape."""
    export_dir, ndjson_dir = work_dir / "export", work_dir / "ndjson"
    generate_program(export_dir, patients=patients, seed=seed)
    settings = load_settings(send_text_contacts=True)
    validate_export(
        export_dir, settings, load_mappings(settings.mappings, namespace=settings.namespace), ndjson_dir=ndjson_dir
    )
    picked: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    for path in sorted(ndjson_dir.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            resource = json.loads(line)
            shape = tuple(sorted(p for p, _ in nodes(resource)))
            if seen.get(shape, 0) < per_shape:
                seen[shape] = seen.get(shape, 0) + 1
                picked.append(resource)
    return picked


def hand_written() -> list[dict[str, Any]]:
    """One or more realistic resources per type, written from the R4 resource pages, using many data types."""
    return [
        {
            "resourceType": "Patient",
            "id": "pt-0001",
            "meta": {"lastUpdated": "2026-01-05T09:00:00.000Z", "security": PART2_LABELS[:1]},
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Patient</div>'},
            "extension": [
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": "F",  # US Core birth sex: F (http://hl7.org/fhir/us/core/ValueSet/birthsex)
                }
            ],
            "identifier": [
                {
                    "use": "official",  # R4 valueset-identifier-use
                    "system": f"{NS}/sid/patient-mrn",
                    "value": "MRN000001",
                    "period": {"start": "2020-02"},
                }
            ],
            "active": True,
            "name": [{"use": "official", "family": "Rivera", "given": ["Ana", "M"], "_given": [None, {"id": "mi"}]}],
            "telecom": [
                {"system": "phone", "value": "555-0100", "use": "mobile", "rank": 1}  # R4 contact-point-system/-use
            ],
            "gender": "female",  # R4 valueset-administrative-gender
            "_gender": {"extension": [{"url": f"{NS}/StructureDefinition/source", "valueString": "intake form"}]},
            "birthDate": "1988-07-14",
            "deceasedBoolean": False,
            "address": [
                {
                    "use": "home",  # R4 valueset-address-use
                    "line": ["1 Main St"],
                    "city": "Springfield",
                    "postalCode": "01101",
                    "period": {"start": "2024-01-01", "end": "2025-12-31"},
                }
            ],
            "multipleBirthInteger": 1,
            "photo": [{"contentType": "image/png", "data": "aGVsbG8=", "size": 5, "creation": "2024-03-01"}],
            "contact": [
                {
                    "relationship": [
                        {  # THO v2-0131 contact role: N next-of-kin
                            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]
                        }
                    ],
                    "name": {"text": "Sam Rivera"},
                    "gender": "other",
                }
            ],
            "communication": [
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}, "preferred": True}
            ],
            "managingOrganization": SITE_REF,
        },
        {
            "resourceType": "Practitioner",
            "id": "peer-0001",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
            "active": True,
            "name": [{"use": "official", "family": "Mitchell", "given": ["Ashley"], "prefix": ["Ms."]}],
            "telecom": [{"system": "email", "value": "peer@example.org", "use": "work"}],
            "gender": "female",
            "qualification": [
                {
                    "identifier": [{"system": f"{NS}/sid/certification", "value": "CPRS-77"}],
                    "code": PEER_SPECIALIST,
                    "period": {"start": "2022-06-01"},
                    "issuer": {"display": "State certification board"},
                }
            ],
        },
        {
            "resourceType": "PractitionerRole",
            "id": "role-peer-0001",
            "identifier": [{"system": f"{NS}/sid/staff-role", "value": "PEER-0001@PC01"}],
            "active": True,
            "period": {"start": "2026-01-05"},
            "practitioner": PEER_REF,
            "organization": SITE_REF,
            "code": [PEER_SPECIALIST],
            "telecom": [{"system": "phone", "value": "555-0101", "use": "work"}],
            "availableTime": [
                {
                    "daysOfWeek": ["mon", "tue", "wed"],  # R4 valueset-days-of-week
                    "availableStartTime": "09:00:00",
                    "availableEndTime": "17:30:00",
                },
                {"allDay": True, "daysOfWeek": ["sat"]},
            ],
            "notAvailable": [{"description": "Training", "during": {"start": "2026-02-02", "end": "2026-02-03"}}],
            "availabilityExceptions": "Public holidays",
        },
        {
            "resourceType": "Organization",
            "id": "site-pc01",
            "identifier": [{"system": f"{NS}/sid/site-id", "value": "PC01"}],
            "active": True,
            "type": [  # THO organization-type: prov Healthcare Provider
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}
            ],
            "name": "Riverside Family Medicine",
            "alias": ["Riverside FM"],
            "telecom": [{"system": "url", "value": "https://riverside.example.org"}],
            "address": [{"line": ["2 River Rd"], "city": "Springfield", "state": "MA", "country": "US"}],
            "contact": [
                {
                    "purpose": {  # THO contactentity-type: ADMIN
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/contactentity-type", "code": "ADMIN"}
                        ]
                    },
                    "name": {"family": "Lee"},
                }
            ],
        },
        {
            "resourceType": "Encounter",
            "id": "enc-0001",
            "meta": {"security": PART2_LABELS, "tag": [{"system": f"{NS}/tag", "code": "fhirpeer"}]},
            "identifier": [{"system": f"{NS}/sid/peer-contact", "value": "C-0000001"}],
            "status": "finished",  # R4 valueset-encounter-status
            "statusHistory": [{"status": "arrived", "period": {"start": "2026-01-12T10:40:00-05:00"}}],
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},  # v3-ActCode AMB
            "type": [{"text": "Peer recovery support contact"}],
            "priority": {"coding": [{"system": ACT_CODE, "code": "R"}]},  # THO v3-ActPriority R routine
            "subject": PATIENT_REF,
            "episodeOfCare": [{"reference": "EpisodeOfCare/eoc-0001"}],
            "participant": [
                {
                    "type": [  # THO v3-ParticipationType PPRF primary performer
                        {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}
                            ]
                        }
                    ],
                    "period": {"start": "2026-01-12T10:45:00-05:00"},
                    "individual": PEER_REF,
                }
            ],
            "period": {"start": "2026-01-12T10:45:00-05:00", "end": "2026-01-12T11:10:00.250-05:00"},
            "length": {"value": 25, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
            "reasonCode": [{"text": "Harm reduction"}],
            "hospitalization": {"dischargeDisposition": {"text": "home"}},
            "location": [
                {"location": {"display": "Home visit"}, "status": "completed"}
            ],  # R4 encounter-location-status
            "serviceProvider": SITE_REF,
        },
        {
            "resourceType": "Appointment",
            "id": "appt-0001",
            "meta": {"security": PART2_LABELS},
            "identifier": [{"system": f"{NS}/sid/peer-contact", "value": "C-0000099"}],
            "status": "booked",  # R4 valueset-appointmentstatus
            "serviceType": [{"text": "Peer recovery support"}],
            "appointmentType": {  # THO v2-0276 appointment reason: FOLLOWUP
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "FOLLOWUP"}]
            },
            "priority": 5,
            "description": "Weekly check-in",
            "start": "2026-07-13T10:00:00-05:00",
            "end": "2026-07-13T10:30:00-05:00",
            "minutesDuration": 30,
            "created": "2026-07-06",
            "comment": "Meet at the clinic",
            "participant": [
                {"actor": PATIENT_REF, "required": "required", "status": "accepted"},  # R4 participantrequired
                {"actor": PEER_REF, "status": "accepted", "period": {"start": "2026-07-13"}},  # participationstatus
            ],
            "requestedPeriod": [{"start": "2026-07-13", "end": "2026-07-17"}],
        },
        {
            "resourceType": "CareTeam",
            "id": "ct-0001",
            "meta": {"security": PART2_LABELS},
            "identifier": [{"system": f"{NS}/sid/care-team", "value": "T-000001"}],
            "status": "active",  # R4 valueset-care-team-status
            "category": [  # LOINC LA28865-6 (shared/reference/fhir-mapping.md §2)
                {"coding": [{"system": "http://loinc.org", "code": "LA28865-6"}]}
            ],
            "name": "Peer recovery care team",
            "subject": PATIENT_REF,
            "period": {"start": "2026-01-07"},
            "participant": [{"role": [PEER_SPECIALIST], "member": PEER_REF, "period": {"start": "2026-01-07"}}],
            "managingOrganization": [SITE_REF],
            "note": [{"authorString": "Peer supervisor", "time": "2026-01-08T12:00:00Z", "text": "Team formed"}],
        },
        {
            "resourceType": "ServiceRequest",
            "id": "sr-0001",
            "meta": {"security": PART2_LABELS},
            "identifier": [{"system": f"{NS}/sid/handoff", "value": "H-0000001"}],
            "status": "active",  # R4 valueset-request-status
            "intent": "order",  # R4 valueset-request-intent
            "category": [  # SNOMED CT 3457005 Patient referral (shared/reference/fhir-mapping.md §3)
                {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}
            ],
            "priority": "urgent",  # R4 valueset-request-priority
            "code": {  # SNOMED CT 461481000124109 Referral to peer support (shared/reference/fhir-mapping.md §3)
                "coding": [{"system": "http://snomed.info/sct", "code": "461481000124109"}],
                "text": "Referral to peer support",
            },
            "quantityQuantity": {"value": 4, "unit": "visits"},
            "subject": PATIENT_REF,
            "occurrencePeriod": {"start": "2026-02-10", "end": "2026-03-10"},
            "asNeededBoolean": False,
            "authoredOn": "2026-02-10T16:45:00-05:00",
            "requester": PEER_REF,
            "performer": [SITE_REF],
            "reasonCode": [{"text": "Aftercare"}],
            "note": [{"text": "Warm handoff by phone"}],
        },
        {
            "resourceType": "Task",
            "id": "task-0001",
            "meta": {"security": PART2_LABELS},
            "identifier": [{"system": f"{NS}/sid/handoff-task", "value": "H-0000001"}],
            "basedOn": [{"reference": "ServiceRequest/sr-0001"}],
            "status": "requested",  # R4 valueset-task-status
            "intent": "order",  # R4 valueset-task-intent
            "priority": "routine",
            "code": {  # R4 CodeSystem task-code: fulfill (shared/reference/fhir-mapping.md §3)
                "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
            },
            "focus": {"reference": "ServiceRequest/sr-0001"},
            "for": PATIENT_REF,
            "executionPeriod": {"start": "2026-02-10T16:45:00-05:00"},
            "authoredOn": "2026-02-10T16:45:00-05:00",
            "lastModified": "2026-02-11T08:00:00Z",
            "requester": PEER_REF,
            "owner": SITE_REF,
            "restriction": {"repetitions": 1, "period": {"end": "2026-03-10"}},
            "input": [
                {"type": {"text": "note"}, "valueString": "Call before visiting"},
                {"type": {"text": "visits"}, "valuePositiveInt": 3},
            ],
            "output": [{"type": {"text": "outcome"}, "valueCodeableConcept": {"text": "pending"}}],
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc-0001",
            "meta": {"security": PART2_LABELS},
            "identifier": [{"system": f"{NS}/sid/enrollment", "value": "E-000001"}],
            "status": "active",  # R4 valueset-episode-of-care-status
            "statusHistory": [{"status": "planned", "period": {"start": "2026-01-05", "end": "2026-01-07"}}],
            "type": [  # THO episodeofcare-type: da (shared/reference/fhir-mapping.md §1)
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/episodeofcare-type", "code": "da"}]}
            ],
            "patient": PATIENT_REF,
            "managingOrganization": SITE_REF,
            "period": {"start": "2026-01-07"},
            "careManager": PEER_REF,
            "team": [{"reference": "CareTeam/ct-0001"}],
        },
        {
            "resourceType": "Provenance",
            "id": "prov-0001",
            "target": [{"reference": "Encounter/enc-0001"}, {"reference": "ServiceRequest/sr-0001"}],
            "occurredDateTime": "2026-01-12T11:10:00-05:00",
            "recorded": "2026-01-13T02:00:00.123Z",
            "policy": ["https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"],
            "activity": {  # THO v3-DataOperation CREATE
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE"}]
            },
            "agent": [
                {
                    "type": {  # THO provenance-participant-type: author
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                "code": "author",
                            }
                        ]
                    },
                    "who": PEER_REF,
                    "onBehalfOf": SITE_REF,
                },
                {"who": {"reference": "Device/fhirpeer"}},
            ],
            "entity": [{"role": "source", "what": {"display": "program export"}}],  # R4 provenance-entity-role
            "signature": [
                {
                    # ASTM E1762-95 1.2.840.10065.1.12.1.1 author's signature (R4 valueset-signature-type)
                    "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                    "when": "2026-01-13T02:00:00Z",
                    "who": {"reference": "Device/fhirpeer"},
                    "sigFormat": "application/jose",
                    "data": "ZXlKaGJHY2lPaUpGVXpJMU5pSjk=",
                }
            ],
        },
        {
            "resourceType": "Device",
            "id": "fhirpeer",
            "identifier": [{"system": f"{NS}/sid/software", "value": "fhirpeer"}],
            "udiCarrier": [
                {
                    "deviceIdentifier": "00844588003288",
                    "carrierAIDC": "MDEwMDg0NDU4ODAwMzI4OA==",
                    "carrierHRF": "(01)00844588003288",
                    "entryType": "soft",  # R4 valueset-udi-entry-type
                }
            ],
            "status": "active",  # R4 valueset-device-status
            "manufacturer": "fhirpeer project",
            "manufactureDate": "2026-01-01T00:00:00Z",
            "deviceName": [{"name": "fhirpeer", "type": "manufacturer-name"}],  # R4 valueset-device-nametype
            "version": [{"value": "0.1.0"}],
            "property": [
                {
                    "type": {"text": "batch size"},
                    "valueQuantity": [{"value": 200.0, "comparator": "<="}],  # R4 valueset-quantity-comparator
                    "valueCode": [{"text": "bundle"}],
                }
            ],
            "owner": SITE_REF,
            "url": "https://fhir.example.org/fhirpeer",
            "note": [{"text": "Integration adapter"}],
        },
    ]


# --- mutations -------------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def nodes(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every member value and list item of a JSON tree, with its path (not the root)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key), child
            yield from nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*path, i), child
            yield from nodes(child, (*path, i))


def _parent(root: Any, path: Path_) -> Any:
    for step in path[:-1]:
        root = root[step]
    return root


def tree_copy(value: Any) -> Any:
    """A copy of a JSON tree (several times faster than copy.deepcopy for plain dicts and lists)."""
    if isinstance(value, dict):
        return {k: tree_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tree_copy(v) for v in value]
    return value


def _replaced(resource: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = tree_copy(resource)
    _parent(out, path)[path[-1]] = value
    return out


def _deleted(resource: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = tree_copy(resource)
    del _parent(out, path)[path[-1]]
    return out


def _with_member(resource: dict[str, Any], path: Path_, key: str, value: Any) -> dict[str, Any]:
    out = tree_copy(resource)
    target = _parent(out, (*path, "")) if path else out
    target[key] = value
    return out


WRONG_TYPES: list[Any] = [None, True, False, 0, 1, -1, 1.5, 2**31, 1e300, "", " ", "x", "1", "yes", [], {}, ["x"], [{}]]
STRING_EDITS = [
    lambda s: s + " ",
    lambda s: " " + s,
    lambda s: s + "\n",
    lambda s: s.replace(" ", "  ", 1) if " " in s else s + "  x",
    lambda s: s[:-1],
    lambda s: s + "Z",
    lambda s: s.replace("T", " ", 1),
    lambda s: s + "_x",
    lambda s: s * 40,
    lambda s: "\u00a0",
    lambda s: "\x0b",
]
BAD_DATES = [
    "2024-02-30",
    "2023-02-29",
    "2024-13-01",
    "2024-3-1",
    "0000",
    "2024-03-01T10:00",
    "2024-03-01T10:00:00",
    "2024-03-01T24:00:00Z",
    "2024-03-01T10:00:00+15:00",
    "2024-03-01T10:00:60Z",
    "2024-02-30T23:59:60Z",
    "2024-03-01T10:00:00.Z",
    "10:00",
    "24:00:00",
    "10:00:00Z",
    "2024-03-01t10:00:00z",
]
GOOD_DATE_LIKE = [
    "2024",
    "2024-02",
    "2024-02-29",
    "2024-03-01T10:00:00Z",
    "2016-12-31T23:59:60Z",
    "23:59:60",
    "10:00:00.5",
]
_CHOICE_KEY = re.compile(r"^([a-z][A-Za-z]*?)(Boolean|Integer|String|DateTime|Date|Period|Reference|CodeableConcept|"
                         r"Quantity|PositiveInt|Code|Age|Range|Timing|Instant|Uri|Decimal|Duration)$")  # fmt: skip
CHOICE_VALUES: dict[str, Any] = {
    "Boolean": True,
    "Integer": 2,
    "String": "other",
    "DateTime": "2024-03-01",
    "Period": {"start": "2024-03-01"},
    "Reference": {"display": "x"},
    "CodeableConcept": {"text": "x"},
    "Quantity": {"value": 1},
}


def _primitive_variants(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["true", 1, 0, 2, "false", "True"]
    if isinstance(value, int | float):
        return [str(value), float(value), value + 0.5, -value - 1, 0, True, f" {value} "]
    if isinstance(value, str):
        out = [edit(value) for edit in STRING_EDITS]
        if re.match(r"^\d{2,4}[-:]", value):
            out += BAD_DATES + GOOD_DATE_LIKE
        return out
    return []


def mutations(resource: dict[str, Any], rng: random.Random, per_node: int = 4) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, variant) pairs: wrong JSON types, bad and borderline primitive values, unknown and doubled keys,
    missing members, list/single swaps, null items, choice conflicts, `_element` extensions, JSON-string objects
    and resourceType mismatches — at every depth of the tree. Labels carry paths and mutation names, no values."""
    rtype = resource["resourceType"]
    yield "resourceType=other", {**resource, "resourceType": "Basic"}
    yield "resource_type=other", {**resource, "resource_type": "Basic"}
    yield "unknown top-level", {**resource, "unknownElement": "x"}
    yield "contained=[]", {**resource, "contained": []}
    yield "fhir_comments", {**resource, "fhir_comments": ["generated"]}
    yield "fhir_comments bad", {**resource, "fhir_comments": [1]}
    yield "extension without url", {**resource, "extension": [{"valueString": "x"}]}
    yield "modifierExtension", {**resource, "modifierExtension": [{"url": "http://x", "valueBoolean": True}]}
    for path, value in list(nodes(resource)):
        where = ".".join(str(p) for p in path)
        if path == ("resourceType",):
            continue  # without resourceType the fast check cannot choose the model (documented)
        for wrong in rng.sample(WRONG_TYPES, per_node):
            yield f"{where}: wrong type {type(wrong).__name__}", _replaced(resource, path, tree_copy(wrong))
        for variant in rng.sample(_primitive_variants(value), min(per_node + 2, len(_primitive_variants(value)))):
            yield f"{where}: primitive edit", _replaced(resource, path, variant)
        if isinstance(path[-1], str):
            yield f"{where}: deleted", _deleted(resource, path)
            yield f"{where}: as a list", _replaced(resource, path, [tree_copy(value)])
            yield f"{where}: null", _replaced(resource, path, None)
            parent_path = path[:-1]
            key = path[-1]
            if not key.startswith("_") and not isinstance(value, dict | list):
                ext = {"extension": [{"url": f"{NS}/StructureDefinition/x", "valueString": "x"}]}
                yield f"{where}: _element", _with_member(resource, parent_path, f"_{key}", ext)
                yield f"{where}: _element id only", _with_member(resource, parent_path, f"_{key}", {"id": "a"})
                yield f"{where}: _element empty", _with_member(resource, parent_path, f"_{key}", {})
                yield f"{where}: value→_element", _with_member(_deleted(resource, path), parent_path, f"_{key}", ext)
                yield f"{where}: __ext name", _with_member(resource, parent_path, f"{key}__ext", ext)
            if key in ("class", "for"):
                yield f"{where}: python name", _with_member(_deleted(resource, path), parent_path, f"{key}_fhir", value)
                yield f"{where}: both names", _with_member(resource, parent_path, f"{key}_fhir", value)
            choice = _CHOICE_KEY.match(key)
            if choice:
                for other, other_value in CHOICE_VALUES.items():
                    if other != choice.group(2):
                        yield (
                            f"{where}: second choice",
                            _with_member(resource, parent_path, choice.group(1) + other, other_value),
                        )
                        renamed = _with_member(_deleted(resource, path), parent_path, choice.group(1) + other, value)
                        yield f"{where}: choice renamed", renamed
        if isinstance(value, list):
            yield f"{where}: empty list", _replaced(resource, path, [])
            yield f"{where}: null item", _replaced(resource, path, [*tree_copy(value), None])
            if value:
                yield f"{where}: single", _replaced(resource, path, tree_copy(value[0]))
        if isinstance(value, dict):
            yield f"{where}: empty object", _replaced(resource, path, {})
            yield f"{where}: unknown member", _replaced(resource, path, {**value, "unknownElement": 1})
            yield f"{where}: nested resourceType", _replaced(resource, path, {**value, "resourceType": rtype})
            yield f"{where}: JSON string", _replaced(resource, path, json.dumps(value))
            yield f"{where}: broken JSON string", _replaced(resource, path, json.dumps(value)[:-1])
            yield f"{where}: extension", _replaced(resource, path, {**value, "extension": [{"url": "http://x"}]})
            yield f"{where}: id", _replaced(resource, path, {**value, "id": rng.choice(["a", "", "a b", 5])})
