"""Provenance inside the transaction it records: one entry per activity next to the writes, the Bundle within
its entry limit, nothing sent afterwards for what it covers, and a write never lost to its Provenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import responses

from fhirpeer.bundles import WriteRequest
from fhirpeer.content_hash import content_hash
from fhirpeer.domain import Outcome, ResourceType, WriteStrategy
from fhirpeer.mapping_files import load_mappings
from fhirpeer.sync_engine.identity import owned_tag, resource_id
from fhirpeer.sync_engine.outgoing import Outgoing
from fhirpeer.sync_engine.planner import Action, PlannedWrite
from fhirpeer.sync_engine.provenance import ProvenanceTarget, ProvenanceWriter
from fhirpeer.sync_engine.resolver import ReferenceResolver
from fhirpeer.sync_engine.state import StateStore, Written
from fhirpeer.sync_engine.strategies import STRATEGY_CLASSES
from fhirpeer.transport.client import FhirClient
from tests.support.items import encounter_item

BASE = "http://fhir.test/r4"
NS = "https://ns.test"
MAPPINGS = load_mappings(namespace=NS)
TAG = owned_tag(MAPPINGS.identifiers.local_code_system_base)
CLIENT_IDS = {ResourceType.PROVENANCE: True, ResourceType.DEVICE: True}


def by_id(key: str, action: Action = Action.CREATE) -> PlannedWrite:
    item = encounter_item(MAPPINGS, key)
    sid = resource_id(NS, "Encounter", key)
    return PlannedWrite(item, content_hash(item.resource), action, WriteRequest("PUT", f"Encounter/{sid}"), sid)


def conditional(key: str) -> PlannedWrite:
    item = encounter_item(MAPPINGS, key)
    return PlannedWrite(item, "h", Action.CREATE, WriteRequest("PUT", f"Encounter?identifier=x|{key}"))


def answer(request):
    """A transaction-response: 201 per entry (Provenance entries included), nothing for keys named BAD."""
    bundle = json.loads(request.body)
    if any(e["resource"].get("identifier", [{}])[0].get("value") == "BAD" for e in bundle["entry"]):
        return 400, {}, json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]})
    entries = [{"response": {"status": "201 Created", "location": f"{e['request']['url'].split('?')[0]}/_history/1"}}
               for e in bundle["entry"]]  # fmt: skip
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


def setup(tmp_path: Path, batch_size: int, client_ids: dict[ResourceType, bool] = CLIENT_IDS):
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    resolver = ReferenceResolver(state, None, MAPPINGS)
    resolver.prefetch([("Patient", "M1")], search_server=False)
    client = FhirClient(BASE, sleep=lambda s: None)
    outgoing = Outgoing(resolver, TAG, f"{NS}/fhirpeer/run/r1")
    target = ProvenanceTarget(client, MAPPINGS, state, "r1", True, client_ids)
    provenance = ProvenanceWriter(target, outgoing, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    responses.add(responses.PUT, f"{BASE}/Device/{resource_id(NS, 'Device', MAPPINGS.provenance.device_key)}",
                  status=201, headers={"Location": f"{BASE}/Device/d1/_history/1"})  # fmt: skip
    provenance.ensure_device()
    writer = STRATEGY_CLASSES[WriteStrategy.TRANSACTION](
        client, MAPPINGS, resolver, outgoing, batch_size=batch_size, provenance=provenance
    )
    return writer, provenance


def sent_bundles() -> list[dict]:
    return [json.loads(c.request.body) for c in responses.calls if c.request.url.rstrip("/") == BASE]


@responses.activate
def test_the_provenance_goes_in_the_bundle_it_records_and_the_bundle_keeps_its_entry_limit(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=answer)
    writer, _ = setup(tmp_path, batch_size=5)
    writes = [by_id("C1"), by_id("C2", Action.UPDATE), by_id("C3"), by_id("C4"), by_id("C5")]
    outcomes = []
    writer.write(writes, outcomes.extend)
    bundles = sent_bundles()
    assert [len(b["entry"]) for b in bundles] == [5, 3]  # 3 writes + 2 Provenance (create, update), then 2 + 1
    first = [e["resource"] for e in bundles[0]["entry"] if e["resource"]["resourceType"] == "Provenance"]
    targets = {p["activity"]["coding"][0]["code"]: [t["reference"] for t in p["target"]] for p in first}
    assert targets == {"CREATE": [f"Encounter/{writes[0].server_id}", f"Encounter/{writes[2].server_id}"],
                       "UPDATE": [f"Encounter/{writes[1].server_id}"]}  # fmt: skip
    assert all(p["agent"][0]["who"] == {"reference": "Device/d1"} and TAG in p["meta"]["tag"] for p in first)
    assert all(e["request"] == {"method": "PUT", "url": f"Provenance/{e['resource']['id']}"}
               for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Provenance")  # fmt: skip
    assert [o.result for o in outcomes] == [Outcome.CREATED] * 5 and all(o.provenance_recorded for o in outcomes)
    assert all(
        c.request.headers.get("Prefer") == "return=minimal" for c in responses.calls if c.request.method == "POST"
    )


@responses.activate
def test_writes_it_cannot_cover_are_left_for_the_provenance_sent_after_them(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=answer)
    writer, _ = setup(tmp_path, batch_size=10)
    outcomes = []
    writer.write([by_id("C1"), conditional("C2")], outcomes.extend)
    [bundle] = sent_bundles()
    [prov] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert [t["reference"] for t in prov["target"]] == [f"Encounter/{resource_id(NS, 'Encounter', 'C1')}"]
    assert [o.provenance_recorded for o in outcomes] == [True, False]


@responses.activate
def test_without_client_ids_for_provenance_nothing_goes_in_the_bundle(tmp_path):
    responses.add_callback(responses.POST, BASE, callback=answer)
    writer, _ = setup(tmp_path, batch_size=2, client_ids={ResourceType.DEVICE: True})
    outcomes = []
    writer.write([by_id("C1"), by_id("C2")], outcomes.extend)
    assert [len(b["entry"]) for b in sent_bundles()] == [2]
    assert not any(o.provenance_recorded for o in outcomes)


@responses.activate
def test_a_refused_single_write_is_tried_once_without_its_provenance(tmp_path):
    """A server that refuses the Provenance entry must not cost the record: alone, the write goes without it."""
    calls: list[int] = []

    def refuse_provenance(request):
        bundle = json.loads(request.body)
        calls.append(len(bundle["entry"]))
        if any(e["resource"]["resourceType"] == "Provenance" for e in bundle["entry"]):
            return 422, {}, json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]})
        return answer(request)

    responses.add_callback(responses.POST, BASE, callback=refuse_provenance)
    writer, _ = setup(tmp_path, batch_size=10)
    outcomes = []
    writer.write([by_id("C1"), by_id("C2")], outcomes.extend)
    assert calls == [3, 2, 1, 1]  # both with their Provenance, the first alone with it, then without, then C2
    assert [(o.result, o.provenance_recorded) for o in outcomes] == [(Outcome.CREATED, False)] * 2
    writer.write([by_id("C3")], outcomes.extend)
    assert calls[-1] == 1 and not outcomes[-1].provenance_recorded  # the rest of the run: Provenance after the writes
