"""How fhirpeer copes with HAPI FHIR's documented answers (fhir-mapping.md §5), served with `responses`.

The bodies under `tests/fixtures/http/hapi/` are written from HAPI's documented behaviour and source, not
captured (see the README there). Paging with HAPI's `base?_getpages=…` next links, followed verbatim by
`FhirClient.search`, is tested in `tests/unit/test_client.py`
(`test_search_follows_hapi_getpages_links_verbatim_and_stops_on_empty_page`) and not repeated here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from fhirpeer.domain import WriteStrategy
from fhirpeer.mappers import MappedResource, match_url
from fhirpeer.mapping_files import load_mappings
from fhirpeer.sync_engine.planner import PlannedWrite
from fhirpeer.sync_engine.resolver import ReferenceResolver
from fhirpeer.sync_engine.state import StateStore, Written
from fhirpeer.sync_engine.strategies import STRATEGY_CLASSES, Strategy, WriteOutcome
from fhirpeer.transport.client import FhirClient
from tests.support.items import encounter_item
from tests.support.paths import FIXTURES

BASE = "http://hapi.test/fhir"
NS = "https://ns.test"
HAPI = FIXTURES / "http" / "hapi"


def hapi_body(name: str) -> dict[str, Any]:
    return json.loads((HAPI / name).read_text(encoding="utf-8"))


@pytest.fixture
def mappings():
    return load_mappings(namespace=NS)


def enc(mappings, key: str, patient: str = "M1") -> MappedResource:
    return encounter_item(mappings, key, patient)


def writer_for(mappings, tmp_path: Path, strategy: str) -> Strategy:
    """A writer whose resolver knows Patient M1 (server id p1) and nothing else."""
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    client = FhirClient(BASE, sleep=lambda s: None)
    resolver = ReferenceResolver(state, client, mappings)
    resolver.prefetch([("Patient", "M1")], search_server=False)
    return STRATEGY_CLASSES[WriteStrategy(strategy)](client, mappings, resolver, batch_size=50)


def run(writer: Strategy, writes: list[PlannedWrite]) -> dict[str, WriteOutcome]:
    outcomes: list[WriteOutcome] = []
    writer.write(writes, outcomes.extend)
    assert len(outcomes) == len(writes)
    return {o.write.key: o for o in outcomes}


def bundle_keys(request) -> list[str]:
    return [e["resource"]["identifier"][0]["value"] for e in json.loads(request.body)["entry"]]


def created_response(request) -> tuple[int, dict, str]:
    entries = [
        {"response": {"status": "201 Created", "location": f"Encounter/{k}-id/_history/1"}}
        for k in bundle_keys(request)
    ]
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


# ------------------------------------------------------------------------------------------------------------
# 412 HAPI-0958 / HAPI-0988: the match URL finds several resources


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("412_hapi0958_create_multiple_matches.json", "HAPI-0958"),
        ("412_hapi0988_update_multiple_matches.json", "HAPI-0988"),
    ],
)
@responses.activate
def test_412_multiple_matches_is_duplicate_data_naming_the_key_and_not_retried(mappings, tmp_path, fixture, code):
    url = f"{BASE}/{match_url(mappings, 'Encounter', 'C-7731')}"
    responses.add(responses.PUT, url, status=412, json=hapi_body(fixture))
    writer = writer_for(mappings, tmp_path, "conditional_put")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C-7731"), "h", "create")]).values()
    assert outcome.result == "failed"
    assert outcome.reason.startswith("duplicate data on the server: more than one Encounter")
    assert "business key C-7731" in outcome.reason
    assert f"identifier {mappings.system_for('Encounter')}" in outcome.reason
    assert code in outcome.reason
    assert '"' not in outcome.reason  # the quoted match URL of the diagnostics is not copied
    assert len(responses.calls) == 1  # a refusal is final: no retry


@responses.activate
def test_412_inside_a_transaction_is_isolated_by_bisection_and_sent_alone_once(mappings, tmp_path):
    def answer(request):
        if "DUP" in bundle_keys(request):
            return 412, {}, json.dumps(hapi_body("412_hapi0988_update_multiple_matches.json"))
        return created_response(request)

    responses.add_callback(responses.POST, BASE, callback=answer)
    writer = writer_for(mappings, tmp_path, "transaction")
    keys = ["C1", "C2", "DUP", "C4"]
    by_key = run(writer, [PlannedWrite(enc(mappings, k), "h", "create") for k in keys])
    assert by_key["DUP"].result == "failed"
    assert "duplicate data on the server" in by_key["DUP"].reason and "DUP" in by_key["DUP"].reason
    assert all(by_key[k].result == "created" for k in keys if k != "DUP")
    sent = [bundle_keys(c.request) for c in responses.calls]
    assert sent.count(["DUP"]) == 1  # isolated, then reported: not retried


@responses.activate
def test_412_on_a_conditional_reference_hapi1092_blames_the_referenced_record(mappings, tmp_path):
    responses.add(
        responses.POST,
        BASE,
        status=412,
        json=hapi_body("412_hapi1092_conditional_reference_multiple_matches.json"),
    )
    writer = writer_for(mappings, tmp_path, "transaction")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1", patient="M-TWICE"), "h", "create")]).values()
    assert outcome.result == "failed"
    assert outcome.reason.startswith("duplicate data on the server: a record this Encounter points at")
    assert "patient_mrn" in outcome.reason and "HAPI-1092" in outcome.reason


# ------------------------------------------------------------------------------------------------------------
# 404 HAPI-1091: a conditional reference inside a transaction matches nothing


@responses.activate
def test_404_hapi1091_is_isolated_by_bisection_and_says_a_referenced_record_was_not_found(mappings, tmp_path):
    gone = match_url(mappings, "Patient", "M-GONE")

    def answer(request):
        refs = [e["resource"]["subject"]["reference"] for e in json.loads(request.body)["entry"]]
        if gone in refs:  # HAPI refuses the whole transaction
            return 404, {}, json.dumps(hapi_body("404_hapi1091_conditional_reference_no_match.json"))
        return created_response(request)

    responses.add_callback(responses.POST, BASE, callback=answer)
    writer = writer_for(mappings, tmp_path, "transaction")
    writes = [PlannedWrite(enc(mappings, f"C{i}"), "h", "create") for i in range(8)]
    writes[6] = PlannedWrite(enc(mappings, "C-ORPHAN", patient="M-GONE"), "h", "create")
    by_key = run(writer, writes)
    orphan = by_key.pop("C-ORPHAN")
    assert orphan.result == "failed"
    assert orphan.reason.startswith("a referenced record was not found on the server")
    assert "patient_mrn → Patient" in orphan.reason and "HAPI-1091" in orphan.reason
    assert "HTTP 404" not in orphan.reason
    assert "M-GONE" not in orphan.reason  # the patient's MRN is not copied into the report
    assert all(o.result == "created" for o in by_key.values())
    assert len(responses.calls) <= 1 + 2 * 3  # log2(8) levels of halves


@responses.activate
def test_404_without_an_unresolved_reference_stays_a_plain_refusal(mappings, tmp_path):
    url = f"{BASE}/{match_url(mappings, 'Encounter', 'C1')}"
    outcome_body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
    responses.add(responses.PUT, url, status=404, json=outcome_body)
    writer = writer_for(mappings, tmp_path, "conditional_put")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1"), "h", "create")]).values()
    assert outcome.reason == "server refused: HTTP 404 (not-found)"


@responses.activate
def test_400_hapi0929_is_reported_with_its_code(mappings, tmp_path):
    url = f"{BASE}/{match_url(mappings, 'Encounter', 'C1')}"
    responses.add(responses.PUT, url, status=400, json=hapi_body("400_hapi0929_resource_does_not_match_url.json"))
    writer = writer_for(mappings, tmp_path, "conditional_put")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1"), "h", "create")]).values()
    assert outcome.reason == "server refused: HTTP 400 (processing HAPI-0929)"


# ------------------------------------------------------------------------------------------------------------
# HAPI-0929: match URLs must decode to exactly the identifier value

AWKWARD_KEYS = [
    "A+B",
    "A B",
    "A/B",
    "urn:oid:1.2.3",
    "Zoë-Ñuñez 東京",
    "100%",
    "a+b c/d:é?x=1&y#z",
    "+ leading plus",
    "%2B",
]


def decoded_token(url: str) -> list[tuple[str, str]]:
    """How a server decodes the query of a match URL (``+`` in a query means a space)."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_match_url_round_trip_decodes_to_exactly_the_key(mappings, key):
    system = mappings.system_for("Patient")
    url = match_url(mappings, "Patient", key)
    assert url.startswith("Patient?identifier=")
    assert decoded_token(url) == [("identifier", f"{system}|{key}")]
    assert " " not in url and "+" not in url.split("|", 1)[1]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@responses.activate
