"""`fhirpeer check-server` (and `fhirpeer sync`'s refusal to start) against recorded CapabilityStatements.

`hapi.json` and `cerner.json` are described in `tests/fixtures/capability/README.md`; the servers are played
by `responses`, so anything the commands send is on record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from fhirpeer import ServerCheck, status
from fhirpeer.api import _referral_loop_warnings
from fhirpeer.cli import main
from fhirpeer.demo.sample import generate_program
from fhirpeer.domain import ResourceType
from fhirpeer.transport.capabilities import choose_strategy, parse_capability_statement
from tests.support.paths import FIXTURES

RESOURCE_TYPES = [str(t) for t in ResourceType]
CAPABILITY = FIXTURES / "capability"
BASE = "https://ehr.example.org/fhir/r4"
SMART_TOKEN = "https://login.example.org/smart/token"
SMART_CONFIGURATION = {
    "issuer": "https://login.example.org",
    "token_endpoint": SMART_TOKEN,
    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    "grant_types_supported": ["client_credentials"],
    "scopes_supported": ["system/Encounter.write", "system/Patient.read"],
    "capabilities": ["client-confidential-asymmetric"],
}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FHIRPEER_AUTH", "FHIRPEER_STRATEGY", "FHIRPEER_STRATEGY_PER_TYPE", "FHIRPEER_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FHIRPEER_MAX_ATTEMPTS", "1")  # an unexpected request fails at once


def serve(rsps: responses.RequestsMock, statement: str, smart: dict | None = None) -> None:
    rsps.get(f"{BASE}/metadata", json=json.loads((CAPABILITY / statement).read_text()))
    if smart is None:
        rsps.get(f"{BASE}/.well-known/smart-configuration", status=404)
    else:
        rsps.get(f"{BASE}/.well-known/smart-configuration", json=smart)


def table_rows(out: str) -> dict[str, str]:
    """resource type → its row in the capabilities table (rows start at column 0 with the type)."""
    return {line.split()[0]: line for line in out.splitlines() if line.split(" ", 1)[0] in RESOURCE_TYPES}


def test_hapi_exits_0_with_transaction_for_every_type(capsys: pytest.CaptureFixture[str]) -> None:
    """Transaction for every business-keyed type; Provenance (R4 defines no identifier search for it, and
    fhirpeer never searches for its own audit records) goes by PUT Provenance/<id>, which HAPI accepts though its
    statement declares no updateCreate."""
    with responses.RequestsMock() as rsps:
        serve(rsps, "hapi.json")
        code = main(["check-server", "--server", BASE])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = table_rows(out)
    assert set(rows) == set(RESOURCE_TYPES)
    for rtype, row in rows.items():
        assert row.endswith("  client_id_put" if rtype == "Provenance" else "  transaction"), row
    assert "FHIR version: 4.0.1 (R4) — supported" in out
    assert "verdict: OK" in out
    assert "HAPI FHIR Server 8.8.0" in out


def test_cerner_exits_1_and_says_plainly_careteam_and_servicerequest_cannot_be_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, "cerner.json", SMART_CONFIGURATION)
        code = main(["check-server", "--server", BASE])
        methods = {c.request.method for c in rsps.calls}
    out = capsys.readouterr().out
    assert code == 1, out
    assert methods == {"GET"}
    rows = table_rows(out)
    assert rows["CareTeam"].endswith("cannot write") and rows["ServiceRequest"].endswith("cannot write")
    assert rows["Encounter"].endswith("search_then_write (create only)")
    assert "verdict: NOT OK" in out
    for rtype in ("CareTeam", "ServiceRequest"):
        assert (
            f"{rtype} cannot be written: the server allows only read, search-type on {rtype} — "
            "no create, no update." in out
        )
    assert "No fhirpeer setting can change that" in out and "leave care_team.csv out of the export" in out
    # the token endpoint comes from .well-known/smart-configuration, not from the statement's oauth-uris
    assert f"SMART token endpoint: {SMART_TOKEN}" in out


def test_cerner_is_enough_for_an_export_of_contacts_only(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    generate_program(export, patients=3, seed=1)
    for other in export.iterdir():
        if other.name != "peer_contacts.csv":
            other.unlink()
    with responses.RequestsMock() as rsps:
        serve(rsps, "cerner.json")
        code = main(["check-server", "--server", BASE, "--input", str(export)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = table_rows(out)
    assert set(rows) == {"Appointment", "Encounter", "Device", "Provenance"}
    assert rows["Appointment"].endswith("cannot write (not listed)")  # contacts that did not happen: skipped
    assert "verdict: OK" in out and "(Encounter)" in out and "it goes on without Appointment" in out


def test_sync_to_cerner_exits_2_writes_nothing_and_names_what_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    generate_program(export, patients=5, seed=4)
    state = tmp_path / "state" / "state.sqlite"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        serve(rsps, "cerner.json", SMART_CONFIGURATION)
        code = main([
            "sync", "--server", BASE, "--input", str(export), "--state", str(state), "--no-progress",
            "--namespace", "https://peer.hospital.example",
        ])  # fmt: skip
        calls = [(c.request.method, c.request.url) for c in rsps.calls]
    err = capsys.readouterr().err
    assert code == 2, err
    assert calls and all(method == "GET" for method, _ in calls), calls  # not one POST or PUT
    assert "the server cannot hold this export; nothing was written" in err
    for rtype in ("Patient", "Practitioner", "Organization", "CareTeam", "ServiceRequest"):
        assert f"{rtype} cannot be written" in err
    assert "Encounter cannot be written" not in err
    found = status(state)  # the refused run is listed, and nothing is recorded as synced
    assert [(r["status"], r["exit_code"], r["written"]) for r in found.runs] == [("not_started", 2, 0)]
    assert found.runs[0]["error"]["category"] == "config"


def test_the_override_check_server_suggests_is_applied_from_the_config(tmp_path: Path, capsys) -> None:
    """A statement that does not list CareTeam: the advice names the override; with it, exit 0."""
    statement = json.loads((CAPABILITY / "hapi.json").read_text())
    rest = statement["rest"][0]
    rest["resource"] = [r for r in rest["resource"] if r["type"] != "CareTeam"]

    def check(*extra: str) -> tuple[int, str]:
        with responses.RequestsMock() as rsps:
            rsps.get(f"{BASE}/metadata", json=statement)
            rsps.get(f"{BASE}/.well-known/smart-configuration", status=404)
            code = main(["check-server", "--server", BASE, *extra])
        return code, capsys.readouterr().out

    code, out = check()
    assert code == 1
    assert "CareTeam cannot be written: CareTeam is not listed in the server's CapabilityStatement" in out
    [advice] = [line.strip() for line in out.splitlines() if line.strip().startswith("strategy_per_type:")]
    assert advice == "strategy_per_type: {CareTeam: client_id_put}"
    config = tmp_path / "fhirpeer.yaml"
    config.write_text(advice + "\n")
    code, out = check("--config", str(config))
    assert code == 0, out
    assert table_rows(out)["CareTeam"].endswith("client_id_put")
    assert "CareTeam: strategy client_id_put forced by configuration" in out


def test_not_r4_is_not_ok(tmp_path: Path, capsys) -> None:
    statement = json.loads((CAPABILITY / "hapi.json").read_text())
    statement["fhirVersion"] = "5.0.0"
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/metadata", json=statement)
        rsps.get(f"{BASE}/.well-known/smart-configuration", status=404)
        code = main(["check-server", "--server", BASE])
    out = capsys.readouterr().out
    assert code == 1
    assert "FHIR version: 5.0.0 — NOT R4 (4.0.x)" in out
    assert "server: fhirVersion 5.0.0 is not R4 (4.0.x)" in out


def test_check_server_says_what_the_server_offers_for_referral_tasks(capsys) -> None:
    """Task create/update and search by focus, owner and _lastUpdated: all there on HAPI, in text and JSON."""
    with responses.RequestsMock() as rsps:
        serve(rsps, "hapi.json")
        main(["check-server", "--server", BASE])
        main(["check-server", "--server", BASE, "--json"])
    text, document = capsys.readouterr().out.split("\n{", 1)
    assert "referral Tasks (closing the loop on handoffs):\n  Task create: yes, update: yes; search by focus: yes, " \
        "by owner: yes, by _lastUpdated: yes\n\nFHIR version" in text  # fmt: skip
    assert json.loads("{" + document)["referral_tasks"] == {
        "listed": True, "create": True, "update": True, "not_incremental": [],
        "search": {"focus": True, "owner": True, "_lastUpdated": True},
    }  # fmt: skip


def without_task_search(*names: str) -> dict:
    statement = json.loads((CAPABILITY / "hapi.json").read_text())
    for res in statement["rest"][0]["resource"]:
        if res["type"] == "Task":
            res["searchParam"] = [p for p in res["searchParam"] if p["name"] not in names]
    return statement


def test_check_server_warns_when_receivers_cannot_search_tasks_by_owner(capsys) -> None:
    statement = without_task_search("owner", "focus")
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/metadata", json=statement)
        rsps.get(f"{BASE}/.well-known/smart-configuration", status=404)
        code = main(["check-server", "--server", BASE])
    out = capsys.readouterr().out
    assert code == 0  # the loop degrades; nothing stops a sync
    assert "search by focus: no, by owner: no, by _lastUpdated: yes" in out
    assert "  warning: Task: the server does not declare search by owner — a receiver cannot ask" in out
    assert "  warning: Task: the server does not declare search by focus — fhirpeer's own Tasks are read" in out


def test_a_sync_of_handoffs_warns_when_receivers_cannot_search_tasks_by_owner() -> None:
    caps = parse_capability_statement(without_task_search("owner"))
    types = (ResourceType.SERVICE_REQUEST, ResourceType.TASK)
    check = ServerCheck(caps, choose_strategy(caps, [str(t) for t in types]), types, {}, {})
    (warning,) = _referral_loop_warnings(check)
    assert warning.startswith("server: Task: the server does not declare search by owner")
    without_tasks = ServerCheck(caps, check.plan, (ResourceType.SERVICE_REQUEST,), {}, {})  # referral_tasks: none
    assert _referral_loop_warnings(without_tasks) == []


def test_check_server_of_a_server_without_task_says_outcomes_read_no_task(capsys) -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, "cerner.json")
        main(["check-server", "--server", BASE])
    out = capsys.readouterr().out
    assert "Task create: no, update: no; search by focus: no, by owner: no, by _lastUpdated: no" in out
    assert "warning: Task: the server does not offer Task search — outcomes are decided from the ServiceRequests" in out


def test_check_server_of_an_export_without_handoffs_leaves_referral_tasks_out(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    generate_program(export, patients=3, seed=1)
    (export / "handoffs.csv").unlink()
    with responses.RequestsMock() as rsps:
        serve(rsps, "hapi.json")
        main(["check-server", "--server", BASE, "--input", str(export), "--json"])
    assert json.loads(capsys.readouterr().out)["referral_tasks"] is None


def test_unreachable_server_exits_3(capsys) -> None:
    with responses.RequestsMock() as rsps:  # nothing registered: every request fails to connect
        code = main(["check-server", "--server", BASE])
        assert len(rsps.calls) == 1
    assert code == 3
    assert "GET metadata" in capsys.readouterr().err
