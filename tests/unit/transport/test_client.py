"""FhirClient against HAPI-shaped answers (``responses``): headers, retries, re-auth, paging, writes."""

from __future__ import annotations

import json
import logging
from email.utils import formatdate
from itertools import islice
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from fhirpeer import __version__, errors
from fhirpeer.transport.auth import BearerToken, ClientCredentials
from fhirpeer.transport.client import FhirClient, WriteResult, describe_target, parse_etag, parse_location
from fhirpeer.transport.retry import RetryBudget, RetryPolicy
from tests.support.paths import FIXTURES

BASE = "http://fhir.test/fhir"
TOKEN_URL = "http://auth.test/token"
HTTP_FIXTURES = FIXTURES / "http"
PAGE_2 = f"{BASE}?_getpages=7f2c1e0a-0d55-4c7e-9b7e-search1&_getpagesoffset=2&_count=2&_bundletype=searchset"
PAGE_3 = f"{BASE}?_getpages=7f2c1e0a-0d55-4c7e-9b7e-search1&_getpagesoffset=4&_count=2&_bundletype=searchset"
COND_PATH = "Encounter?identifier=https%3A%2F%2Ffhir.example.org%2Fsid%2Fpeer-contact%7CC-100234"
ENCOUNTER = {"resourceType": "Encounter", "status": "finished", "subject": {"display": "Rosalind Quimby"}}


def load(name: str) -> dict[str, Any]:
    return json.loads((HTTP_FIXTURES / name).read_text(encoding="utf-8"))


def bundle(resource_ids: list[str], next_url: str | None = None) -> dict[str, Any]:
    links = [{"relation": "next", "url": next_url}] if next_url else []
    entries = [{"resource": {"resourceType": "Encounter", "id": i}, "search": {"mode": "match"}} for i in resource_ids]
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> FhirClient:
    policy = RetryPolicy(jitter=0.0)
    return FhirClient(BASE, retry=policy, budget=RetryBudget(total=policy.total_budget), sleep=sleeps.append)


# --- request basics -----------------------------------------------------------------------------------


@responses.activate
def test_every_request_carries_fhir_headers_timeout_and_auth(sleeps: list[float]) -> None:
    responses.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"})
    client = FhirClient(BASE, auth=BearerToken("tok"), timeout=(3, 30), sleep=sleeps.append)

    statement = client.capabilities()

    assert statement["fhirVersion"] == "4.0.1"
    request = responses.calls[0].request
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["User-Agent"] == f"fhirpeer/{__version__}"
    assert request.req_kwargs["timeout"] == (3, 30)


@responses.activate
def test_json_bodies_are_sent_as_fhir_json(client: FhirClient) -> None:
    responses.post(f"{BASE}/Encounter", status=201, json={**ENCOUNTER, "id": "e1", "meta": {"versionId": "1"}})

    result = client.post("Encounter", ENCOUNTER)

    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert json.loads(request.body) == ENCOUNTER
    assert result == WriteResult(201, "Encounter", "e1", "1", {**ENCOUNTER, "id": "e1", "meta": {"versionId": "1"}})
    assert result.created