def test_match_url_survives_the_http_client_unchanged(mappings, key):
    """What goes on the wire (requests re-quotes URLs) still decodes to exactly the key."""
    seen: list[str] = []

    def answer(request):
        seen.append(request.url)
        return 200, {"Location": f"{BASE}/Patient/p9/_history/2"}, ""

    responses.add_callback(responses.PUT, f"{BASE}/Patient", callback=answer)
    with FhirClient(BASE, sleep=lambda s: None) as client:
        client.put(match_url(mappings, "Patient", key), {"resourceType": "Patient"})
    assert decoded_token(seen[0]) == [("identifier", f"{mappings.system_for('Patient')}|{key}")]


@responses.activate
def test_transaction_entries_and_conditional_references_carry_encoded_match_urls(mappings, tmp_path):
    responses.add_callback(responses.POST, BASE, callback=created_response)
    writer = writer_for(mappings, tmp_path, "transaction")
    run(writer, [PlannedWrite(enc(mappings, "C 1+é", patient="M 2+ü/x"), "h", "create")])
    [entry] = json.loads(responses.calls[0].request.body)["entry"]
    assert decoded_token(entry["request"]["url"]) == [("identifier", f"{mappings.system_for('Encounter')}|C 1+é")]
    assert decoded_token(entry["resource"]["subject"]["reference"]) == [
        ("identifier", f"{mappings.system_for('Patient')}|M 2+ü/x")
    ]


