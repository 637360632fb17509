"""Test-only FHIR R4 resources shaped as fhirpeer writes them (issue 16/17 briefs), and a way to load them.

This is not the sync's mapper: it builds just the elements the report reads, from a CSV export or by hand,
so the report's fetch and extraction can be tested against a real server before the mapping exists.
Logical ids are ``<prefix>-<key>`` (alphanumeric, so HAPI accepts them as client-assigned ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

from fhirpeer.program_report.systems import Systems
from tests.support.cohort_model import ENCOUNTER_STATUS, EPISODE_STATUS, SERVICE_REQUEST_STATUS, TASK_STATUS, rows

# Codes as shared/reference/fhir-mapping.md gives them: SNOMED CT encounter types (§1, verified on tx.fhir.org),
# v3-ActCode classes AMB/VR (§1, terminology.hl7.org), episodeofcare-type#da (§1), task-code#fulfill (§3, Gravity
# SDOH Clinical Care Task for referral management), v3-ParticipationType PPRF and the Part 2 labels (§1, §4).
SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
EPISODE_TYPE = "http://terminology.hl7.org/CodeSystem/episodeofcare-type"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PPRF = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}
PART2 = [
    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"},
]
MODE_SNOMED = {
    "telephone": ("185317003", "Telephone encounter"),
    "video": ("719410009", "Consultation via video conference"),
    "in_person": ("308335008", "Patient encounter procedure"),
    "text": ("308335008", "Patient encounter procedure"),
}
MODE_CLASS = {"telephone": "VR", "video": "VR", "text": "VR", "in_person": "AMB"}
Resource = dict[str, Any]


class FhirBuilder:
    """Resources for one namespace; ``prefix`` keeps ids unique on a shared server."""

    def __init__(self, systems: Systems, prefix: str) -> None:
        self.s = systems
        self.prefix = prefix

    def id(self, kind: str, key: str) -> str:
        return f"{self.prefix}-{kind}-{key}"[:64]

    def ref(self, resource_type: str, kind: str, key: str) -> dict[str, str]:
        return {"reference": f"{resource_type}/{self.id(kind, key)}"}

    def patient(self, mrn: str) -> Resource:
        return {
            "resourceType": "Patient",
            "id": self.id("pat", mrn),
            "identifier": [{"system": self.s.patient, "value": mrn}],
        }

    def practitioner(self, staff_id: str) -> Resource:
        return {
            "resourceType": "Practitioner",
            "id": self.id("prac", staff_id),
            "identifier": [{"system": self.s.practitioner, "value": staff_id}],
        }

    def encounter(
        self,
        key: str | None,
        mrn: str,
        start: str,
        *,
        mode: str | None = "telephone",
        status: str = "finished",
        minutes: int | None = None,
        peer: str | None = None,
        handoffs: Iterable[str] = (),
        enrollment: str | None = None,
        resource_id: str | None = None,
    ) -> Resource:
        """``key=None`` and ``mode=None``: an Encounter another system wrote (no identifier, no mode coding)."""
        res: Resource = {
            "resourceType": "Encounter",
            "id": resource_id or self.id("enc", key or "x"),
            "status": status,
            "class": {"system": ACT_CODE, "code": MODE_CLASS.get(mode or "in_person", "AMB")},
            "subject": self.ref("Patient", "pat", mrn),
            "period": {"start": start},
            "meta": {"security": PART2},
        }
        if key is not None:
            res["identifier"] = [{"system": self.s.contact, "value": key}]
        if mode is not None:
            code, display = MODE_SNOMED[mode]
            res["type"] = [
                {
                    "coding": [
                        {"system": self.s.contact_mode, "code": mode},
                        {"system": SNOMED, "code": code, "display": display},
                    ]
                }
            ]
        if minutes is not None:
            res["length"] = {"value": minutes, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
        if peer:
            res["participant"] = [
                {
                    "type": [{"coding": [PPRF]}],
                    "individual": self.ref("Practitioner", "prac", peer),
                }
            ]
        if handoffs:
            res["basedOn"] = [self.ref("ServiceRequest", "sr", h) for h in handoffs]
        if enrollment:
            res["episodeOfCare"] = [self.ref("EpisodeOfCare", "eoc", enrollment)]
        return res

    def episode(
        self,
        key: str | None,
        mrn: str,
        status: str,
        start: str,
        *,
        end: str | None = None,
        peer: str | None = None,
        program: str = "primary_care_peer",
        referral: str | None = None,
        resource_id: str | None = None,
    ) -> Resource:
        period = {"start": start, **({"end": end} if end else {})}
        res: Resource = {
            "resourceType": "EpisodeOfCare",
            "id": resource_id or self.id("eoc", key or "x"),
            "status": status,
            "type": [{"coding": [{"system": self.s.program, "code": program}, {"system": EPISODE_TYPE, "code": "da"}]}],
            "patient": self.ref("Patient", "pat", mrn),
            "period": period,
            "meta": {"security": PART2},
        }
        if key is not None:
            res["identifier"] = [{"system": self.s.enrollment, "value": key}]
        if peer:
            res["careManager"] = self.ref("Practitioner", "prac", peer)
        if referral:
            res["referralRequest"] = [self.ref("ServiceRequest", "sr", referral)]
        return res

    def service_request(self, key: str, mrn: str, kind: str, status: str, authored: str) -> Resource:
        return {
            "resourceType": "ServiceRequest",
            "id": self.id("sr", key),
            "identifier": [{"system": self.s.handoff, "value": key}],
            "status": status,
            "intent": "order",
            "code": {
                "coding": [
                    {"system": self.s.handoff_kind, "code": kind},
                    {"system": SNOMED, "code": "461481000124109", "display": "Referral to peer support"},
                ],
                "text": kind,
            },
            "subject": self.ref("Patient", "pat", mrn),
            "authoredOn": authored,
            "meta": {"security": PART2},
        }

    def task(
        self,
        key: str | None,
        handoff: str,
        mrn: str,
        status: str,
        *,
        authored: str,
        last_modified: str | None = None,
        reason_code: str | None = None,
        reason_text: str | None = None,
        outputs: int = 0,
        resource_id: str | None = None,
    ) -> Resource:
        """``key=None``: a Task the receiver's system created (no fhirpeer identifier)."""
        res: Resource = {
            "resourceType": "Task",
            "id": resource_id or self.id("task", key or handoff),
            "status": status,
            "intent": "order",
            "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
            "focus": self.ref("ServiceRequest", "sr", handoff),
            "for": self.ref("Patient", "pat", mrn),
            "authoredOn": authored,
            "lastModified": last_modified or authored,
            "meta": {"security": PART2},
        }
        if key is not None:
            res["identifier"] = [{"system": self.s.handoff, "value": key}]
        if reason_code or reason_text:
            reason: Resource = {}
            if reason_code:
                reason["coding"] = [{"system": "http://example.org/CodeSystem/referral-reason", "code": reason_code}]
            if reason_text:
                reason["text"] = reason_text
            res["statusReason"] = reason
        if outputs:
            res["output"] = [
                {
                    "type": {"text": "result"},
                    "valueCodeableConcept": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
                }
                for _ in range(outputs)
            ]
        return res

    def from_export(self, export: Path) -> list[Resource]:
        """The resources a sync of ``export`` would leave (only what the report reads)."""
        out: list[Resource] = [self.patient(r["patient_mrn"]) for r in rows(export / "patients.csv")]
        out += [self.practitioner(r["staff_id"]) for r in rows(export / "staff.csv")]
        handoffs = list(rows(export / "handoffs.csv"))
        out += [
            self.service_request(
                r["handoff_id"], r["patient_mrn"], r["kind"], SERVICE_REQUEST_STATUS[r["status"]], r["requested_at"]
            )
            for r in handoffs
        ]
        out += [
            self.task(
                r["handoff_id"], r["handoff_id"], r["patient_mrn"], TASK_STATUS[r["status"]], authored=r["requested_at"]
            )
            for r in handoffs
            if r["status"] in TASK_STATUS
        ]
        out += [
            self.episode(
                r["enrollment_id"],
                r["patient_mrn"],
                EPISODE_STATUS[r["status"]],
                r["start_date"],
                end=r["end_date"] or None,
                peer=r["peer_id"] or None,
                program=r["program"],
                referral=r["referral_handoff_id"] or None,
            )
            for r in rows(export / "enrollments.csv")
        ]
        out += [
            self.encounter(
                r["contact_id"],
                r["patient_mrn"],
                r["start"],
                mode=r["mode"],
                status=ENCOUNTER_STATUS[r["status"]],
                minutes=int(r["duration_min"]) if r["duration_min"] else None,
                peer=r["peer_id"],
                handoffs=[r["handoff_id"]] if r["handoff_id"] else [],
                enrollment=r["enrollment_id"] or None,
            )
            for r in rows(export / "peer_contacts.csv")
            if r["status"] in ENCOUNTER_STATUS
        ]
        return out


def put_all(base_url: str, resources: Iterable[Resource], *, chunk: int = 400) -> None:
    """Write resources with plain HTTP: transaction Bundles of ``PUT Type/id`` (update as create)."""
    items = list(resources)
    for i in range(0, len(items), chunk):
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in items[i : i + chunk]
            ],
        }
        response = requests.post(base_url, json=bundle, headers={"Content-Type": "application/fhir+json"}, timeout=120)
        assert response.status_code == 200, response.text[:500]