@pytest.mark.parametrize("base", [BASE, BASE + "/", BASE + "//"])
@responses.activate
def test_base_url_with_or_without_trailing_slash(base: str, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/Encounter/e1", json={"resourceType": "Encounter", "id": "e1"})

    with FhirClient(base, sleep=sleeps.append) as client:
        assert client.read("Encounter", "e1") == {"resourceType": "Encounter", "id": "e1"}


def test_base_url_must_be_http() -> None:
    with pytest.raises(errors.ConfigError):
        FhirClient("fhir.test/fhir")


def test_verify_is_applied_to_the_session() -> None:
    assert FhirClient(BASE, verify="/etc/ssl/ca.pem").session.verify == "/etc/ssl/ca.pem"
    assert FhirClient(BASE, verify=False).session.verify is False


@pytest.mark.parametrize("status", [404, 410])
@responses.activate
def test_read_missing_or_deleted_is_none(client: FhirClient, status: int) -> None:
    responses.get(f"{BASE}/Encounter/gone", status=status, json={"resourceType": "OperationOutcome"})

    assert client.read("Encounter", "gone") is None


def test_read_rejects_ids_that_would_change_the_path(client: FhirClient) -> None:
    with pytest.raises(ValueError):
        client.read("Encounter", "../Patient/1")


@responses.activate
def test_smart_configuration_without_auth_and_none_when_absent(sleeps: list[float]) -> None:
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    client = FhirClient(BASE, auth=BearerToken("tok"), sleep=sleeps.append)

    assert client.smart_configuration() == {"token_endpoint": TOKEN_URL}
    assert "Authorization" not in responses.calls[0].request.headers

    responses.replace(responses.GET, f"{BASE}/.well-known/smart-configuration", status=404)
    assert client.smart_configuration() is None


# --- retries ------------------------------------------------------------------------------------------


@responses.activate
def test_429_with_retry_after_then_success(client: FhirClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/Encounter/e1", status=429, headers={"Retry-After": "2"})
    responses.get(f"{BASE}/Encounter/e1", json={"resourceType": "Encounter", "id": "e1"})

    assert client.read("Encounter", "e1") == {"resourceType": "Encounter", "id": "e1"}

    assert sleeps == [2.0]
    assert len(responses.calls) == 2
    assert client.stats()["retries"] == 1


@responses.activate
def test_retry_after_of_an_hour_is_capped(client: FhirClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/Encounter/e1", status=429, headers={"Retry-After": "3600"})
    responses.get(f"{BASE}/Encounter/e1", json={"resourceType": "Encounter", "id": "e1"})

    client.read("Encounter", "e1")

    assert sleeps == [120.0]


@responses.activate
def test_retry_after_http_date(client: FhirClient, sleeps: list[float]) -> None:
    import time

    responses.get(
        f"{BASE}/Encounter/e1", status=503, headers={"Retry-After": formatdate(time.time() + 45, usegmt=True)}
    )
    responses.get(f"{BASE}/Encounter/e1", json={"resourceType": "Encounter", "id": "e1"})

    client.read("Encounter", "e1")

    assert len(sleeps) == 1
    assert 43.0 <= sleeps[0] <= 45.0


@responses.activate
def test_503_storm_until_the_budget_is_exhausted(sleeps: list[float]) -> None:
    policy = RetryPolicy(max_attempts=1000, initial_wait=1.0, max_wait=30.0, jitter=0.0)
    budget = RetryBudget(total=100.0)
    client = FhirClient(BASE, retry=policy, budget=budget, sleep=sleeps.append)
    responses.put(f"{BASE}/Encounter/e1", status=503)

    with pytest.raises(errors.TemporaryError) as info:
        client.put("Encounter/e1", ENCOUNTER)

    assert info.value.status == 503
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # the next 30 s would pass the budget
    assert len(responses.calls) == 8
    assert budget.remaining() < 30.0


@responses.activate
def test_connection_error_becomes_server_unreachable(client: FhirClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/Encounter", body=requests.ConnectionError("Max retries exceeded"))

    with pytest.raises(errors.ServerUnreachable) as info:
        list(client.search("Encounter", {"name": "Quimby"}))

    assert len(responses.calls) == 6
    assert len(sleeps) == 5
    assert "Quimby" not in str(info.value)
    assert info.value.exit_code == 3


@responses.activate
def test_transaction_is_retried_but_a_plain_create_is_not(client: FhirClient) -> None:
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    reply = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    responses.post(BASE, status=502)
    responses.post(BASE, json=reply)
    responses.post(f"{BASE}/Encounter", status=503)

    assert client.transaction(transaction) == reply
    assert len(responses.calls) == 2

    with pytest.raises(errors.TemporaryError):
        client.post("Encounter", ENCOUNTER)
    assert len(responses.calls) == 3


@responses.activate
def test_conditional_create_is_retried(client: FhirClient) -> None:
    responses.post(f"{BASE}/Encounter", status=503)
    responses.post(f"{BASE}/Encounter", status=200, headers={"Location": f"{BASE}/Encounter/e9/_history/2"})

    result = client.post("Encounter", ENCOUNTER, if_none_exist="?identifier=https%3A%2F%2Fx%7CC-1")

    assert responses.calls[1].request.headers["If-None-Exist"] == "identifier=https%3A%2F%2Fx%7CC-1"
    assert (result.status, result.id, result.version_id, result.created) == (200, "e9", "2", False)


@responses.activate
def test_batch_posts_to_base_and_rejects_wrong_bundle_types(client: FhirClient) -> None:
    reply = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "201 Created"}}],
    }
    responses.post(BASE, json=reply, match=[matchers.header_matcher({"Content-Type": "application/fhir+json"})])

    assert client.batch({"resourceType": "Bundle", "type": "batch", "entry": [{}]}) == reply
    with pytest.raises(ValueError):
        client.batch({"resourceType": "Bundle", "type": "transaction"})


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 412, 422, 500])
@responses.activate
def test_refusals_are_not_retried_and_become_fatal(client: FhirClient, sleeps: list[float], status: int) -> None:
    responses.put(f"{BASE}/{COND_PATH}", status=status, json=load("synthetic/outcome_0988_echoing_values.json"))

    with pytest.raises(errors.FatalError) as info:
        client.put(COND_PATH, ENCOUNTER)

    assert len(responses.calls) == 1
    assert sleeps == []
    error = info.value
    assert error.status == status
    assert str(error).startswith(f"PUT Encounter?identifier=… {'refused' if status < 500 else 'failed'}: HTTP {status}")
    assert "HAPI-0988" in str(error)
    assert [issue.code for issue in error.issues] == ["processing"]
    for secret in ("C-100234", "peer-contact", "Rosalind", "Quimby"):
        assert secret not in str(error)


