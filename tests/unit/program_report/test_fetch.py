"""The reader's fallbacks for servers that refuse or ignore a search parameter.

The embedded server shows one case (sekmet ignores an unknown parameter and says so in the Bundle; see
tests/server/test_program_report_fetch.py). These are the others no local server shows: HAPI refuses an
unknown parameter with 400, and some servers drop a parameter silently (only the self link tells).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from fhirpeer.program_report import Systems, fetch_handoff_evidence
from fhirpeer.program_report.fetch import PAGE_SIZE
from fhirpeer.transport.client import FhirClient
from fhirpeer.transport.retry import RetryPolicy
from tests.support.cohort_fhir import FhirBuilder

BASE = "https://fhir.test/R4"
SYSTEMS = Systems.for_namespace("https://fhir.example.org")
B = FhirBuilder(SYSTEMS, "t")
AUTHORED = "2025-06-01T10:00:00-04:00"


def bundle(resources: list[dict[str, Any]], self_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if self_url:
        body["link"] = [{"relation": "self", "url": self_url}]
    return body


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(max_attempts=1), sleep=lambda _: None)


SR = B.service_request("H1", "P1", "aftercare_peer", "active", AUTHORED)
EPISODE = B.episode(None, "P1", "active", "2025-06-10", referral="H1", resource_id="r-eoc")
UNRELATED = B.episode(None, "P1", "active", "2025-06-11", resource_id="r-other")
UNKNOWN = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
           "diagnostics": "HAPI-0524: Unknown search parameter \"incoming-referral\""}]}  # fmt: skip


@responses.activate
def test_a_refused_reference_search_falls_back_to_the_patient_and_matches_here() -> None:
    def episodes(request: Any) -> tuple[int, dict[str, str], str]:
        q = query(request)
        if "incoming-referral" in q:
            return 400, {}, json.dumps(UNKNOWN)
        assert q["patient"] == ["Patient/t-pat-P1"] and q["_count"] == [str(PAGE_SIZE)]
        return 200, {}, json.dumps(bundle([EPISODE, UNRELATED]))

    responses.get(f"{BASE}/ServiceRequest", json=bundle([SR]))
    responses.get(f"{BASE}/Task", json=bundle([]))
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    responses.add_callback(responses.GET, f"{BASE}/EpisodeOfCare", callback=episodes)
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS)
    assert [r["id"] for r in result.of_type("EpisodeOfCare")] == ["r-eoc"]
    assert result.warnings == [
        "EpisodeOfCare: the server does not support search by incoming-referral; searched by patient and "
        "matched referralRequest here"
    ]


@responses.activate
def test_when_neither_search_works_the_evidence_is_left_out_with_a_warning() -> None:
    responses.get(f"{BASE}/ServiceRequest", json=bundle([SR]))
    responses.get(f"{BASE}/Task", json=bundle([]))
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    responses.get(f"{BASE}/EpisodeOfCare", status=400, json=UNKNOWN)
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS)
    assert result.of_type("EpisodeOfCare") == []
    assert any("neither incoming-referral nor patient" in w for w in result.warnings)


@responses.activate
def test_a_silently_ignored_identifier_search_reads_the_type_and_keeps_the_programs() -> None:
    foreign = B.service_request("X", "P2", "other", "active", AUTHORED)
    foreign["identifier"] = [{"system": "https://other.example.org/sid/referral", "value": "X"}]
    calls: list[dict[str, list[str]]] = []

    def service_requests(request: Any) -> tuple[int, dict[str, str], str]:
        calls.append(query(request))
        # the self link shows which parameters the server applied: not the identifier
        return 200, {}, json.dumps(bundle([SR, foreign], self_url=f"{BASE}/ServiceRequest?_count=200"))

    responses.add_callback(responses.GET, f"{BASE}/ServiceRequest", callback=service_requests)
    responses.get(f"{BASE}/Task", json=bundle([]))
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    responses.get(f"{BASE}/EpisodeOfCare", json=bundle([]))
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS)
    assert [r["id"] for r in result.of_type("ServiceRequest")] == ["t-sr-H1"]
    assert "identifier" in calls[0] and "identifier" not in calls[1]
    assert any("ServiceRequest: the server does not support search by identifier system" in w for w in result.warnings)


@responses.activate
def test_reference_searches_go_in_chunks_of_forty() -> None:
    srs = [B.service_request(f"H{i}", f"P{i}", "housing", "active", AUTHORED) for i in range(95)]
    seen: list[int] = []

    def tasks(request: Any) -> tuple[int, dict[str, str], str]:
        q = query(request)
        if "focus" in q:
            seen.append(len(q["focus"][0].split(",")))
        return 200, {}, json.dumps(bundle([]))

    responses.get(f"{BASE}/ServiceRequest", json=bundle(srs))
    responses.add_callback(responses.GET, f"{BASE}/Task", callback=tasks)
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    responses.get(f"{BASE}/EpisodeOfCare", json=bundle([]))
    with client() as c:
        fetch_handoff_evidence(c, SYSTEMS)
    assert seen == [40, 40, 15]
