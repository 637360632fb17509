"""How fhirpeer reads HAPI FHIR's real answers, replayed with `responses`.

Every answer under `tests/fixtures/http/hapi/` was captured from HAPI FHIR 8.8.0 (`tools/hapi-server`) by
`tools/capture_hapi_answers.py`, which produces each case for real (two resources with one identifier for the
412s, a conditional reference that matches nothing, a stale If-Match, paging, `Prefer: return=minimal`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from fhirpeer.api import client_ids_of
from fhirpeer.bundles import WriteRequest
from fhirpeer.domain import Outcome, WriteStrategy
from fhirpeer.mappers import MappedResource, match_url
from fhirpeer.mapping_files import load_mappings
from fhirpeer.settings import Settings
from fhirpeer.sync_engine.identity import owned_tag, resource_id
from fhirpeer.sync_engine.outgoing import Outgoing
from fhirpeer.sync_engine.planner import Action, PlannedWrite
from fhirpeer.sync_engine.resolver import ReferenceResolver
from fhirpeer.sync_engine.server_lookup import ServerLookup
from fhirpeer.sync_engine.state import StateStore, Written
from fhirpeer.sync_engine.strategies import STRATEGY_CLASSES, Strategy, WriteOutcome
from fhirpeer.transport.capabilities import choose_strategy, parse_capability_statement
from fhirpeer.transport.client import FhirClient
from fhirpeer.transport.operation_outcome import parse_operation_outcome
from tests.support.items import encounter_item
from tests.support.paths import FIXTURES

BASE = "http://hapi.test/fhir"  # the placeholder the capture script puts in place of the server's base URL
NS = "https://ns.test"
M = load_mappings(namespace=NS)
CAPTURED = FIXTURES / "http" / "hapi"


def answer(name: str) -> dict[str, Any]:
    return json.loads((CAPTURED / f"{name}.json").read_text(encoding="utf-8"))


def replay(name: str, method: str, url: str) -> dict[str, Any]:
    """Serve a captured answer (status, headers, body) for one request."""
    captured = answer(name)
    body = "" if captured["body"] is None else json.dumps(captured["body"])
    responses.add(method, url, status=captured["status"], headers=captured["headers"], body=body,
                  content_type="application/fhir+json")  # fmt: skip
    return captured


def enc(key: str, patient: str = "M1") -> MappedResource:
    return encounter_item(M, key, patient)


def writer_for(tmp_path: Path, strategy: WriteStrategy) -> Strategy:
    """A writer whose resolver knows Patient M1 (server id p1) and nothing else."""
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    client = FhirClient(BASE, sleep=lambda s: None)
    resolver = ReferenceResolver(state, ServerLookup(client), M)
    resolver.prefetch([("Patient", "M1")], search_server=False)
    outgoing = Outgoing(resolver, owned_tag(M.identifiers.local_code_system_base), f"{NS}/fhirpeer/run/r1")
    return STRATEGY_CLASSES[strategy](client, M, resolver, outgoing, batch_size=50)


def run(writer: Strategy, writes: list[PlannedWrite]) -> dict[str, WriteOutcome]:
    outcomes: list[WriteOutcome] = []
    writer.write(writes, outcomes.extend)
    assert len(outcomes) == len(writes)
    return {o.write.key: o for o in outcomes}


def conditional(item: MappedResource) -> PlannedWrite:
    return PlannedWrite(item, "h", Action.CREATE, WriteRequest("PUT", match_url(M, item.resource_type, item.key)))


def by_id(item: MappedResource) -> PlannedWrite:
    sid = resource_id(NS, item.resource_type, item.key)
    return PlannedWrite(item, "h", Action.CREATE, WriteRequest("PUT", f"{item.resource_type}/{sid}"), sid)


def entry_keys(request) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in json.loads(request.body)["entry"]]


def created(request) -> tuple[int, dict, str]:
    entries = [{"response": {"status": "201 Created", "location": f"Encounter/{k}-id/_history/1"}}
               for k in entry_keys(request)]  # fmt: skip
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


# --- 412: one identifier on two resources ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), [("412_hapi0958_create_multiple_matches", "HAPI-0958"),
                                            ("412_hapi0988_update_multiple_matches", "HAPI-0988")])  # fmt: skip
@responses.activate
def test_412_multiple_matches_is_duplicate_data_naming_the_key_and_not_retried(tmp_path, name, code):
    replay(name, "PUT", f"{BASE}/{match_url(M, 'Encounter', 'C-7731')}")
    [outcome] = run(writer_for(tmp_path, WriteStrategy.CONDITIONAL_PUT), [conditional(enc("C-7731"))]).values()
    assert outcome.result is Outcome.FAILED
    assert outcome.reason.startswith("duplicate data on the server: more than one Encounter")
    assert "business key C-7731" in outcome.reason and f"identifier {M.system_for('Encounter')}" in outcome.reason
    assert code in outcome.reason
    assert '"' not in outcome.reason  # the quoted match URL of the diagnostics is not copied
    assert len(responses.calls) == 1  # a refusal is final: no retry


@responses.activate
def test_412_inside_a_transaction_is_isolated_by_bisection_and_reported_once(tmp_path):
    captured = answer("412_hapi0988_update_multiple_matches")

    def respond(request):
        if "DUP" in entry_keys(request):
            return captured["status"], {}, json.dumps(captured["body"])
        return created(request)

    responses.add_callback(responses.POST, BASE, callback=respond)
    keys = ["C1", "C2", "DUP", "C4"]
    out = run(writer_for(tmp_path, WriteStrategy.TRANSACTION), [conditional(enc(k)) for k in keys])
    assert out["DUP"].result is Outcome.FAILED and "duplicate data on the server" in out["DUP"].reason
    assert all(out[k].result is Outcome.CREATED for k in keys if k != "DUP")
    assert [entry_keys(c.request) for c in responses.calls].count(["DUP"]) == 1


@responses.activate
def test_412_on_a_conditional_reference_matching_twice_blames_the_referenced_record(tmp_path):
    captured = replay("412_hapi1092_conditional_reference_multiple_matches", "POST", BASE)
    assert "HAPI-2207" in json.dumps(captured["body"])  # what HAPI 8.8 answers (its docs name HAPI-1092)
    [outcome] = run(
        writer_for(tmp_path, WriteStrategy.TRANSACTION), [conditional(enc("C1", patient="M-TWICE"))]
    ).values()
    assert outcome.reason.startswith("duplicate data on the server: a record this Encounter points at")
    assert "patient_mrn" in outcome.reason and "HAPI-2207" in outcome.reason


# --- 404 HAPI-1091: a conditional reference inside a transaction matches nothing ---------------------------


@responses.activate
def test_404_hapi1091_is_isolated_by_bisection_and_says_a_referenced_record_was_not_found(tmp_path):
    gone = match_url(M, "Patient", "M-GONE")
    captured = answer("404_hapi1091_conditional_reference_no_match")

    def respond(request):
        if gone in [e["resource"]["subject"]["reference"] for e in json.loads(request.body)["entry"]]:
            return captured["status"], {}, json.dumps(captured["body"])
        return created(request)

    responses.add_callback(responses.POST, BASE, callback=respond)
    writes = [conditional(enc(f"C{i}")) for i in range(8)]
    writes[6] = conditional(enc("C-ORPHAN", patient="M-GONE"))
    out = run(writer_for(tmp_path, WriteStrategy.TRANSACTION), writes)
    orphan = out.pop("C-ORPHAN")
    assert orphan.reason.startswith("a referenced record was not found on the server")
    assert "patient_mrn → Patient" in orphan.reason and "HAPI-1091" in orphan.reason
    assert "M-GONE" not in orphan.reason  # the MRN HAPI quotes is not copied into the report
    assert all(o.result is Outcome.CREATED for o in out.values())
    assert len(responses.calls) <= 1 + 2 * 3


@responses.activate
def test_400_hapi0929_is_reported_with_its_code(tmp_path):
    replay("400_hapi0929_resource_does_not_match_url", "PUT", f"{BASE}/{match_url(M, 'Encounter', 'C1')}")
    [outcome] = run(writer_for(tmp_path, WriteStrategy.CONDITIONAL_PUT), [conditional(enc("C1"))]).values()
    assert outcome.reason == "server refused: HTTP 400 (processing HAPI-0929)"


def test_hapi0929_diagnostics_lose_the_quoted_or_encoded_value():
    issues = parse_operation_outcome(answer("400_hapi0929_resource_does_not_match_url")["body"])
    assert issues[0].code == "processing" and "HAPI-0929" in issues[0].diagnostics
    assert "A+B" not in issues[0].diagnostics


# --- 409 HAPI-0989: HAPI's answer to a stale If-Match -------------------------------------------------


@responses.activate
def test_409_stale_if_match_is_a_version_conflict_resolved_by_reading_the_resource(tmp_path):
    replay("409_hapi0989_stale_if_match", "PUT", f"{BASE}/Encounter/e1")
    item = enc("C1")
    edited = {**item.resource, "status": "cancelled", "id": "e1", "meta": {"versionId": "2"}}
    responses.add(responses.GET, f"{BASE}/Encounter/e1", json=edited)
    write = PlannedWrite(item, "h", Action.UPDATE, WriteRequest("PUT", "Encounter/e1", if_match='W/"1"'), "e1", "1")
    [outcome] = run(writer_for(tmp_path, WriteStrategy.CONDITIONAL_PUT), [write]).values()
    assert outcome.result is Outcome.CONFLICT and "version 1 (now 2)" in outcome.reason
    assert [c.request.method for c in responses.calls] == ["PUT", "GET"]


@responses.activate
def test_numeric_client_ids_are_refused_which_is_why_fhirpeers_ids_are_alphanumeric(tmp_path):
    captured = answer("400_hapi0960_numeric_client_id")
    assert captured["status"] == 400 and "HAPI-0960" in json.dumps(captured["body"])
    assert not resource_id(NS, "Patient", "123").isdigit()


# --- empty bodies (Prefer: return=minimal): id and version from the headers -----------------------------


@pytest.mark.parametrize(("name", "result"), [("201_empty_put_create", Outcome.CREATED),
                                              ("200_empty_put_update", Outcome.UPDATED)])  # fmt: skip
@responses.activate
def test_empty_answers_to_put_by_id_take_id_and_version_from_headers(tmp_path, name, result):
    write = by_id(enc("C1"))
    captured = replay(name, "PUT", f"{BASE}/{write.request.url}")
    [outcome] = run(writer_for(tmp_path, WriteStrategy.CLIENT_ID_PUT), [write]).values()
    location = captured["headers"]["Content-Location"]  # HAPI answers a PUT by id with Content-Location only
    assert "Location" not in captured["headers"]
    assert (outcome.result, outcome.version_id) == (result, location.rsplit("/", 1)[1])
    assert outcome.server_id == location.split("/Patient/")[1].split("/")[0]


@responses.activate
def test_a_matched_conditional_create_with_an_empty_200_takes_the_existing_id():
    captured = replay("200_empty_conditional_create_matched", "POST", f"{BASE}/Patient")
    with FhirClient(BASE, sleep=lambda s: None) as client:
        result = client.post("Patient", {"resourceType": "Patient"}, if_none_exist="identifier=s|MIN-1")
    assert (result.status, result.created, result.id) == (200, False, "fpminimal1")
    assert result.version_id == captured["headers"]["ETag"].strip('W/"')


# --- paging: HAPI's next links are base?_getpages=… -----------------------------------------------------


@responses.activate
def test_search_follows_getpages_next_links_verbatim_to_the_last_page():
    pages = [answer(f"search_page{n}") for n in (1, 2, 3)]
    responses.add(responses.GET, f"{BASE}/Patient", json=pages[0]["body"])
    for page in pages[1:]:
        responses.add(responses.GET, page["request"]["path"], json=page["body"])
    assert "_getpages=" in pages[0]["request"]["path"] or "_getpages=" in pages[1]["request"]["path"]
    with FhirClient(BASE, sleep=lambda s: None) as client:
        found = [r["id"] for r in client.search("Patient", [("identifier", "https://ns.test/sid/page|")])]
    assert found == [f"fppage{i}" for i in range(5)]
    assert len(responses.calls) == 3
    assert all(urlsplit(c.request.url).query.startswith("_getpages=") for c in responses.calls[1:])


# --- the CapabilityStatement -----------------------------------------------------------------------------


def test_hapis_capability_statement_gives_transactions_and_client_ids():
    caps = parse_capability_statement(json.loads((FIXTURES / "capability" / "hapi.json").read_text()))
    assert caps.software_name == "HAPI FHIR Server" and caps.is_r4
    plan = choose_strategy(caps, ["Patient", "Encounter", "CareTeam", "Task", "EpisodeOfCare", "Appointment"])
    assert plan.overall is WriteStrategy.TRANSACTION and plan.ok
    assert not caps.resource("Encounter").update_create  # HAPI never declares it …
    assert all(client_ids_of(caps, Settings()).values())  # … yet takes alphanumeric client ids


# --- match URLs decode to exactly the identifier value (HAPI-0929) ---------------------------------------

AWKWARD_KEYS = ["A+B", "A B", "A/B", "urn:oid:1.2.3", "Zoë-Ñuñez 東京", "100%", "a+b c/d:é?x=1&y#z", "+ leading", "%2B"]


def decoded_token(url: str) -> list[tuple[str, str]]:
    """How a server decodes the query of a match URL (``+`` in a query means a space)."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_match_url_round_trip_decodes_to_exactly_the_key(key):
    url = match_url(M, "Patient", key)
    assert decoded_token(url) == [("identifier", f"{M.system_for('Patient')}|{key}")]
    assert " " not in url and "+" not in url.split("|", 1)[1]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@responses.activate
