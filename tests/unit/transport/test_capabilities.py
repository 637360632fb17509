"""Reading CapabilityStatements and choosing write strategies (fixtures in tests/fixtures/capability/)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from fhirpeer.api import ServerCheck
from fhirpeer.cli.render import render_capability_table as render_check
from fhirpeer.domain import InputKind, WriteStrategy
from fhirpeer.transport.capabilities import (
    ServerCapabilities,
    StrategyPlan,
    choose_strategy,
    parse_capability_statement,
)
from tests.support.paths import FIXTURES

WRITTEN_TYPES = [str(k.resource_type) for k in InputKind]


def render_capability_table(caps, plan) -> str:
    return render_check(ServerCheck(caps, plan, (), {}, {}))


CAPABILITY = FIXTURES / "capability"


def load(name: str) -> dict[str, Any]:
    """A CapabilityStatement fixture as a dict."""
    return json.loads((CAPABILITY / f"{name}.json").read_text(encoding="utf-8"))


def plan_for(cs: dict[str, Any], **kwargs: Any) -> tuple[ServerCapabilities, StrategyPlan]:
    """Parse ``cs`` and plan the six types fhirpeer writes."""
    caps = parse_capability_statement(cs)
    return caps, choose_strategy(caps, WRITTEN_TYPES, **kwargs)


def table_rows(table: str) -> dict[str, list[str]]:
    """The table's rows by resource type, cells split on runs of two or more spaces."""
    rows = {}
    for line in table.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if cells and cells[0].strip() in WRITTEN_TYPES:
            rows[cells[0].strip()] = [c.strip() for c in cells[1:]]
    return rows


