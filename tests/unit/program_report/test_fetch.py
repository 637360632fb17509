"""The reader's fallbacks for servers that refuse or ignore a search parameter.

The embedded server shows one case (sekmet ignores an unknown parameter and says so in the Bundle; see
tests/server/test_program_report_fetch.py). These are the others no local server shows: HAPI refuses an
unknown parameter with 400, and some servers drop a parameter silently (only the self link tells).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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


def _stamped(resource: dict[str, Any], last_updated: str) -> dict[str, Any]:
    return {**resource, "meta": {"lastUpdated": last_updated}}


SINCE = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)
OLD, NEW = "2025-06-05T11:00:00.000Z", "2025-06-05T12:30:00.000Z"


@responses.activate
def test_an_incremental_read_with_known_handoffs_asks_only_for_what_changed() -> None:
    """H1 is known from an earlier run and its Task changed; H2 is new; H3 is known and quiet."""
    sr1 = _stamped(B.service_request("H1", "P1", "housing", "active", AUTHORED), OLD)
    sr2 = _stamped(B.service_request("H2", "P2", "legal", "active", AUTHORED), NEW)
    task1 = _stamped(B.task("H1", "H1", "P1", "accepted", authored=AUTHORED), NEW)
    calls: list[tuple[str, dict[str, list[str]]]] = []

    def answer(resource_type: str, resources: list[dict[str, Any]]) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            q = query(request)
            calls.append((resource_type, q))
            if "_id" in q:
                found = [r for r in resources if r["id"] in q["_id"][0].split(",")]
            elif "_lastUpdated" in q:
                found = [r for r in resources if r["meta"]["lastUpdated"] > q["_lastUpdated"][0][2:]]
            else:
                found = resources
            page = {**bundle(found), "meta": {"lastUpdated": "2025-06-05T13:00:00.000Z"}}
            return 200, {}, json.dumps(page)

        return callback

    responses.add_callback(responses.GET, f"{BASE}/ServiceRequest", callback=answer("ServiceRequest", [sr1, sr2]))
    responses.add_callback(responses.GET, f"{BASE}/Task", callback=answer("Task", [task1]))
    responses.add_callback(responses.GET, f"{BASE}/Encounter", callback=answer("Encounter", []))
    responses.add_callback(responses.GET, f"{BASE}/EpisodeOfCare", callback=answer("EpisodeOfCare", []))
    known = {"t-sr-H1": "t-pat-P1", "t-sr-H3": "t-pat-P3"}
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS, since=SINCE, known=known)

    assert sorted(r["id"] for r in result.of_type("ServiceRequest")) == ["t-sr-H1", "t-sr-H2"]
    assert [r["id"] for r in result.of_type("Task")] == [task1["id"]]
    first_type, first = calls[0]
    assert first_type == "ServiceRequest" and first["_lastUpdated"] == ["gt2025-06-05T12:00:00.000Z"]
    assert not any(t == "ServiceRequest" and "_lastUpdated" not in q and "_id" not in q for t, q in calls)
    # the change searches cover the known handoffs and the new one
    focus = [q["focus"][0] for t, q in calls if t == "Task" and "focus" in q and "_lastUpdated" in q]
    assert focus == ["ServiceRequest/t-sr-H1,ServiceRequest/t-sr-H2,ServiceRequest/t-sr-H3"]
    # H1's ServiceRequest did not change itself: it is read by id
    assert ("ServiceRequest", {"_id": ["t-sr-H1"], "_count": [str(PAGE_SIZE)]}) in calls
    assert result.server_time == datetime(2025, 6, 5, 13, 0, tzinfo=UTC)
    assert result.complete and result.warnings == []


@responses.activate
def test_a_server_refusing_last_updated_is_read_in_full_and_the_changes_picked_out_here() -> None:
    sr_old = _stamped(B.service_request("H1", "P1", "housing", "active", AUTHORED), OLD)
    sr_new = _stamped(B.service_request("H2", "P2", "housing", "active", AUTHORED), NEW)

    def strict(resources: list[dict[str, Any]]) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            if "_lastUpdated" in query(request):
                return 400, {}, json.dumps(UNKNOWN)
            return 200, {"Date": "Thu, 05 Jun 2025 13:00:00 GMT"}, json.dumps(bundle(resources))

        return callback

    responses.add_callback(responses.GET, f"{BASE}/ServiceRequest", callback=strict([sr_old, sr_new]))
    for rtype in ("Task", "Encounter", "EpisodeOfCare"):
        responses.add_callback(responses.GET, f"{BASE}/{rtype}", callback=strict([]))
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS, since=SINCE, known={})
    assert [r["id"] for r in result.of_type("ServiceRequest")] == ["t-sr-H2"]
    assert (
        "ServiceRequest: the server refused search by _lastUpdated; read in full and picked out what changed "
        "here" in result.warnings
    )
    # no Bundle.meta.lastUpdated: the Date header is the server's clock
    assert result.server_time == datetime(2025, 6, 5, 13, 0, tzinfo=UTC)


@responses.activate
def test_without_focus_or_patient_search_tasks_of_other_systems_are_said_to_be_unread() -> None:
    responses.get(f"{BASE}/ServiceRequest", json=bundle([SR]))
    ours = B.task("H1", "H1", "P1", "accepted", authored=AUTHORED)

    def tasks(request: Any) -> tuple[int, dict[str, str], str]:
        q = query(request)
        if "focus" in q or "patient" in q:
            return 400, {}, json.dumps(UNKNOWN)
        return 200, {}, json.dumps(bundle([ours]))

    responses.add_callback(responses.GET, f"{BASE}/Task", callback=tasks)
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    responses.get(f"{BASE}/EpisodeOfCare", json=bundle([]))
    with client() as c:
        result = fetch_handoff_evidence(c, SYSTEMS)
    assert [r["id"] for r in result.of_type("Task")] == [ours["id"]]  # fhirpeer's own, by identifier
    assert not result.complete and result.unread == ["Task"]
    assert any("Task: the server supports search by neither focus nor patient" in w
               and "fhirpeer's own Tasks are read by identifier" in w for w in result.warnings)  # fmt: skip
