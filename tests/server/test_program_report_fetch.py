"""The report's reader against a real FHIR server (embedded sekmet, or FHIRPEER_TEST_SERVER).

Resources are written with plain HTTP (transactions of ``PUT Type/id``) in the shapes fhirpeer writes, plus
what a receiver's systems would write (Encounters, EpisodeOfCare and Tasks without fhirpeer's identifier);
then the program is read back, decided and computed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from fhirpeer.demo.penn_cohort import generate_penn_cohort
from fhirpeer.program_report import Systems, extract_program, fetch_handoff_evidence, fetch_program
from fhirpeer.program_report.extract import parse_datetime
from fhirpeer.program_report.fetch import PAGE_SIZE
from fhirpeer.program_report.handoff_outcomes import decide_outcomes, outcomes_from_server
from fhirpeer.program_report.metrics import compute_metrics
from fhirpeer.transport.client import FhirClient
from tests.support.cohort_fhir import FhirBuilder, put_all
from tests.support.cohort_model import cohort_model

TZ = ZoneInfo("America/New_York")
AUTHORED = "2025-06-01T10:00:00-04:00"


def _delete(base_url: str, resources: list[dict[str, Any]]) -> None:
    """Remove what a test wrote (dependants first), so a shared server is left as it was."""
    order = ("Task", "Encounter", "EpisodeOfCare", "ServiceRequest", "Practitioner", "Patient")
    for resource_type in order:
        for res in resources:
            if res["resourceType"] == resource_type:
                requests.delete(f"{base_url}/{resource_type}/{res['id']}", timeout=30)


@pytest.fixture
def written(fhir_base_url: str) -> Iterator[list[dict[str, Any]]]:
    resources: list[dict[str, Any]] = []
    yield resources
    _delete(fhir_base_url, resources)


def _prefix(namespace: str) -> str:
    return "t" + namespace.rsplit("/", 1)[-1][:10]


def _handoff_world(b: FhirBuilder) -> list[dict[str, Any]]:
    """Nine handoffs, each answered differently by the receiving side."""
    world: list[dict[str, Any]] = [b.patient(f"P{i}") for i in range(1, 10)] + [b.practitioner("PEER-01")]
    kinds = {
        "H1": "ed_to_peer", "H2": "mental_health", "H3": "housing", "H4": "sud_treatment", "H5": "mutual_aid",
        "H6": "aftercare_peer", "H7": "ed_to_peer", "H8": "legal", "H9": "employment",
    }  # fmt: skip
    for i, (key, kind) in enumerate(kinds.items(), start=1):
        status = "entered-in-error" if key == "H7" else "active"
        world.append(b.service_request(key, f"P{i}", kind, status, AUTHORED))
    task = b.task
    world += [
        task("H1", "H1", "P1", "completed", authored=AUTHORED, last_modified="2025-06-03T10:00:00-04:00", outputs=1),
        task("H2", "H2", "P2", "accepted", authored=AUTHORED, last_modified="2025-06-02T09:00:00-04:00"),
        task("H3", "H3", "P3", "rejected", authored=AUTHORED, last_modified="2025-06-02T11:00:00-04:00",
             reason_code="patient-declined", reason_text="Declined at intake"),
        task("H4", "H4", "P4", "requested", authored=AUTHORED),
        task("H5", "H5", "P5", "requested", authored=AUTHORED),
        task("H6", "H6", "P6", "requested", authored=AUTHORED),
        task("H8", "H8", "P8", "rejected", authored=AUTHORED, reason_text="no   capacity\nthis month"),
        # the receiver's own Task, found only by its focus
        task(None, "H9", "P9", "in-progress", authored=AUTHORED, last_modified="2025-06-04T08:00:00-04:00",
             resource_id=b.id("rtask", "H9")),
    ]  # fmt: skip
    enc, eoc = b.encounter, b.episode
    world += [
        # what the receiving side recorded, without fhirpeer's identifier
        enc(None, "P4", "2025-06-05T09:00:00-04:00", mode=None, handoffs=["H4"], resource_id=b.id("renc", "H4")),
        enc(None, "P8", "2025-06-20T09:00:00-04:00", mode=None, handoffs=["H8"], resource_id=b.id("renc", "H8")),
        enc(None, "P1", "2025-06-02T09:00:00-04:00", mode=None, resource_id=b.id("renc", "unrelated")),
        eoc(None, "P6", "active", "2025-06-10", referral="H6", resource_id=b.id("reoc", "H6")),
        eoc(None, "P6", "active", "2025-06-11", resource_id=b.id("reoc", "unrelated")),
    ]  # fmt: skip
    foreign_sr = b.service_request("X1", "P1", "other", "active", AUTHORED)
    foreign_sr.pop("identifier")
    foreign_sr["id"] = b.id("rsr", "X1")
    return [*world, foreign_sr]


EXPECTED = {
    # handoff: (outcome, evidence, reason, days_to_linkage)
    "H1": ("linked", "task:completed", None, 2.0),
    "H2": ("in_progress", "task:accepted", None, None),
    "H3": ("not_linked", "task:rejected", "patient-declined", None),
    "H4": ("linked", "encounter:{renc-H4}", None, 4.0),
    "H5": ("pending", "task:requested", None, None),
    "H6": ("linked", "episode:{reoc-H6}", None, 8.6),
    "H7": ("retracted", "servicerequest:entered-in-error", None, None),
    "H8": ("linked", "encounter:{renc-H8}", None, 19.0),
    "H9": ("in_progress", "task:in-progress", None, None),
}


def test_outcomes_are_decided_from_what_the_receiver_recorded(
    fhir_base_url: str, test_namespace: str, written: list[dict[str, Any]]
) -> None:
    systems = Systems.for_namespace(test_namespace)
    b = FhirBuilder(systems, _prefix(test_namespace))
    written += _handoff_world(b)
    put_all(fhir_base_url, written)

    with FhirClient(fhir_base_url) as client:
        fetched = fetch_handoff_evidence(client, systems)
        outcomes, warnings = outcomes_from_server(client, systems, tz=TZ)
    data = extract_program(fetched.resources, systems, TZ)
    decided = {o.handoff_id: o for o in decide_outcomes(data, tz=TZ)}
    assert sorted(outcomes, key=lambda o: o.handoff_id) == sorted(decided.values(), key=lambda o: o.handoff_id)
    assert warnings == fetched.warnings

    assert set(decided) == set(EXPECTED)  # the foreign ServiceRequest is not the program's
    for key, (outcome, evidence, reason, days) in EXPECTED.items():
        got = decided[key]
        evidence = evidence.replace("{renc-H4}", b.id("renc", "H4")).replace("{renc-H8}", b.id("renc", "H8"))
        evidence = evidence.replace("{reoc-H6}", b.id("reoc", "H6"))
        assert (got.outcome, got.evidence, got.reason, got.days_to_linkage) == (outcome, evidence, reason, days), key
    assert decided["H1"].decided_at == datetime.fromisoformat("2025-06-03T10:00:00-04:00")
    # the unrelated Encounter and EpisodeOfCare of the same patients were matched out
    ids = {r["id"] for r in fetched.resources}
    assert b.id("renc", "unrelated") not in ids and b.id("reoc", "unrelated") not in ids
    # a server without EpisodeOfCare?incoming-referral (sekmet 0.1.1) is read by patient, and the reader says so;
    # a server with it (HAPI) needs no such warning
    coped = any("EpisodeOfCare" in w and "incoming-referral" in w and "patient" in w for w in fetched.warnings)
    assert coped == ("incoming-referral" not in _search_params(fhir_base_url, "EpisodeOfCare"))


def _search_params(base_url: str, resource_type: str) -> set[str]:
    statement = requests.get(f"{base_url}/metadata", headers={"Accept": "application/fhir+json"}, timeout=60).json()
    for rest in statement.get("rest", []):
        for resource in rest.get("resource", []):
            if resource.get("type") == resource_type:
                return {param.get("name") for param in resource.get("searchParam", [])}
    return set()


def test_since_returns_only_handoffs_with_news_and_all_their_evidence(
    fhir_base_url: str, test_namespace: str, written: list[dict[str, Any]]
) -> None:
    systems = Systems.for_namespace(test_namespace)
    b = FhirBuilder(systems, _prefix(test_namespace))
    written += _handoff_world(b)
    put_all(fhir_base_url, written)
    with FhirClient(fhir_base_url) as client:
        first = fetch_handoff_evidence(client, systems)
        since = max(parse_datetime(r["meta"]["lastUpdated"], TZ) for r in first.resources)  # the server's clock
        time.sleep(0.05)
        accepted = b.task("H5", "H5", "P5", "accepted", authored=AUTHORED, last_modified="2025-06-07T10:00:00-04:00")
        put_all(fhir_base_url, [accepted])
        later = fetch_handoff_evidence(client, systems, since=since)
    data = extract_program(later.resources, systems, TZ)
    assert [h.key for h in data.handoffs] == ["H5"]
    (outcome,) = decide_outcomes(data, tz=TZ)
    assert (outcome.outcome, outcome.evidence) == ("in_progress", "task:accepted")


def test_the_penn_cohort_read_back_from_the_server_gives_the_oracle_figures(
    fhir_base_url: str, test_namespace: str, written: list[dict[str, Any]], tmp_path: Path
) -> None:
    as_of = date(2026, 1, 5)
    generate_penn_cohort(tmp_path / "export", as_of)
    systems = Systems.for_namespace(test_namespace)
    written += FhirBuilder(systems, _prefix(test_namespace)).from_export(tmp_path / "export")
    put_all(fhir_base_url, written)

    with FhirClient(fhir_base_url) as client:
        fetched = fetch_program(client, systems)
    from_server = extract_program(fetched.resources, systems, TZ)
    assert not from_server.skipped.get("Encounter: contact mode unknown")
    served = compute_metrics(from_server, decide_outcomes(from_server, tz=TZ), as_of=as_of, tz=TZ)
    oracle_data = cohort_model(tmp_path / "export")
    oracle = compute_metrics(oracle_data, decide_outcomes(oracle_data, tz=TZ), as_of=as_of, tz=TZ)

    assert [(e.engaged, e.eligible) for e in served.engagement_by_month] == [
        (41, 50), (34, 45), (30, 42), (17, 30), (14, 26), (8, 19)
    ]  # fmt: skip
    assert served.modes == oracle.modes
    assert served.duration == oracle.duration
    assert served.caseload == oracle.caseload
    assert served.ed_linkage == oracle.ed_linkage
    assert served.aftercare == oracle.aftercare
    # outcomes differ only where the server dates a completed ServiceRequest (meta.lastUpdated)
    assert [(k.kind, k.handoffs, k.linked, k.pending) for k in served.linkage_by_kind] == [
        (k.kind, k.handoffs, k.linked, k.pending) for k in oracle.linkage_by_kind
    ]
    assert len(fetched.of_type("Encounter")) > PAGE_SIZE  # the reader followed the next links