def test_match_url_survives_the_http_client_unchanged(key):
    seen: list[str] = []

    def respond(request):
        seen.append(request.url)
        return 200, {"Location": f"{BASE}/Patient/p9/_history/2"}, ""

    responses.add_callback(responses.PUT, f"{BASE}/Patient", callback=respond)
    with FhirClient(BASE, sleep=lambda s: None) as client:
        client.put(match_url(M, "Patient", key), {"resourceType": "Patient"})
    assert decoded_token(seen[0]) == [("identifier", f"{M.system_for('Patient')}|{key}")]


@responses.activate
def test_identifier_searches_send_cache_control_no_cache_and_every_key(tmp_path):
    responses.add(responses.GET, f"{BASE}/Patient", json={"resourceType": "Bundle", "type": "searchset", "total": 0})
    state = StateStore(tmp_path / "s.sqlite", "t")
    with FhirClient(BASE, sleep=lambda s: None) as client:
        resolver = ReferenceResolver(state, ServerLookup(client), M)
        resolver.prefetch([("Patient", "M 2+x"), ("Patient", "M3")])
    [call] = responses.calls
    assert call.request.headers["Cache-Control"] == "no-cache"
    sent = dict(parse_qsl(urlsplit(call.request.url).query))
    assert sent["identifier"].split(",") == [f"{M.system_for('Patient')}|M 2+x", f"{M.system_for('Patient')}|M3"]
    assert resolver.known("Patient", "M3") is False
