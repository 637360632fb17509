"""OperationOutcome parsing keeps codes and paths and drops anything that could be PHI."""

from __future__ import annotations

import json

import pytest

from fhirpeer.errors import OutcomeIssue
from fhirpeer.transport.operation_outcome import (
    MAX_DIAGNOSTICS,
    parse_operation_outcome,
    safe_diagnostics,
    safe_expression,
    summarize_issues,
)
from tests.support.paths import FIXTURES

HTTP_FIXTURES = FIXTURES / "http"


def load(name: str) -> dict:
    return json.loads((HTTP_FIXTURES / name).read_text(encoding="utf-8"))


def test_quoted_name_dates_and_phone_are_scrubbed_but_hapi_code_stays() -> None:
    issues = parse_operation_outcome(load("synthetic/outcome_0929_echoing_phi.json"))

    first = issues[0]
    assert first.severity == "error"
    assert first.code == "processing"
    assert first.diagnostics.startswith("HAPI-0929: Failed to process conditional create.")
    for phi in ("Rosalind", "Quimby", "1987", "5551234567", "555"):
        assert phi not in first.diagnostics
        assert phi not in " ".join(first.expression)
    assert first.expression == ["Patient.name.where(family='…')", "Patient.birthDate"]


def test_location_used_when_expression_is_absent() -> None:
    issues = parse_operation_outcome(load("synthetic/outcome_0929_echoing_phi.json"))

    assert issues[1].severity == "warning"
    assert issues[1].expression == ["Patient.extension[3]", "Line[1] Col[220]"]


def test_match_url_values_and_narrative_never_reach_the_issue() -> None:
    body = load("synthetic/outcome_0988_echoing_values.json")

    issues = parse_operation_outcome(body)
    text = repr(issues)

    assert issues[0].diagnostics.startswith("HAPI-0988: Failed to UPDATE resource with match URL")
    assert "matched 2 resources" in issues[0].diagnostics
    assert "C-100234" not in text
    assert "Rosalind" not in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('HAPI-0958: 2 matches for "Smith, John"', 'HAPI-0958: 2 matches for "…"'),
        ("value 'Jane' rejected", 'value "…" rejected'),
        ("mrn 1234567 and HAPI-1091", "mrn # and HAPI-1091"),
        ("HAPI-12345 is not a code", "HAPI-# is not a code"),
        ('unterminated "Jane Doe and more', 'unterminated "…"'),
        ("search Patient?name=Smith&birthdate=1980 failed", "search Patient?name=…&birthdate=… failed"),
        ("Encounter.period.start: invalid", "Encounter.period.start: invalid"),
        ("line\nbreaks\t collapse", "line breaks collapse"),
        ("O'Brien apostrophes inside words stay", "O'Brien apostrophes inside words stay"),
        (None, ""),
    ],
)
def test_safe_diagnostics(raw: str | None, expected: str) -> None:
    assert safe_diagnostics(raw) == expected


def test_diagnostics_cut_at_160_characters() -> None:
    text = safe_diagnostics("HAPI-0450: " + "word " * 100)

    assert len(text) <= MAX_DIAGNOSTICS
    assert text.endswith("…")
    assert text.startswith("HAPI-0450: word")


def test_scrubbing_happens_before_truncation_so_cut_quotes_do_not_leak() -> None:
    text = safe_diagnostics("x" * 150 + ' "Margaret Hamilton-Smythe"')

    assert "Marg" not in text


def test_safe_expression_keeps_indexes() -> None:
    assert safe_expression("Bundle.entry[123].resource.name[0]") == "Bundle.entry[123].resource.name[0]"


@pytest.mark.parametrize(
    "body",
    [None, {}, {"resourceType": "Patient"}, {"resourceType": "OperationOutcome"}, {"resourceType": "Bundle"}],
)
def test_anything_but_an_outcome_gives_no_issues(body: dict | None) -> None:
    assert parse_operation_outcome(body) == []


def test_garbage_codes_are_dropped() -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not a code Smith", "details": {"text": 'bad "Smith"'}}, "x"],
    }

    assert parse_operation_outcome(body) == [OutcomeIssue(severity="error", code="", diagnostics='bad "…"')]


def test_summary_puts_errors_first_and_counts_the_rest() -> None:
    issues = [
        OutcomeIssue("warning", "informational", "w"),
        OutcomeIssue("error", "processing", "HAPI-0988: e", ["Encounter.identifier"]),
        OutcomeIssue("information", "informational", "i"),
    ]

    assert summarize_issues(issues) == "processing HAPI-0988 at Encounter.identifier; informational; +1 more"
