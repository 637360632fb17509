"""A second, independent check of everything fhirpeer emits: Medplum's validator with the R4 (4.0.1)
StructureDefinitions, instead of the R4B Python models the mapping layer uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirpeer.demo.sample import generate_program
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.settings import load_settings
from fhirpeer.sync_engine.receiver import with_requester_status
from tests.support.edge_cases import write_every_case
from tests.support.mapping import all_items
from tests.support.paths import FIXTURES
from tests.support.r4check import r4_check, unavailable_reason
from tests.support.requirements import require


@pytest.fixture(autouse=True)
def _r4check_installed() -> None:
    require(unavailable_reason(), "the R4 StructureDefinition check")


GOLDEN = FIXTURES / "golden" / "export"


def emitted(input_dir: Path, **settings: object) -> list[dict]:
    """Every resource a sync would send, with conditional references made literal as the server stores them."""
    s = load_settings(send_text_contacts=True, **settings)
    m = load_mappings()
    out = []
    for item in all_items(input_dir, m, s):
        if isinstance(item, MappedResource):
            text = json.dumps(item.resource)
            for ref in item.refs:  # NDJSON/R4 references must be Type/id; the server resolves ours
                text = text.replace(f"{ref.resource_type}?identifier=", f"{ref.resource_type}/x-").replace("|", "-")
            out.append(json.loads(text))
    return out


@pytest.mark.parametrize("source", ["golden", "sample", "every_case"])
def test_every_emitted_resource_passes_the_r4_structure_check(source, tmp_path):
    if source == "golden":
        folder = GOLDEN
    elif source == "sample":
        folder = tmp_path / "sample"
        generate_program(folder, patients=120, seed=13)
    else:
        folder = tmp_path / "every_case"
        folder.mkdir()
        write_every_case(folder)
    resources = emitted(folder)
    enrollments = set() if source == "golden" else {"EpisodeOfCare"}
    assert {r["resourceType"] for r in resources} == {
        "Organization", "Practitioner", "PractitionerRole", "Patient", "Appointment", "Encounter", "CareTeam", "Task",
        "ServiceRequest", *enrollments,
    }  # fmt: skip
    results = r4_check(resources)
    failures = [(resources[r["index"]]["resourceType"], r["issues"][:2]) for r in results if not r["ok"]]
    assert len(results) == len(resources)
    assert failures == []


def test_the_r4_check_would_catch_an_r5_shaped_encounter():
    [enc] = [r for r in emitted(GOLDEN) if r["resourceType"] == "Encounter"][:1]
    enc["class"] = [{"coding": [enc["class"]]}]
    [result] = r4_check([enc])
    assert not result["ok"]


def test_every_task_status_fhirpeer_sets_and_its_cancel_over_a_receivers_task_pass(tmp_path):
    folder = tmp_path / "every_case"
    folder.mkdir()
    write_every_case(folder)
    tasks = [r for r in emitted(folder) if r["resourceType"] == "Task"]
    assert {t["status"] for t in tasks} == set(load_mappings().task.status.values())
    # the receiver's version (accepted, with an output) cancelled by the requester: only status and reason change;
    # output type: Gravity's resulting-activity (HL7/fhir-sdoh-clinicalcare, SDOHCCCodeSystemTemporaryCodes.fsh)
    receivers = {**tasks[0], "status": "accepted", "lastModified": tasks[0]["authoredOn"], "output": [{
        "type": {"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/"
                             "SDOHCC-CodeSystemTemporaryCodes", "code": "resulting-activity"}]},
        "valueReference": {"reference": "Procedure/x-1"}}]}  # fmt: skip
    cancelled = next(t for t in tasks if t["status"] == "cancelled" and "statusReason" in t)
    overridden = with_requester_status(receivers, cancelled)
    assert overridden["output"] == receivers["output"] and overridden["status"] == "cancelled"
    results = r4_check([*tasks, overridden])
    assert [r["issues"][:2] for r in results if not r["ok"]] == []