@responses.activate
def test_refusal_without_outcome_body(client: FhirClient) -> None:
    responses.delete(f"{BASE}/Encounter/e1", status=409, body="<html>conflict</html>")

    with pytest.raises(errors.FatalError, match=r"^DELETE Encounter/e1 refused: HTTP 409$"):
        client.delete("Encounter/e1")


@pytest.mark.parametrize("status", [200, 204, 404, 410])
@responses.activate
def test_delete_returns_status(client: FhirClient, status: int) -> None:
    responses.delete(f"{BASE}/Encounter/e1", status=status)

    assert client.delete("Encounter/e1") == status


# --- authentication -----------------------------------------------------------------------------------


@responses.activate
def test_401_triggers_one_reauthentication_not_counted_as_retry(sleeps: list[float]) -> None:
    responses.post(TOKEN_URL, json={"access_token": "old", "expires_in": 3600})
    responses.post(TOKEN_URL, json={"access_token": "new", "expires_in": 3600})
    responses.get(f"{BASE}/Encounter/e1", status=401, match=[matchers.header_matcher({"Authorization": "Bearer old"})])
    responses.get(
        f"{BASE}/Encounter/e1",
        json={"resourceType": "Encounter", "id": "e1"},
        match=[matchers.header_matcher({"Authorization": "Bearer new"})],
    )
    client = FhirClient(BASE, auth=ClientCredentials(TOKEN_URL, "c", "s"), sleep=sleeps.append)

    assert client.read("Encounter", "e1") == {"resourceType": "Encounter", "id": "e1"}

    assert [c.request.url for c in responses.calls].count(f"{BASE}/Encounter/e1") == 2
    assert client.stats()["retries"] == 0
    assert client.stats()["reauthentications"] == 1
    assert sleeps == []


@responses.activate
def test_second_401_is_an_auth_error(client: FhirClient) -> None:
    responses.put(f"{BASE}/Encounter/e1", status=401)

    with pytest.raises(errors.AuthError) as info:
        client.put("Encounter/e1", ENCOUNTER)

    assert info.value.status == 401
    assert len(responses.calls) == 2


@responses.activate
def test_403_is_an_auth_error_at_once(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter/e1", status=403)

    with pytest.raises(errors.AuthError, match="HTTP 403"):
        client.read("Encounter", "e1")

    assert len(responses.calls) == 1


# --- paging -------------------------------------------------------------------------------------------


@responses.activate
def test_search_follows_getpages_links_verbatim_and_stops_on_an_empty_page(client: FhirClient) -> None:
    responses.get(
        f"{BASE}/Encounter",
        json=load("synthetic/paging_page1.json"),
        match=[matchers.query_param_matcher({"subject": "Patient/p1", "_count": "2"})],
    )
    responses.get(PAGE_2, json=load("synthetic/paging_page2.json"))
    responses.get(PAGE_3, json=load("synthetic/paging_page3_empty_with_next_link.json"))

    found = list(client.search("Encounter", [("subject", "Patient/p1")], page_size=2))

    assert [r["id"] for r in found] == ["e1", "e2", "e3", "e4"]
    assert [c.request.url for c in responses.calls][1:] == [PAGE_2, PAGE_3]
    assert all(c.request.headers["Cache-Control"] == "no-cache" for c in responses.calls)


@responses.activate
def test_search_without_no_cache(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle(["e1"]))

    list(client.search("Encounter", no_cache=False))

    assert "Cache-Control" not in responses.calls[0].request.headers


@responses.activate
def test_repeated_next_link_stops_paging(client: FhirClient, caplog: pytest.LogCaptureFixture) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle(["e1"], PAGE_2))
    responses.get(PAGE_2, json=bundle(["e2"], PAGE_2))

    with caplog.at_level(logging.WARNING, logger="fhirpeer.http"):
        found = [r["id"] for r in islice(client.search("Encounter"), 10)]  # bounded: fail, not hang

    assert found == ["e1", "e2"]
    assert len(responses.calls) == 2
    assert "repeats" in caplog.text


@responses.activate
def test_next_link_back_to_the_first_page_stops(client: FhirClient) -> None:
    first = f"{BASE}/Encounter?status=finished"
    responses.get(first, json=bundle(["e1"], first))

    assert [r["id"] for r in islice(client.search("Encounter", {"status": "finished"}), 10)] == ["e1"]
    assert len(responses.calls) == 1


