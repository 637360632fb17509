"""Closing the loop on warm handoffs (issue 17), against real servers: fhirpeer syncs an export with handoffs, a
receiving organisation answers the referral Tasks with plain FHIR calls, `fhirpeer outcomes` reads back what became
of each handoff, and a later sync of the unchanged export leaves every change the receiver made alone."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

import fhirpeer
from fhirpeer.cli import main
from fhirpeer.program_report.outcomes_report import outcomes_report_schema
from tests.support.exports import generate_export
from tests.support.inventory import systems, versions
from tests.support.sync_run import rows, sync, write_rows

#: The handoffs the receiver answers, and how.
ACCEPT, COMPLETE, REJECT, ENCOUNTER, SILENT = "accept", "complete", "reject", "encounter", "silent"
PLAYS = (ACCEPT, COMPLETE, REJECT, ENCOUNTER, SILENT)
#: Gravity SDOH CC "Task for Referral Management": output type for what was done (HL7/fhir-sdoh-clinicalcare,
#: input/fsh/codesystems/SDOHCCCodeSystemTemporaryCodes.fsh, #resulting-activity).
RESULTING_ACTIVITY = {
    "system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes",
    "code": "resulting-activity",
    "display": "Resulting Activity",
}
#: R4 Encounter.class, v3-ActCode AMB "ambulatory" (terminology.hl7.org).
AMBULATORY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"}
HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


class Receiver:
    """The receiving organisation's system: plain FHIR calls, its own identifier systems, nothing of fhirpeer's."""

    def __init__(self, base_url: str, namespace: str, handoff_system: str) -> None:
        self.base = base_url
        self.handoff_system = handoff_system
        self.own_system = f"{namespace}/receiver/sid/visit"  # another system's identifiers
        self.reason_system = f"{namespace}/receiver/CodeSystem/referral-decline"  # the receiver's local codes
        self.created: list[tuple[str, str]] = []

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        response = requests.get(f"{self.base}/{path}", params=params, headers=HEADERS, timeout=60)
        response.raise_for_status()
        return response.json()

    def task(self, handoff_id: str) -> dict[str, Any]:
        bundle = self._get("Task", identifier=f"{self.handoff_system}|{handoff_id}")
        (entry,) = [e for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"]
        return entry["resource"]

    def service_request(self, handoff_id: str) -> dict[str, Any]:
        bundle = self._get("ServiceRequest", identifier=f"{self.handoff_system}|{handoff_id}")
        (entry,) = bundle["entry"]
        return entry["resource"]

    def move(self, handoff_id: str, status: str, at: datetime, **elements: Any) -> dict[str, Any]:
        task = {**self.task(handoff_id), "status": status, "lastModified": at.isoformat(), **elements}
        response = requests.put(f"{self.base}/Task/{task['id']}", data=json.dumps(task), headers=HEADERS, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, resource: dict[str, Any]) -> dict[str, Any]:
        rtype = resource["resourceType"]
        response = requests.post(f"{self.base}/{rtype}", data=json.dumps(resource), headers=HEADERS, timeout=60)
        assert response.status_code == 201, response.text
        body = response.json() if response.content else {}
        rid = body.get("id") or response.headers["Location"].split(f"{rtype}/", 1)[1].split("/", 1)[0]
        self.created.append((rtype, rid))
        return {**resource, "id": rid}

    def done_with(self, handoff_id: str, at: datetime) -> dict[str, Any]:
        """What the receiver did for a handoff it completes: a Procedure of its own (Gravity's output)."""
        sr = self.service_request(handoff_id)
        return self.post({
            "resourceType": "Procedure",
            "identifier": [{"system": self.own_system, "value": f"proc-{handoff_id}"}],
            "status": "completed",
            "subject": sr["subject"],
            "basedOn": [{"reference": f"ServiceRequest/{sr['id']}"}],
            "performedDateTime": at.isoformat(),
        })  # fmt: skip

    def visit(self, handoff_id: str, at: datetime) -> dict[str, Any]:
        """The receiver records the patient's first visit, based on the handoff's ServiceRequest."""
        sr = self.service_request(handoff_id)
        return self.post({
            "resourceType": "Encounter",
            "identifier": [{"system": self.own_system, "value": f"visit-{handoff_id}"}],
            "status": "finished",
            "class": AMBULATORY,
            "subject": sr["subject"],
            "basedOn": [{"reference": f"ServiceRequest/{sr['id']}"}],
            "period": {"start": at.isoformat(), "end": (at + timedelta(hours=1)).isoformat()},
        })  # fmt: skip

    def clean_up(self) -> None:
        for rtype, rid in reversed(self.created):
            requests.delete(f"{self.base}/{rtype}/{rid}", timeout=60)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A sample export whose first five handoffs are active (Task requested), one per play."""
    out = tmp_path / "export"
    generate_export(out, patients=10, seed=8)
    handoffs = rows(out / "handoffs.csv")
    assert len(handoffs) >= len(PLAYS)
    for row in handoffs[: len(PLAYS)]:
        row["status"] = "active"
    write_rows(out / "handoffs.csv", handoffs)
    return out


@pytest.fixture
def receiver(fhir_base_url: str, test_namespace: str) -> Iterator[Receiver]:
    r = Receiver(fhir_base_url, test_namespace, systems(test_namespace)["Task"])
    yield r
    r.clean_up()


def outcomes_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["handoff_id"]: row for row in csv.DictReader(handle)}


def run_outcomes(base_url: str, namespace: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "outcomes-report.json"
    code = main([
        "outcomes", "--server", base_url, "--namespace", namespace, "--state", str(tmp_path / "state.sqlite"),
        "--out", str(tmp_path / "outcomes.csv"), "--report-json", str(report), *extra,
    ])  # fmt: skip
    return code, json.loads(report.read_text())


def test_the_receiver_answers_and_outcomes_reads_each_answer_back(
    fhir_base_url: str, test_namespace: str, export: Path, tmp_path: Path, receiver: Receiver
) -> None:
    code, first = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, first
    handoffs = rows(export / "handoffs.csv")
    key = {play: row["handoff_id"] for play, row in zip(PLAYS, handoffs, strict=False)}
    asked = {row["handoff_id"]: datetime.fromisoformat(row["requested_at"]) for row in handoffs}

    # the receiver answers, with plain FHIR calls
    receiver.move(key[ACCEPT], "accepted", asked[key[ACCEPT]] + timedelta(days=1))
    done_at = asked[key[COMPLETE]] + timedelta(days=3)
    procedure = receiver.done_with(key[COMPLETE], done_at)
    output = [
        {"type": {"coding": [RESULTING_ACTIVITY]}, "valueReference": {"reference": f"Procedure/{procedure['id']}"}}
    ]
    receiver.move(key[COMPLETE], "completed", done_at, output=output)
    decline = {"coding": [{"system": receiver.reason_system, "code": "no-capacity"}], "text": "No capacity"}
    receiver.move(key[REJECT], "rejected", asked[key[REJECT]] + timedelta(days=2), statusReason=decline)
    visit = receiver.visit(key[ENCOUNTER], asked[key[ENCOUNTER]] + timedelta(days=5))
    moved_versions = versions(fhir_base_url, test_namespace, "Task")

    code, report = run_outcomes(fhir_base_url, test_namespace, tmp_path)
    assert code == 0, report
    jsonschema.validate(report, outcomes_report_schema())
    assert report["polled"] and report["full_read"] and report["mark"]
    csv_rows = outcomes_csv(tmp_path / "outcomes.csv")
    assert set(csv_rows) == {row["handoff_id"] for row in handoffs}  # every handoff fhirpeer wrote
    got = {
        play: (r["outcome"], r["evidence"], r["reason"], r["days_to_linkage"])
        for play, r in ((p, csv_rows[key[p]]) for p in PLAYS)
    }
    assert got == {
        ACCEPT: ("in_progress", "task:accepted", "", ""),
        COMPLETE: ("linked", "task:completed", "", "3.0"),
        REJECT: ("not_linked", "task:rejected", "no-capacity", ""),
        ENCOUNTER: ("linked", f"encounter:{visit['id']}", "", "5.0"),
        SILENT: ("pending", "task:requested", "", ""),
    }
    assert datetime.fromisoformat(csv_rows[key[COMPLETE]]["decided_at"]) == done_at
    assert report["counts"]["pending"] >= 1 and sum(report["counts"].values()) == len(handoffs)

    # one more answer; an incremental run picks up that one change, and the CSV stays complete
    receiver.move(key[SILENT], "accepted", asked[key[SILENT]] + timedelta(days=4))
    settings = fhirpeer.Settings(server=fhir_base_url, namespace=test_namespace, state=tmp_path / "state.sqlite")
    result = fhirpeer.outcomes(settings, tmp_path / "outcomes.csv", force=True, overlap=timedelta(0))
    assert result.report.polled and not result.report.full_read
    assert result.report.redecided == 1
    assert result.report.changes == {"in_progress": [key[SILENT]]}
    csv_rows = outcomes_csv(tmp_path / "outcomes.csv")
    assert set(csv_rows) == {row["handoff_id"] for row in handoffs}
    assert (csv_rows[key[SILENT]]["outcome"], csv_rows[key[SILENT]]["evidence"]) == ("in_progress", "task:accepted")
    assert csv_rows[key[ENCOUNTER]]["outcome"] == "linked"  # kept from the first run

    # a sync of the unchanged export moves nothing the receiver changed, and says so
    tasks_before = versions(fhir_base_url, test_namespace, "Task")
    requests_before = versions(fhir_base_url, test_namespace, "ServiceRequest")
    assert {k: v for k, v in tasks_before.items() if k != key[SILENT]} == {
        k: v for k, v in moved_versions.items() if k != key[SILENT]
    }
    code, again = sync(fhir_base_url, test_namespace, export, tmp_path)
    assert code == 0, again
    assert versions(fhir_base_url, test_namespace, "Task") == tasks_before
    assert versions(fhir_base_url, test_namespace, "ServiceRequest") == requests_before
    kept = {(c["resourceType"], c["id"]) for c in again["changed_by_receiver"]}
    assert kept == {("Task", key[p]) for p in (ACCEPT, COMPLETE, REJECT, SILENT)}
    assert again["counts"]["Task"]["changed_by_receiver"] == 4
    assert sum(c["created"] + c["updated"] for c in again["counts"].values()) == 0