def resource_entry(cs: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The ``rest.resource`` entry of one type in the server rest entry."""
    rest = next(r for r in cs["rest"] if r["mode"] == "server")
    return next(r for r in rest["resource"] if r["type"] == resource_type)


def messages(plan: StrategyPlan, *, blocking: bool | None = None) -> list[str]:
    """Problem messages, optionally only the blocking (or only the non-blocking) ones."""
    return [p.message for p in plan.problems if blocking is None or p.blocking == blocking]


ALL_YES = ["yes"] * 7


# --- HAPI ---------------------------------------------------------------------------------------------------


def test_hapi_statement_is_parsed() -> None:
    caps = parse_capability_statement(load("hapi"))
    assert (caps.fhir_version, caps.software_name, caps.software_version) == (
        "4.0.1",
        "HAPI FHIR Server",
        "8.8.0",
    )
    # captured from HAPI 8.8.0: it lists `transaction` but not `batch`, and no type declares updateCreate
    assert caps.is_r4 and caps.transaction and not caps.batch and caps.has_server_rest
    careteam = caps.resource("CareTeam")
    assert careteam.listed and careteam.read and careteam.create and careteam.update and careteam.delete
    assert careteam.search_type and careteam.identifier_search
    assert careteam.conditional_create and careteam.conditional_update and not careteam.update_create
    assert caps.smart_token_endpoint is None


def test_hapi_uses_transaction_everywhere() -> None:
    _, plan = plan_for(load("hapi"))
    assert plan.overall is WriteStrategy.TRANSACTION and plan.common is WriteStrategy.TRANSACTION
    assert all(plan.strategy_for(t) is WriteStrategy.TRANSACTION for t in WRITTEN_TYPES)
    assert all(plan.can_write(t) and plan.can_update(t) for t in WRITTEN_TYPES)
    assert plan.problems == () and plan.ok


def test_hapi_table() -> None:
    caps, plan = plan_for(load("hapi"))
    table = render_capability_table(caps, plan)
    assert table.splitlines()[0] == "server: HAPI FHIR Server 8.8.0 — FHIR 4.0.1"
    assert table_rows(table) == {t: [*["yes"] * 6, "no", "transaction"] for t in WRITTEN_TYPES}  # batch: no
    assert "strategy: transaction for every type" in table
    assert table.rstrip().endswith("problems: none")


def test_hapi_batch_only_server_uses_batch() -> None:
    cs = load("hapi")
    cs["rest"][0]["interaction"] = [{"code": "batch"}]
    _, plan = plan_for(cs)
    assert plan.overall is WriteStrategy.BATCH
    assert messages(plan) == [
        "server does not support transaction Bundles — writes are not atomic (batch Bundles at best)"
    ]
    assert plan.ok


def test_type_without_conditional_update_falls_back_to_search_then_write() -> None:
    cs = load("hapi")
    resource_entry(cs, "ServiceRequest")["conditionalUpdate"] = False
    _, plan = plan_for(cs)
    assert plan.strategy_for("ServiceRequest") is WriteStrategy.SEARCH_THEN_WRITE
    assert plan.strategy_for("Patient") is WriteStrategy.TRANSACTION
    assert plan.overall is None and plan.common is WriteStrategy.SEARCH_THEN_WRITE
    [problem] = plan.problems
    assert problem.resource_type == "ServiceRequest" and not problem.blocking
    assert "conditionalUpdate not declared" in problem.message and "falls back to search_then_write" in problem.message


# --- sekmet (recorded) --------------------------------------------------------------------------------------


def test_sekmet_with_careteam_params_uses_transaction_everywhere() -> None:
    caps, plan = plan_for(load("sekmet_with_careteam"))
    assert caps.software_name == "SEKMET FHIR R4 Tester" and caps.fhir_version == "4.0.1"
    assert caps.resource("CareTeam").identifier_search
    assert plan.overall is WriteStrategy.TRANSACTION and plan.problems == ()
    assert table_rows(render_capability_table(caps, plan))["CareTeam"] == [*ALL_YES, "transaction"]


def test_sekmet_without_careteam_params_does_not_list_careteam() -> None:
    """sekmet 0.1.1 builds rest.resource from its search-parameter table: no parameters, no CareTeam entry."""
    caps, plan = plan_for(load("sekmet_without_careteam"))
    assert "CareTeam" not in caps.resources and not caps.resource("CareTeam").listed
    assert not plan.can_write("CareTeam")
    assert plan.overall is WriteStrategy.TRANSACTION  # every type that can be written uses it
    assert all(plan.strategy_for(t) is WriteStrategy.TRANSACTION for t in WRITTEN_TYPES if t != "CareTeam")
    [problem] = plan.problems
    assert problem.blocking and problem.resource_type == "CareTeam"
    assert problem.message.startswith("CareTeam: not listed in the server's CapabilityStatement")
    table = render_capability_table(caps, plan)
    assert table_rows(table)["CareTeam"] == ["no"] * 5 + ["yes", "yes", "cannot write (not listed)"]
    assert "strategy: transaction for every type fhirpeer can write" in table
    assert f"  error: {problem.message}" in table


def test_sekmet_without_careteam_params_with_forced_client_id_put() -> None:
    """sekmet accepts PUT CareTeam/<id> anyway; a forced strategy is used, with a warning."""
    _, plan = plan_for(load("sekmet_without_careteam"), overrides={"CareTeam": "client_id_put"})
    assert plan.strategy_for("CareTeam") is WriteStrategy.CLIENT_ID_PUT and plan.ok
    assert plan.overall is None and plan.common is WriteStrategy.CLIENT_ID_PUT
    assert messages(plan) == [
        "CareTeam: strategy client_id_put is forced although the CapabilityStatement does not declare it — "
        "writes may be refused"
    ]


def test_careteam_listed_without_identifier_param_falls_back_to_client_id_put() -> None:
    """CareTeam listed without an identifier search parameter: no conditional PUT, no identifier search."""
    cs = load("sekmet_with_careteam")
    careteam = resource_entry(cs, "CareTeam")
    careteam["searchParam"] = [p for p in careteam["searchParam"] if p["name"] != "identifier"]
    caps, plan = plan_for(cs)
    assert plan.strategy_for("CareTeam") is WriteStrategy.CLIENT_ID_PUT
    assert plan.strategy_for("Encounter") is WriteStrategy.TRANSACTION
    assert plan.overall is None and plan.common is WriteStrategy.CLIENT_ID_PUT and plan.ok
    [problem] = plan.problems
    assert problem.resource_type == "CareTeam" and problem.severity == "warning"
    assert "identifier is not a listed search parameter" in problem.message
    assert "falls back to client_id_put" in problem.message
    row = table_rows(render_capability_table(caps, plan))["CareTeam"]
    assert row == ["yes", "yes", "yes", "yes", "no", "yes", "yes", "client_id_put"]


# --- Cerner -------------------------------------------------------------------------------------------------


def test_cerner_careteam_and_servicerequest_are_not_writable() -> None:
    caps, plan = plan_for(load("cerner"))
    assert not caps.transaction and not caps.batch
    assert not plan.can_write("CareTeam") and not plan.can_write("ServiceRequest")
    blocking = messages(plan, blocking=True)
    assert "CareTeam: server allows neither create nor update — fhirpeer cannot write it" in blocking
    assert "ServiceRequest: server allows neither create nor update — fhirpeer cannot write it" in blocking
    assert {p.resource_type for p in plan.blocking} == {
        "Patient", "Practitioner", "Organization", "CareTeam", "ServiceRequest", "EpisodeOfCare",
    }  # fmt: skip
    assert not plan.ok


def test_cerner_has_no_transaction_and_encounter_is_create_only() -> None:
    _, plan = plan_for(load("cerner"))
    warnings = messages(plan, blocking=False)
    assert "server does not support transaction Bundles — writes are not atomic (one request per resource)" in warnings
    assert plan.strategy_for("Encounter") is WriteStrategy.SEARCH_THEN_WRITE
    assert plan.can_write("Encounter") and not plan.can_update("Encounter")
    assert any(m.startswith("Encounter: no update interaction (the server offers patch") for m in warnings)


def test_cerner_table() -> None:
    caps, plan = plan_for(load("cerner"))
    table = render_capability_table(caps, plan)
    assert table.splitlines()[1].startswith("SMART token endpoint: https://authorization.example-cerner.com/")
    rows = table_rows(table)
    assert rows["Encounter"] == [
        "yes",
        "no",
        "no",
        "no",
        "yes",
        "no",
        "no",
        "search_then_write (create only)",
    ]
    assert rows["CareTeam"] == ["no"] * 7 + ["cannot write"]
    assert rows["ServiceRequest"] == ["no"] * 7 + ["cannot write"]
    assert "  error: CareTeam: server allows neither create nor update — fhirpeer cannot write it" in table


# --- versions, structure, tolerance -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.0.2", "4.3.0", "5.0.0"])
def test_non_r4_version_is_a_blocking_problem(version: str) -> None:
    cs = load("hapi")
    cs["fhirVersion"] = version
    caps, plan = plan_for(cs)
    assert not caps.is_r4
    assert messages(plan, blocking=True) == [f"fhirVersion {version} is not R4 (4.0.x)"]
    assert plan.overall is WriteStrategy.TRANSACTION  # the plan itself is still made


def test_missing_version_is_a_warning() -> None:
    cs = load("hapi")
    del cs["fhirVersion"]
    _, plan = plan_for(cs)
    assert messages(plan) == ["the CapabilityStatement does not state a fhirVersion — assuming R4"]
    assert plan.ok


@pytest.mark.parametrize("rest", [None, [], [{"mode": "client", "resource": [{"type": "Patient"}]}]])
def test_missing_server_rest(rest: Any) -> None:
    cs = {"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}
    if rest is not None:
        cs["rest"] = rest
    caps, plan = plan_for(cs)
    assert not caps.has_server_rest and caps.resources == {}
    assert not any(plan.can_write(t) for t in WRITTEN_TYPES)
    blocking = messages(plan, blocking=True)
    assert blocking[0] == "the CapabilityStatement has no rest entry with mode=server — nothing is declared"
    assert len(blocking) == 1 + len(WRITTEN_TYPES)
    assert plan.overall is None and plan.common is None
    rows = table_rows(render_capability_table(caps, plan))
    assert rows["Patient"][-1] == "cannot write (not listed)"


def test_server_rest_is_picked_among_several() -> None:
    cs = load("hapi")
    cs["rest"].insert(0, {"mode": "client", "resource": [{"type": "Patient", "interaction": []}]})
    caps = parse_capability_statement(cs)
    assert caps.transaction and caps.resource("Patient").update


def test_sloppy_statement_is_tolerated() -> None:
    """Mistyped or missing fields count as 'not declared' instead of raising."""
    cs = {
        "fhirVersion": "4.0.0",
        "software": "not an object",
        "rest": [
            "junk",
            {
                "mode": "server",
                "interaction": {"code": "transaction"},
                "searchParam": [{"name": "identifier"}],  # rest-level: applies to every type
                "resource": [
                    {"interaction": [{"code": "create"}]},  # no type
                    {
                        "type": "Patient",
                        "interaction": [{"code": "update"}, {"nope": 1}, "read"],
                        "conditionalUpdate": "true",  # a string, not a boolean
                        "updateCreate": True,
                        "searchParam": [{"type": "token"}],
                    },
                ],
            },
        ],
    }
    caps = parse_capability_statement(cs)
    assert caps.is_r4 and caps.software_name is None and not caps.transaction
    patient = caps.resource("Patient")
    assert patient.interactions == frozenset({"update"}) and patient.identifier_search
    assert not patient.conditional_update
    plan = choose_strategy(caps, ["Patient"])
    assert plan.strategy_for("Patient") is WriteStrategy.CLIENT_ID_PUT


def test_not_an_object_raises() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        parse_capability_statement([])  # type: ignore[arg-type]


def test_smart_configuration_wins_over_oauth_uris() -> None:
    cerner = load("cerner")
    caps = parse_capability_statement(cerner, {"token_endpoint": "https://auth.example.org/token"})
    assert caps.smart_token_endpoint == "https://auth.example.org/token"
    assert parse_capability_statement(cerner, {}).smart_token_endpoint.endswith("/smart-v1/token")


def test_plan_only_covers_requested_types() -> None:
    caps = parse_capability_statement(load("cerner"))
    plan = choose_strategy(caps, ["Encounter", "Encounter"])
    assert list(plan.strategies) == ["Encounter"] and plan.ok
    assert not plan.can_write("CareTeam")  # not asked for
    rows = table_rows(render_capability_table(caps, plan))
    assert list(rows) == ["Encounter"]


def test_parsing_does_not_modify_the_statement() -> None:
    cs = load("hapi")
    original = copy.deepcopy(cs)
    plan_for(cs)
    assert cs == original  # parsing does not modify the statement