@responses.activate
def test_relative_next_link_is_resolved_against_the_base(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle(["e1"], "Encounter?_page=2"))
    responses.get(f"{BASE}/Encounter?_page=2", json=bundle(["e2"]))

    assert [r["id"] for r in client.search("Encounter")] == ["e1", "e2"]


@responses.activate
def test_next_link_to_another_host_is_refused(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle(["e1"], "http://internal:8080/fhir?_getpages=x"))

    with pytest.raises(errors.ServerError, match="internal:8080"):
        list(client.search("Encounter"))


@responses.activate
def test_search_bundles_yields_raw_pages(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle(["e1"], PAGE_2))
    responses.get(PAGE_2, json=bundle([]))

    pages = list(client.search_bundles("Encounter"))

    assert [len(p["entry"]) for p in pages] == [1, 0]


@responses.activate
def test_search_response_that_is_not_a_bundle(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json={"resourceType": "Encounter"})

    with pytest.raises(errors.ServerError, match="not a Bundle"):
        list(client.search("Encounter"))


# --- write results ------------------------------------------------------------------------------------


@responses.activate
def test_empty_201_takes_id_and_version_from_location_and_etag(client: FhirClient) -> None:
    responses.put(
        f"{BASE}/{COND_PATH}",
        status=201,
        body="",
        headers={"Location": f"{BASE}/Encounter/enc-7/_history/1", "ETag": 'W/"1"'},
    )

    result = client.put(COND_PATH, ENCOUNTER)

    assert result == WriteResult(201, "Encounter", "enc-7", "1", None)


@responses.activate
def test_empty_200_with_content_location_and_etag_only(client: FhirClient) -> None:
    responses.post(
        f"{BASE}/Encounter",
        status=200,
        body="",
        headers={"Content-Location": f"{BASE}/Encounter/enc-7", "ETag": 'W/"4"'},
    )

    result = client.post("Encounter", ENCOUNTER, if_none_exist="identifier=x%7C1")

    assert result == WriteResult(200, "Encounter", "enc-7", "4", None)


@responses.activate
def test_outcome_body_is_not_taken_for_the_resource(client: FhirClient) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational"}],
    }
    responses.put(
        f"{BASE}/Encounter/e1",
        status=200,
        json=outcome,
        headers={"Location": f"{BASE}/Encounter/e1/_history/3"},
    )

    result = client.put("Encounter/e1", ENCOUNTER, if_match="2")

    assert responses.calls[0].request.headers["If-Match"] == 'W/"2"'
    assert result == WriteResult(200, "Encounter", "e1", "3", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://fhir.test/fhir/Encounter/e1/_history/3", ("Encounter", "e1", "3")),
        ("Encounter/e1", ("Encounter", "e1", None)),
        ("https://x/fhir/Encounter/e1/_history/3?_format=json", ("Encounter", "e1", "3")),
        ("http://fhir.test/fhir", (None, None, None)),
        ("http://Fhir/Abc", (None, None, None)),  # a host is no resource type
        ("https://h:8443/Patient/p-1.a/_history/2#x", ("Patient", "p-1.a", "2")),
        (None, (None, None, None)),
    ],
)
def test_parse_location(value: str | None, expected: tuple[str | None, ...]) -> None:
    assert parse_location(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [('W/"3"', "3"), ('"abc"', "abc"), ("7", "7"), ("", None), ('W/""', None)]
)
def test_parse_etag(value: str, expected: str | None) -> None:
    assert parse_etag(value) == expected


def test_describe_target_keeps_parameter_names_only() -> None:
    assert describe_target(COND_PATH) == "Encounter?identifier=…"
    assert describe_target("Encounter/e1") == "Encounter/e1"


# --- logging ------------------------------------------------------------------------------------------


@responses.activate
def test_debug_log_has_method_path_status_and_attempt_but_no_query_body_or_token(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    responses.put(f"{BASE}/{COND_PATH}", status=503)
    responses.put(f"{BASE}/{COND_PATH}", status=201, json={**ENCOUNTER, "id": "e1"})
    client = FhirClient(BASE, auth=BearerToken("tok-SECRET"), sleep=sleeps.append)

    with caplog.at_level(logging.DEBUG):
        client.put(COND_PATH, ENCOUNTER)

    messages = [r.getMessage() for r in caplog.records if r.name == "fhirpeer.http"]
    assert any("PUT /fhir/Encounter -> 503" in m and "attempt 1" in m for m in messages)
    assert any("PUT /fhir/Encounter -> 201" in m and "attempt 2" in m for m in messages)
    everything = caplog.text
    for secret in ("tok-SECRET", "C-100234", "Rosalind", "peer-contact"):
        assert secret not in everything
