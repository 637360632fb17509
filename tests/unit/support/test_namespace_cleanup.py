"""The clean-up the test-suite runs against $FHIRPEER_TEST_SERVER deletes only a test's own namespace."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.support.inventory import CLEANUP_ORDER, delete_namespace, inventory, namespace_systems

BASE = "https://sandbox.example.org/baseR4"
NS = "https://fhirpeer.test/0123456789ab"
OTHER = "https://fhirpeer.test/ba9876543210"


def searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def resource(rtype: str, rid: str, system: str) -> dict:
    return {"resourceType": rtype, "id": rid, "identifier": [{"system": system, "value": f"k-{rid}"}]}


@pytest.fixture(autouse=True)
def _no_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FHIRPEER_AUTH", raising=False)


@responses.activate
def test_deletes_only_resources_carrying_the_namespace_dependants_first():
    systems = namespace_systems(NS)
    foreign = namespace_systems(OTHER)
    for rtype in CLEANUP_ORDER:
        # a server ignoring the identifier parameter answers with everything, foreign resources included
        mine = resource(rtype, f"{rtype[:3].lower()}1", systems[rtype])
        theirs = resource(rtype, f"{rtype[:3].lower()}2", foreign[rtype])
        responses.get(f"{BASE}/{rtype}", json=searchset(mine, theirs))
        responses.get(f"{BASE}/{rtype}", json=searchset())  # second pass: nothing left
        responses.delete(f"{BASE}/{rtype}/{mine['id']}", status=204)

    deleted = delete_namespace(BASE, NS)

    assert deleted == dict.fromkeys(CLEANUP_ORDER, 1)
    deletes = [
        urlsplit(c.request.url).path.rsplit("/", 2)[-2:] for c in responses.calls if c.request.method == "DELETE"
    ]
    assert [t for t, _ in deletes] == list(CLEANUP_ORDER)  # ServiceRequest … before Patient … Organization
    assert all(rid.endswith("1") for _, rid in deletes)  # never a resource of another namespace
    searches = [c.request for c in responses.calls if c.request.method == "GET"]
    first = dict(parse_qsl(urlsplit(searches[0].url).query))
    assert first["identifier"] == f"{systems['Communication']}|"
    assert all(r.headers["Cache-Control"] == "no-cache" for r in searches)


@responses.activate
@pytest.mark.parametrize("status", [403, 405])
def test_a_server_refusing_delete_is_left_alone(status):
    systems = namespace_systems(NS)
    for rtype in CLEANUP_ORDER:
        responses.get(
            f"{BASE}/{rtype}",
            json=searchset(resource(rtype, "a1", systems[rtype]), resource(rtype, "a2", systems[rtype])),
        )
        responses.delete(f"{BASE}/{rtype}/a1", status=status)

    assert delete_namespace(BASE, NS) == {}
    deletes = [c for c in responses.calls if c.request.method == "DELETE"]
    assert len(deletes) == len(CLEANUP_ORDER)  # one refused DELETE per type, then that type is left alone


@responses.activate
def test_a_still_referenced_resource_is_retried_in_the_next_pass():
    systems = namespace_systems(NS)
    patient = resource("Patient", "p1", systems["Patient"])
    for rtype in CLEANUP_ORDER:
        if rtype != "Patient":
            responses.get(f"{BASE}/{rtype}", json=searchset())
    responses.get(f"{BASE}/Patient", json=searchset(patient))
    responses.get(f"{BASE}/Patient", json=searchset(patient))
    responses.get(f"{BASE}/Patient", json=searchset())
    responses.delete(f"{BASE}/Patient/p1", status=409, json={"resourceType": "OperationOutcome", "issue": []})
    responses.delete(f"{BASE}/Patient/p1", status=200)

    assert delete_namespace(BASE, NS) == {"Patient": 1}


@responses.activate
def test_helpers_use_the_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FHIRPEER_AUTH", "bearer")
    monkeypatch.setenv("FHIRPEER_BEARER_TOKEN", "test-token-123")
    systems = namespace_systems(NS)
    for rtype in CLEANUP_ORDER:
        responses.get(f"{BASE}/{rtype}", json=searchset())
    responses.get(f"{BASE}/Encounter", json=searchset(resource("Encounter", "e1", systems["Encounter"])))

    assert delete_namespace(BASE, NS) == {}
    assert inventory(BASE, NS, "Encounter") == {"k-e1": [resource("Encounter", "e1", systems["Encounter"])]}
    assert {c.request.headers["Authorization"] for c in responses.calls} == {"Bearer test-token-123"}
