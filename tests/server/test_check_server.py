"""`fhirpeer check-server` against real servers: the embedded one (or $FHIRPEER_TEST_SERVER), a second
embedded one without CareTeam search parameters, and a closed port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirpeer.cli import main
from fhirpeer.demo.embedded_server import EmbeddedServer
from fhirpeer.domain import ResourceType
from tests.support.exports import generate_export
from tests.support.inventory import inventory, versions
from tests.support.sync_run import rows, sync

RESOURCE_TYPES = [str(t) for t in ResourceType]


@pytest.fixture(autouse=True)
def _auto_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    """check-server shows what fhirpeer chooses by itself: no strategy forced from the environment."""
    monkeypatch.delenv("FHIRPEER_STRATEGY", raising=False)
    monkeypatch.delenv("FHIRPEER_STRATEGY_PER_TYPE", raising=False)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    generate_export(out, patients=10, seed=8)
    return out


def check_server(base_url: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["check-server", "--server", base_url, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def table_rows(out: str) -> dict[str, str]:
    """resource type → its row in the capabilities table (rows start at column 0 with the type)."""
    return {line.split()[0]: line for line in out.splitlines() if line.split(" ", 1)[0] in RESOURCE_TYPES}


def test_server_with_careteam_params_exits_0_with_transaction_for_every_type(fhir_base_url, capsys):
    code, out = check_server(fhir_base_url, capsys)
    assert code == 0, out
    table = table_rows(out)
    assert set(table) == set(RESOURCE_TYPES)
    for rtype, row in table.items():
        # R4 defines no identifier search for Provenance: fhirpeer PUTs its own audit records by id
        assert row.endswith("  client_id_put" if rtype == "Provenance" else "  transaction"), row
    assert "FHIR version: 4.0.1 (R4) — supported" in out
    assert "verdict: OK" in out


def test_the_servers_support_every_part_of_the_referral_loop(fhir_base_url, capsys):
    """Task create/update, search by focus and owner (the receiver's poll) and by _lastUpdated (outcomes)."""
    code, out = check_server(fhir_base_url, capsys, "--json")
    assert code in (0, 1), out  # 1 until every type is writable: that is another test's business
    assert json.loads(out)["referral_tasks"] == {
        "listed": True, "create": True, "update": True, "not_incremental": [],
        "search": {"focus": True, "owner": True, "_lastUpdated": True},
    }  # fmt: skip
    _, text = check_server(fhir_base_url, capsys)
    assert "search by focus: yes, by owner: yes, by _lastUpdated: yes" in text
    assert "warning: Task:" not in text


def test_server_without_careteam_params_exits_1_naming_careteam_and_the_override(
    embedded_server_without_careteam_params: EmbeddedServer, capsys
):
    code, out = check_server(embedded_server_without_careteam_params.base_url, capsys)
    assert code == 1, out
    table = table_rows(out)
    assert table["CareTeam"].endswith("cannot write (not listed)")
    assert all(table[t].endswith("  transaction") for t in RESOURCE_TYPES if t not in ("CareTeam", "Provenance"))
    assert table["Provenance"].endswith("  client_id_put")
    assert "verdict: NOT OK — this server cannot hold what fhirpeer writes: cannot write CareTeam" in out
    assert "CareTeam is not listed in the server's CapabilityStatement" in out
    assert "no create, update or search by identifier declared" in out
    assert "strategy_per_type: {CareTeam: client_id_put}" in out


def test_the_suggested_override_syncs_careteams_once_on_that_server(
    embedded_server_without_careteam_params: EmbeddedServer, test_namespace, export, tmp_path, capsys
):
    base = embedded_server_without_careteam_params.base_url
    team_ids = {r["team_id"] for r in rows(export / "care_team.csv")}
    assert len(team_ids) >= 5

    # without the override a sync refuses to start, naming CareTeam, and writes nothing
    code, _ = sync(base, test_namespace, export, tmp_path)
    assert code == 2
    assert "CareTeam cannot be written" in capsys.readouterr().err
    assert inventory(base, test_namespace, "Patient") == {}

    # the advice check-server prints, used verbatim as the config file
    _, out = check_server(base, capsys)
    [advice] = [line.strip() for line in out.splitlines() if line.strip().startswith("strategy_per_type:")]
    config = tmp_path / "fhirpeer.yaml"
    config.write_text(advice + "\n", encoding="utf-8")
    assert check_server(base, capsys, "--config", str(config))[0] == 0

    code, first = sync(base, test_namespace, export, tmp_path, "--config", str(config))
    assert code == 0, first["rejected"][:3]
    assert first["counts"]["CareTeam"]["created"] == len(team_ids)
    held = versions(base, test_namespace, "CareTeam")  # asserts each team_id is held exactly once
    assert set(held) == team_ids

    code, again = sync(base, test_namespace, export, tmp_path, "--config", str(config))
    assert code == 0
    careteams = again["counts"]["CareTeam"]
    assert (careteams["created"], careteams["updated"], careteams["unchanged"]) == (0, 0, len(team_ids))
    assert versions(base, test_namespace, "CareTeam") == held

    # even with the state store lost, the ids derived from team_id find the same CareTeams
    (tmp_path / "state.sqlite").unlink()
    code, lost = sync(base, test_namespace, export, tmp_path, "--config", str(config))
    assert code == 0
    assert lost["counts"]["CareTeam"]["created"] == 0
    assert set(versions(base, test_namespace, "CareTeam")) == team_ids
