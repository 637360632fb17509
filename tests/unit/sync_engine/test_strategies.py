"""Write strategies with recorded server answers: requests as planned, bisection, per-entry outcomes, conflicts,
412s, conditional creates that find the EHR's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from fhirpeer.bundles import WriteRequest
from fhirpeer.content_hash import content_hash
from fhirpeer.domain import Outcome, WriteStrategy
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.sync_engine.identity import owned_tag, resource_id
from fhirpeer.sync_engine.outgoing import Outgoing, same_content
from fhirpeer.sync_engine.planner import Action, PlannedWrite
from fhirpeer.sync_engine.resolver import ReferenceResolver
from fhirpeer.sync_engine.state import StateStore, Written
from fhirpeer.sync_engine.strategies import STRATEGY_CLASSES, Strategy
from fhirpeer.transport.client import FhirClient
from tests.support.items import encounter_item

BASE = "http://fhir.test/r4"
MAPPINGS = load_mappings(namespace="https://ns.test")
TAG = owned_tag(MAPPINGS.identifiers.local_code_system_base)


def enc(key: str, patient: str = "M1") -> MappedResource:
    return encounter_item(MAPPINGS, key, patient)


def create(item: MappedResource) -> PlannedWrite:
    """A create by client id, as the planner makes it for a server that takes client ids."""
    sid = resource_id("https://ns.test", "Encounter", item.key)
    return PlannedWrite(item, content_hash(item.resource), Action.CREATE, WriteRequest("PUT", f"Encounter/{sid}"), sid)


def update(item: MappedResource, server_id: str, version: str) -> PlannedWrite:
    request = WriteRequest("PUT", f"Encounter/{server_id}", if_match=f'W/"{version}"')
    return PlannedWrite(item, content_hash(item.resource), Action.UPDATE, request, server_id, version)


def make_writer(tmp_path: Path, strategy: WriteStrategy = WriteStrategy.TRANSACTION, **kw) -> Strategy:
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    resolver = ReferenceResolver(state, None, MAPPINGS)
    resolver.prefetch([("Patient", "M1")], search_server=False)
    client = FhirClient(BASE, sleep=lambda s: None)
    outgoing = Outgoing(resolver, TAG, "https://ns.test/fhirpeer/run/r1")
    return STRATEGY_CLASSES[strategy](client, MAPPINGS, resolver, outgoing, **kw)


def transaction_answer(request):
    bundle = json.loads(request.body)
    keys = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"]]
    if "BAD" in keys:
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]}
        return 400, {}, json.dumps(outcome)
    entries = [{"response": {"status": "201 Created", "location": f"Encounter/{k}x/_history/1"}} for k in keys]
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


@responses.activate
def test_refused_transaction_is_bisected_so_every_good_entry_lands(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    writer = make_writer(tmp_path, batch_size=8)
    writes = [create(enc(f"C{i}")) for i in range(8)]
    writes[5] = create(enc("BAD"))
    outcomes = []
    writer.write(writes, outcomes.extend)
    by_key = {o.write.key: o for o in outcomes}
    assert len(outcomes) == 8
    assert by_key["BAD"].result is Outcome.FAILED and "HTTP 400" in by_key["BAD"].reason
    assert all(o.result is Outcome.CREATED for k, o in by_key.items() if k != "BAD")
    assert by_key["C0"].server_id == "C0x" and by_key["C0"].version_id == "1"
    assert len(responses.calls) <= 1 + 2 * 3  # log2(8) levels of halves


@responses.activate
def test_entries_carry_the_planned_request_literal_references_and_fhirpeers_marks(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    writer = make_writer(tmp_path)
    planned = create(enc("C1"))
    writer.write([planned], lambda o: None)
    [entry] = json.loads(responses.calls[0].request.body)["entry"]
    assert entry["request"] == {"method": "PUT", "url": f"Encounter/{planned.server_id}"}
    assert entry["resource"]["id"] == planned.server_id
    assert entry["resource"]["subject"] == {"reference": "Patient/p1"}
    assert TAG in entry["resource"]["meta"]["tag"]
    assert entry["resource"]["meta"]["source"] == "https://ns.test/fhirpeer/run/r1"
    assert entry["fullUrl"].startswith("urn:uuid:")


@responses.activate
def test_update_of_a_known_resource_uses_if_match(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=transaction_answer)
    make_writer(tmp_path).write([update(enc("C1"), "e1", "3")], lambda o: None)
    [entry] = json.loads(responses.calls[0].request.body)["entry"]
    assert entry["request"] == {"method": "PUT", "url": "Encounter/e1", "ifMatch": 'W/"3"'}
    assert entry["resource"]["id"] == "e1"


@pytest.mark.parametrize("status", [412, 409])  # the FHIR spec's answer, and HAPI's (HAPI-0989)
@responses.activate
def test_stale_if_match_with_our_content_is_our_lost_write_not_a_conflict(tmp_path, status):
    responses.add(responses.POST, BASE, status=status, json={"resourceType": "OperationOutcome", "issue": []})
    item = enc("C1")
    on_server = {**item.resource, "subject": {"reference": "Patient/p1"}, "id": "e1",
                 "meta": {"versionId": "4", "lastUpdated": "2026-11-23T00:00:00Z", "tag": [TAG],
                          "source": "https://ns.test/fhirpeer/run/r0#x"}}  # fmt: skip
    responses.add(responses.GET, f"{BASE}/Encounter/e1", json=on_server)
    outcomes = []
    make_writer(tmp_path).write([update(item, "e1", "3")], outcomes.extend)
    assert [(o.result, o.version_id) for o in outcomes] == [(Outcome.UPDATED, "4")]


@responses.activate
def test_stale_if_match_with_foreign_content_is_a_conflict_left_alone(tmp_path):
    responses.add(responses.POST, BASE, status=412, json={"resourceType": "OperationOutcome", "issue": []})
    item = enc("C1")
    edited = {**item.resource, "status": "cancelled", "id": "e1", "meta": {"versionId": "4"}}
    responses.add(responses.GET, f"{BASE}/Encounter/e1", json=edited)
    outcomes = []
    make_writer(tmp_path).write([update(item, "e1", "3")], outcomes.extend)
    assert outcomes[0].result is Outcome.CONFLICT
    assert "version 3" in outcomes[0].reason
    assert [c.request.method for c in responses.calls] == ["POST", "GET"]  # nothing overwritten


@responses.activate
def test_412_multiple_matches_is_reported_as_duplicate_data_not_retried(tmp_path):
    diagnostics = "HAPI-0988: Failed to UPDATE resource with match URL because this search matched 2 resources"
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing",
                                                               "diagnostics": diagnostics}]}  # fmt: skip
    responses.add(responses.POST, BASE, status=412, json=outcome)
    item = enc("C1")
    conditional = PlannedWrite(item, "h", Action.CREATE, WriteRequest("PUT", "Encounter?identifier=x|C1"))
    outcomes = []
    make_writer(tmp_path).write([conditional], outcomes.extend)
    assert outcomes[0].result is Outcome.FAILED
    assert "duplicate data on the server" in outcomes[0].reason
    assert len(responses.calls) == 1


@responses.activate
def test_batch_strategy_reads_per_entry_statuses(tmp_path):
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"response": {"status": "201 Created", "location": "Encounter/a/_history/1"}},
        {"response": {"status": "400 Bad Request", "outcome": {"resourceType": "OperationOutcome",
                      "issue": [{"severity": "error", "code": "invalid", "expression": ["Encounter.status"]}]}}},
    ]}  # fmt: skip
    responses.add(responses.POST, BASE, json=answer)
    outcomes = []
    make_writer(tmp_path, WriteStrategy.BATCH).write([create(enc("C1")), create(enc("C2"))], outcomes.extend)
    assert [o.result for o in outcomes] == [Outcome.CREATED, Outcome.FAILED]
    assert "Encounter.status" in outcomes[1].reason
    assert json.loads(responses.calls[0].request.body)["type"] == "batch"


@responses.activate
def test_single_request_strategy_sends_the_planned_put(tmp_path):
    planned = create(enc("C1"))
    responses.add(responses.PUT, f"{BASE}/Encounter/{planned.server_id}", status=201,
                  headers={"Location": f"{BASE}/Encounter/{planned.server_id}/_history/1"})  # fmt: skip
    outcomes = []
    make_writer(tmp_path, WriteStrategy.CLIENT_ID_PUT).write([planned], outcomes.extend)
    assert outcomes[0].result is Outcome.CREATED and outcomes[0].server_id == planned.server_id
    assert planned.server_id == resource_id("https://ns.test", "Encounter", "C1") and not planned.server_id.isdigit()


@responses.activate
def test_a_conditional_create_that_finds_the_ehrs_record_links_to_it(tmp_path):
    """create_if_absent: the EHR created the Patient between fhirpeer's search and its write."""
    patient = MappedResource("Patient", "M9", {"resourceType": "Patient", "identifier": [
        {"system": MAPPINGS.system_for("Patient"), "value": "M9"}]}, ())  # fmt: skip
    request = WriteRequest("POST", "Patient", if_none_exist=f"identifier={MAPPINGS.system_for('Patient')}|M9")
    planned = PlannedWrite(patient, "h", Action.CREATE, request)
    responses.add(
        responses.POST, f"{BASE}/Patient", status=200, headers={"Location": f"{BASE}/Patient/ehr1/_history/7"}
    )
    responses.add(responses.GET, f"{BASE}/Patient/ehr1", json={**patient.resource, "id": "ehr1",
                                                               "meta": {"versionId": "7"}})  # fmt: skip
    outcomes = []
    make_writer(tmp_path, WriteStrategy.CONDITIONAL_PUT).write([planned], outcomes.extend)
    assert [(o.result, o.server_id) for o in outcomes] == [(Outcome.LINKED, "ehr1")]
    assert responses.calls[0].request.headers["If-None-Exist"] == f"identifier={MAPPINGS.system_for('Patient')}|M9"


def test_same_content_ignores_server_bookkeeping_and_label_order():
    mine = {
        "resourceType": "Encounter",
        "status": "finished",
        "meta": {"security": [{"system": "s", "code": "R"}, {"system": "s", "code": "SUD"}], "source": "a"},
    }
    theirs = {**mine, "id": "9", "text": {"div": "x"},
              "meta": {"security": [{"system": "s", "code": "SUD"}, {"system": "s", "code": "R"}], "versionId": "2",
                       "lastUpdated": "x", "source": "b#c"}}  # fmt: skip
    assert same_content(theirs, mine)
    assert not same_content({**theirs, "status": "cancelled"}, mine)
