"""Every resource the mappers emit passes HAPI FHIR's request validator (issue 12).

A HAPI FHIR JPA server with request validation on (`tools/hapi-server --validation`: R4 StructureDefinitions,
invariants and the FHIR core code systems; codes of systems it cannot resolve, SNOMED CT and local ones, are
warnings) receives, as one transaction of `PUT Type/id`, everything the mappers emit for three exports: the
golden export, the sample program, and an export with every coded value (no-shows, entered-in-error, ED settings,
champion PCPs, blank genders and names, every handoff kind). References are rewritten to those ids, as the sync
engine makes them literal. HAPI refusing anything is a mapping bug.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fhirpeer.demo.sample import generate_program
from fhirpeer.mappers import MappedResource, match_url
from fhirpeer.mapping_files import Mappings, load_mappings
from fhirpeer.settings import Settings
from tests.support.edge_cases import write_every_case
from tests.support.hapi import HapiServer, hapi_unavailable
from tests.support.mapping import all_items
from tests.support.paths import FIXTURES
from tests.support.requirements import require

GOLDEN = FIXTURES / "golden" / "export"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def validating_hapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(hapi_unavailable(), "the HAPI request validator")
    with HapiServer(tmp_path_factory.mktemp("hapi-validating"), validation=True) as hapi:
        yield hapi.base_url


def server_id(source: str, key: str) -> str:
    """A HAPI client id (letters, digits, `-`, `.`; at most 64; never all digits) for one export's key."""
    return f"{source}-{re.sub(r'[^A-Za-z0-9.-]', '-', key)}"[:64]


def transaction(base_url: str, exports: dict[str, tuple[Path, Mappings]]) -> tuple[dict[str, Any], list[str]]:
    """One transaction of `PUT Type/id` with every resource whose references resolve inside it, and the
    `Type/key` of those left out (references to records the export rejected)."""
    items: list[tuple[str, Mappings, MappedResource]] = []
    for source, (folder, mappings) in exports.items():
        settings = Settings(send_text_contacts=True, site_timezone="America/New_York")
        items += [(source, mappings, i) for i in all_items(folder, mappings, settings) if isinstance(i, MappedResource)]
    present = {(source, str(i.resource_type), i.key) for source, _, i in items}
    entries, left_out = [], []
    for source, mappings, item in items:
        missing = [r for r in item.refs if (source, str(r.resource_type), r.key) not in present]
        if missing:
            left_out.append(f"{source} {item.resource_type}/{item.key}")
            continue
        text = json.dumps(item.resource)
        for ref in item.refs:
            literal = f"{ref.resource_type}/{server_id(source, ref.key)}"
            text = text.replace(json.dumps(match_url(mappings, ref.resource_type, ref.key)), json.dumps(literal))
        resource = json.loads(text)
        assert "?identifier=" not in text, item.key  # every reference made literal
        rid = server_id(source, item.key)
        resource["id"] = rid
        url = f"{item.resource_type}/{rid}"
        entries.append({"fullUrl": f"{base_url}/{url}", "resource": resource, "request": {"method": "PUT", "url": url}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, left_out


def test_hapis_request_validator_accepts_every_emitted_resource(validating_hapi: str, tmp_path: Path) -> None:
    sample, every_case = tmp_path / "sample", tmp_path / "every-case"
    generate_program(sample, patients=12, seed=7)
    every_case.mkdir()
    write_every_case(every_case)
    exports = {
        name: (folder, load_mappings(namespace=f"https://fhirpeer.test/{name}"))
        for name, folder in (("golden", GOLDEN), ("sample", sample), ("cases", every_case))
    }
    bundle, left_out = transaction(validating_hapi, exports)
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert types == {
        "Organization", "Practitioner", "PractitionerRole", "Patient", "Appointment", "Encounter", "CareTeam",
        "ServiceRequest", "Task", "EpisodeOfCare",
    }  # fmt: skip
    of_type = {t: [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == t] for t in types}
    assert {a["status"] for a in of_type["Appointment"]} == {
        "booked",
        "cancelled",
        "noshow",
        "fulfilled",
        "entered-in-error",
    }
    assert {e["class"]["code"] for e in of_type["Encounter"]} == {"AMB", "FLD", "HH", "IMP", "EMER", "VR"}
    assert {e["status"] for e in of_type["EpisodeOfCare"]} == {
        "planned", "active", "finished", "cancelled", "entered-in-error",
    }  # fmt: skip
    assert any(e.get("episodeOfCare") for e in of_type["Encounter"])
    # every reference resolves: the golden export's rejected rows are records nothing points at
    assert left_out == [], left_out

    response = requests.post(
        validating_hapi, data=json.dumps(bundle), headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}, timeout=600
    )
    assert response.status_code == 200, _errors(response)
    answers = response.json()["entry"]
    assert len(answers) == len(bundle["entry"])
    assert all(a["response"]["status"].startswith(("200", "201")) for a in answers)


def test_the_validator_refuses_what_r4_forbids(validating_hapi: str) -> None:
    """The check can fail: an Appointment with a start but no end breaks R4 app-2 and is refused."""
    appointment = {
        "resourceType": "Appointment",
        "id": "bad-appointment",
        "status": "booked",
        "start": "2026-01-05T10:00:00-05:00",
        "participant": [{"actor": {"display": "someone"}, "status": "accepted"}],
    }
    response = requests.put(
        f"{validating_hapi}/Appointment/bad-appointment",
        data=json.dumps(appointment),
        headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        timeout=120,
    )
    assert response.status_code in (400, 422), response.status_code
    assert "app-2" in response.text or "app-3" in response.text


def _errors(response: requests.Response) -> str:
    """The error issues of HAPI's answer: severity, location and diagnostics (synthetic test data only)."""
    try:
        issues = response.json().get("issue", [])
    except ValueError:
        return response.text[:2000]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")]
    return "\n".join(f"{i.get('location')}: {i.get('diagnostics')}" for i in errors[:30]) or response.text[:2000]
