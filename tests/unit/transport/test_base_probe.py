"""A URL that answers but is no FHIR base: named, with the base it probably should be."""

from __future__ import annotations

import json

import pytest
import responses

from fhirpeer.errors import FatalError, NotFhirBase, ServerUnreachable
from fhirpeer.transport.base_probe import candidate_bases, read_capability_statement
from fhirpeer.transport.client import FhirClient
from fhirpeer.transport.retry import RetryPolicy
from tests.support.paths import FIXTURES

STATEMENT = json.loads((FIXTURES / "capability" / "hapi.json").read_text())


def test_candidates_go_below_the_url_then_below_the_root() -> None:
    assert candidate_bases("https://h.example") == [
        "https://h.example/fhir", "https://h.example/baseR4", "https://h.example/fhir/R4", "https://h.example/R4",
    ]  # fmt: skip
    assert candidate_bases("https://h.example/api/metadata")[:2] == [
        "https://h.example/api",
        "https://h.example/api/fhir",
    ]
    assert "https://h.example/fhir" in candidate_bases("https://h.example/fhir/R5")


@responses.activate
def test_404_on_metadata_suggests_the_base_that_answers() -> None:
    responses.get("https://h.example/metadata", status=404)
    responses.get("https://h.example/fhir/metadata", status=404)
    responses.get("https://h.example/baseR4/metadata", json=STATEMENT)
    with pytest.raises(NotFhirBase) as caught:
        read_capability_statement(FhirClient("https://h.example/"))
    assert caught.value.suggestion == "https://h.example/baseR4" and caught.value.exit_code == 2
    assert str(caught.value) == (
        "https://h.example answers, but is not a FHIR base URL (GET metadata: HTTP 404); "
        "did you mean https://h.example/baseR4 ?"
    )


@responses.activate
def test_a_web_page_instead_of_a_statement_and_no_base_found() -> None:
    responses.get("https://h.example/app/metadata", body="<html>login</html>", content_type="text/html")
    with pytest.raises(NotFhirBase, match=r"GET metadata: no CapabilityStatement\); use the server's FHIR base URL"):
        read_capability_statement(FhirClient("https://h.example/app"))


@responses.activate
def test_other_failures_are_not_mistaken_for_a_wrong_base() -> None:
    responses.get("https://h.example/fhir/metadata", status=500)
    with pytest.raises(FatalError):
        read_capability_statement(FhirClient("https://h.example/fhir", retry=RetryPolicy(max_attempts=1)))


def test_an_unreachable_host_stays_unreachable() -> None:
    client = FhirClient("http://127.0.0.1:9/fhir", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ServerUnreachable, match=r"connection refused by 127\.0\.0\.1:9"):
        read_capability_statement(client)