# ------------------------------------------------------------------------------------------------------------
# Search cache: searches that decide what to write bypass it


def empty_searchset() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": 0}


@responses.activate
def test_reference_prefetch_sends_cache_control_no_cache(mappings, tmp_path):
    responses.add(responses.GET, f"{BASE}/Patient", json=empty_searchset())
    state = StateStore(tmp_path / "s.sqlite", "t")
    with FhirClient(BASE, sleep=lambda s: None) as client:
        resolver = ReferenceResolver(state, client, mappings)
        resolver.prefetch([("Patient", "M 2+x"), ("Patient", "M3")])
    [call] = responses.calls
    assert call.request.headers["Cache-Control"] == "no-cache"
    sent = dict(parse_qsl(urlsplit(call.request.url).query))
    system = mappings.system_for("Patient")
    assert sent["identifier"].split(",") == [f"{system}|M 2+x", f"{system}|M3"]
    assert resolver.known("Patient", "M3") is False


@responses.activate
def test_search_then_write_searches_with_cache_control_no_cache(mappings, tmp_path):
    responses.add(responses.GET, f"{BASE}/Encounter", json=empty_searchset())
    responses.add(
        responses.POST,
        f"{BASE}/Encounter",
        status=201,
        headers={"Location": f"{BASE}/Encounter/e1/_history/1"},
    )
    writer = writer_for(mappings, tmp_path, "search_then_write")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1"), "h", "create")]).values()
    assert outcome.result == "created" and outcome.server_id == "e1"
    search, post = responses.calls
    assert search.request.method == "GET" and search.request.headers["Cache-Control"] == "no-cache"
    assert post.request.method == "POST"


# ------------------------------------------------------------------------------------------------------------
# A matched conditional create/update answered 200 with an empty body


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ({"Location": f"{BASE}/Encounter/e42/_history/3", "ETag": 'W/"3"'}, "3"),
        ({"Content-Location": f"{BASE}/Encounter/e42", "ETag": 'W/"5"'}, "5"),
    ],
)
@responses.activate
def test_matched_conditional_update_with_empty_200_is_updated_with_id_and_version_from_headers(
    mappings, tmp_path, headers, version
):
    url = f"{BASE}/{match_url(mappings, 'Encounter', 'C1')}"
    responses.add(responses.PUT, url, status=200, body="", headers=headers)
    writer = writer_for(mappings, tmp_path, "conditional_put")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1"), "h", "create")]).values()
    assert (outcome.result, outcome.server_id, outcome.version_id) == ("updated", "e42", version)


@responses.activate
def test_conditional_create_with_empty_201_is_created(mappings, tmp_path):
    url = f"{BASE}/{match_url(mappings, 'Encounter', 'C1')}"
    responses.add(responses.PUT, url, status=201, body="", headers={"Location": f"{BASE}/Encounter/n1/_history/1"})
    writer = writer_for(mappings, tmp_path, "conditional_put")
    [outcome] = run(writer, [PlannedWrite(enc(mappings, "C1"), "h", "create")]).values()
    assert (outcome.result, outcome.server_id, outcome.version_id) == ("created", "n1", "1")


@responses.activate
def test_matched_if_none_exist_create_with_empty_200_takes_the_existing_id():
    responses.add(
        responses.POST,
        f"{BASE}/Encounter",
        status=200,
        body="",
        headers={"Location": f"{BASE}/Encounter/old7/_history/2", "ETag": 'W/"2"'},
    )
    with FhirClient(BASE, sleep=lambda s: None) as client:
        result = client.post("Encounter", {"resourceType": "Encounter"}, if_none_exist="identifier=s|C1")
    assert (result.status, result.created, result.id, result.version_id) == (200, False, "old7", "2")
    assert responses.calls[0].request.headers["If-None-Exist"] == "identifier=s|C1"
