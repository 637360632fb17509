"""Writer behaviour with recorded server answers: bisection, per-entry outcomes, conflicts, 412s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from fhirpeer.domain import ConflictPolicy, WriteStrategy
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.sync_engine.planner import PlannedWrite, plan_chunk
from fhirpeer.sync_engine.resolver import ReferenceResolver
from fhirpeer.sync_engine.state import StateStore, Written, content_hash
from fhirpeer.sync_engine.strategies import STRATEGY_CLASSES, Strategy
from fhirpeer.sync_engine.strategies.base import same_content
from fhirpeer.sync_engine.strategies.client_id_put import client_id
from fhirpeer.transport.client import FhirClient
from tests.support.items import encounter_item

BASE = "http://fhir.test/r4"


MAPPINGS = load_mappings(namespace="https://ns.test")


@pytest.fixture
def mappings():
    return MAPPINGS


def enc(key: str, patient: str = "M1") -> MappedResource:
    return encounter_item(MAPPINGS, key, patient)


def make_writer(
    mappings, tmp_path: Path, strategy: WriteStrategy = WriteStrategy.TRANSACTION, **kw
) -> tuple[Strategy, StateStore]:
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    resolver = ReferenceResolver(state, None, mappings)
    resolver.prefetch([("Patient", "M1")], search_server=False)
    client = FhirClient(BASE, sleep=lambda s: None)
    return STRATEGY_CLASSES[strategy](client, mappings, resolver, **kw), state


def transaction_answer(request):
    bundle = json.loads(request.body)
    keys = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"]]
    if "BAD" in keys:
        return (
            400,
            {},
            json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}),
        )
    entries = [{"response": {"status": "201 Created", "location": f"Encounter/{k}x/_history/1"}} for k in keys]
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


@responses.activate
def test_refused_transaction_is_bisected_so_every_good_entry_lands(mappings, tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    writer, _ = make_writer(mappings, tmp_path, batch_size=8)
    writes = [PlannedWrite(enc(f"C{i}"), "h", "create") for i in range(8)]
    writes[5] = PlannedWrite(enc("BAD"), "h", "create")
    outcomes = []
    writer.write(writes, outcomes.extend)
    by_key = {o.write.key: o for o in outcomes}
    assert len(outcomes) == 8
    assert by_key["BAD"].result == "failed" and "HTTP 400" in by_key["BAD"].reason
    assert all(o.result == "created" for k, o in by_key.items() if k != "BAD")
    assert by_key["C0"].server_id == "C0x" and by_key["C0"].version_id == "1"
    assert len(responses.calls) <= 1 + 2 * 3  # log2(8) levels of halves


@responses.activate
def test_entries_use_conditional_put_and_literal_references(mappings, tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    writer, _ = make_writer(mappings, tmp_path)
    writer.write([PlannedWrite(enc("C1"), "h", "create")], lambda o: None)
    sent = json.loads(responses.calls[0].request.body)
    [entry] = sent["entry"]
    assert entry["request"] == {
        "method": "PUT",
        "url": "Encounter?identifier=https://ns.test/sid/peer-contact|C1",
    }
    assert entry["resource"]["subject"] == {"reference": "Patient/p1"}
    assert entry["fullUrl"].startswith("urn:uuid:")


@responses.activate
def test_update_of_known_resource_uses_if_match(mappings, tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    writer, _ = make_writer(mappings, tmp_path)
    writer.write([PlannedWrite(enc("C1"), "h2", "update", "e1", "3")], lambda o: None)
    [entry] = json.loads(responses.calls[0].request.body)["entry"]
    assert entry["request"] == {"method": "PUT", "url": "Encounter/e1", "ifMatch": 'W/"3"'}
    assert entry["resource"]["id"] == "e1"


@responses.activate
def test_412_on_if_match_with_our_content_is_our_lost_write_not_a_conflict(mappings, tmp_path):
    responses.add(responses.POST, BASE, status=412, json={"resourceType": "OperationOutcome", "issue": []})
    item = enc("C1")
    on_server = {**item.resource, "subject": {"reference": "Patient/p1"}, "id": "e1",
                 "meta": {"versionId": "4", "lastUpdated": "2026-11-23T00:00:00Z"}}  # fmt: skip
    responses.add(responses.GET, f"{BASE}/Encounter/e1", json=on_server)
    writer, _ = make_writer(mappings, tmp_path)
    outcomes = []
    writer.write([PlannedWrite(item, content_hash(item.resource), "update", "e1", "3")], outcomes.extend)
    assert [(o.result, o.version_id) for o in outcomes] == [("updated", "4")]


@responses.activate
def test_412_on_if_match_with_foreign_content_is_a_conflict_left_alone(mappings, tmp_path):
    responses.add(responses.POST, BASE, status=412, json={"resourceType": "OperationOutcome", "issue": []})
    item = enc("C1")
    edited = {**item.resource, "status": "cancelled", "id": "e1", "meta": {"versionId": "4"}}
    responses.add(responses.GET, f"{BASE}/Encounter/e1", json=edited)
    writer, _ = make_writer(mappings, tmp_path)
    outcomes = []
    writer.write([PlannedWrite(item, "h", "update", "e1", "3")], outcomes.extend)
    assert outcomes[0].result == "conflict"
    assert "version 3" in outcomes[0].reason
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]  # nothing overwritten


@responses.activate
def test_412_multiple_matches_is_reported_as_duplicate_data_not_retried(mappings, tmp_path):
    diagnostics = "HAPI-0988: Failed to UPDATE resource with match URL because this search matched 2 resources"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": diagnostics}],
    }
    responses.add(responses.POST, BASE, status=412, json=outcome)
    writer, _ = make_writer(mappings, tmp_path)
    outcomes = []
    writer.write([PlannedWrite(enc("C1"), "h", "create")], outcomes.extend)
    assert outcomes[0].result == "failed"
    assert "duplicate data on the server" in outcomes[0].reason
    assert len(responses.calls) == 1


@responses.activate
def test_batch_strategy_reads_per_entry_statuses(mappings, tmp_path):
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "201 Created", "location": "Encounter/a/_history/1"}},
        {"response": {"status": "400 Bad Request", "outcome": {"resourceType": "OperationOutcome",
                      "issue": [{"severity": "error", "code": "invalid", "expression": ["Encounter.status"]}]}}},
    ]}  # fmt: skip
    responses.add(responses.POST, BASE, json=answer)
    writer, _ = make_writer(mappings, tmp_path, strategy=WriteStrategy.BATCH)
    outcomes = []
    writer.write([PlannedWrite(enc("C1"), "h", "create"), PlannedWrite(enc("C2"), "h", "create")], outcomes.extend)
    assert [o.result for o in outcomes] == ["created", "failed"]
    assert "Encounter.status" in outcomes[1].reason
    assert json.loads(responses.calls[0].request.body)["type"] == "batch"


@responses.activate
def test_client_id_strategy_puts_to_a_deterministic_alphanumeric_id(mappings, tmp_path):
    cid = client_id("https://ns.test", "Encounter", "C1")
    responses.add(
        responses.PUT,
        f"{BASE}/Encounter/{cid}",
        status=201,
        headers={"Location": f"{BASE}/Encounter/{cid}/_history/1"},
    )
    writer, _ = make_writer(mappings, tmp_path, strategy=WriteStrategy.CLIENT_ID_PUT)
    outcomes = []
    writer.write([PlannedWrite(enc("C1"), "h", "create")], outcomes.extend)
    assert outcomes[0].result == "created" and outcomes[0].server_id == cid
    assert not cid.isdigit() and cid == client_id("https://ns.test", "Encounter", "C1")


def test_same_content_ignores_server_bookkeeping():
    mine = {"resourceType": "Encounter", "status": "finished", "meta": {"security": [{"code": "R"}]}}
    theirs = {
        **mine,
        "id": "9",
        "text": {"div": "x"},
        "meta": {"security": [{"code": "R"}], "versionId": "2", "lastUpdated": "x"},
    }
    assert same_content(theirs, mine)
    assert not same_content({**theirs, "status": "cancelled"}, mine)


def test_planner_decides_create_update_unchanged(tmp_path):
    state = StateStore(tmp_path / "s.sqlite", "t")
    a, b, c = enc("A"), enc("B"), enc("C")
    state.record_written([Written("Encounter", "A", content_hash(a.resource), "1", "1"),
                          Written("Encounter", "B", "stale", "2", "5")], "r")  # fmt: skip
    plan = plan_chunk([a, b, c], state)
    assert [i.key for i in plan.unchanged] == ["A"]
    assert {(w.key, w.action, w.server_id, w.version_id) for w in plan.writes} == {
        ("B", "update", "2", "5"),
        ("C", "create", None, None),
    }
    overwrite = plan_chunk([b], state, conflict_policy=ConflictPolicy.OVERWRITE)
    assert overwrite.writes[0].version_id is None  # no If-Match: conditional update by identifier
