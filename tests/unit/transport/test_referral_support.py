"""What a CapabilityStatement says about the handoff loop: Task create/update, search by focus, owner and
`_lastUpdated`, and the warnings sync and outcomes give where something is missing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhirpeer.transport.capabilities import parse_capability_statement
from fhirpeer.transport.referral_support import referral_task_support
from tests.support.paths import FIXTURES


def statement(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "capability" / name).read_text())


def without_params(cs: dict[str, Any], resource_type: str, *names: str) -> dict[str, Any]:
    for res in cs["rest"][0]["resource"]:
        if res["type"] == resource_type:
            res["searchParam"] = [p for p in res.get("searchParam", []) if p["name"] not in names]
    return cs


@pytest.mark.parametrize("fixture", ["hapi.json", "sekmet_with_careteam.json"])
def test_the_test_servers_support_the_whole_loop(fixture: str) -> None:
    support = referral_task_support(parse_capability_statement(statement(fixture)))
    assert (support.create, support.update, support.by_focus, support.by_owner, support.by_last_updated) == (
        True, True, True, True, True,
    )  # fmt: skip
    assert support.not_incremental == ()
    assert support.sync_warnings() == [] and support.outcomes_warnings() == []


def test_a_server_without_task_has_outcomes_decided_from_the_rest() -> None:
    support = referral_task_support(parse_capability_statement(statement("cerner.json")))
    assert not support.listed and not support.create and not support.by_focus
    assert support.sync_warnings() == []  # that Task cannot be written is the strategy plan's warning
    (no_task, not_incremental) = support.outcomes_warnings()
    assert no_task.startswith("Task: the server does not offer Task search")
    # Cerner declares _lastUpdated for ServiceRequest only (and lists no Task or EpisodeOfCare)
    assert not_incremental.startswith("Task, Encounter, EpisodeOfCare: the server does not declare search by")


def test_no_owner_search_warns_the_sync_that_receivers_cannot_find_their_tasks() -> None:
    cs = without_params(statement("hapi.json"), "Task", "owner")
    support = referral_task_support(parse_capability_statement(cs))
    assert not support.by_owner and support.by_focus
    (warning,) = support.sync_warnings()
    assert "does not declare search by owner" in warning and "Task?owner=" in warning
    assert support.outcomes_warnings() == []


def test_no_focus_search_says_how_outcomes_reads_tasks_instead() -> None:
    cs = without_params(statement("hapi.json"), "Task", "focus", "_lastUpdated")
    support = referral_task_support(parse_capability_statement(cs))
    assert support.to_dict() == {
        "listed": True,
        "create": True,
        "update": True,
        "search": {"focus": False, "owner": True, "_lastUpdated": False},
        "not_incremental": ["Task"],
    }
    no_focus, not_incremental = support.outcomes_warnings()
    assert "read by their identifier (the handoff key)" in no_focus and "looked for by patient" in no_focus
    assert not_incremental.startswith("Task: the server does not declare search by _lastUpdated")
