"""The planner's decisions: state first, then what the server holds, under each ownership policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirpeer.content_hash import content_hash
from fhirpeer.domain import ConflictPolicy, OwnershipPolicy, ResourceType
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.sync_engine.identity import owned_tag, resource_id
from fhirpeer.sync_engine.planner import Action, Addressing, Planner, PlannerConfig
from fhirpeer.sync_engine.receiver import RECEIVER_KEPT
from fhirpeer.sync_engine.server_lookup import Found
from fhirpeer.sync_engine.state import OWNER_EHR, OWNER_RECEIVER, StateStore, Written
from tests.support.items import encounter_item

NS = "https://ns.test"
M = load_mappings(namespace=NS)
TAG = owned_tag(M.identifiers.local_code_system_base)
NPI = "http://hl7.org/fhir/sid/us-npi"


class FakeLookup:
    """What a server holds, by (type, system, value); counts per type."""

    def __init__(
        self, held: dict[tuple[str, str, str], list[Found]] | None = None, counts: dict[str, int] | None = None
    ):
        self.held = held or {}
        self.counts = counts or {}
        self.searched: list[tuple[str, str, tuple[str, ...]]] = []

    def find(self, resource_type: str, system: str, keys: list[str]) -> dict[str, list[Found]]:
        self.searched.append((str(resource_type), system, tuple(keys)))
        return {k: self.held.get((str(resource_type), system, k), []) for k in keys}

    def count(self, resource_type: str, system: str) -> int | None:
        return self.counts.get(str(resource_type), 0)


def patient(key: str, **extra: Any) -> MappedResource:
    resource = {"resourceType": "Patient", "identifier": [{"system": M.system_for("Patient"), "value": key}], **extra}
    return MappedResource(ResourceType.PATIENT, key, resource, ())


def practitioner(key: str, npi: str | None = None) -> MappedResource:
    idents = [{"system": M.system_for("Practitioner"), "value": key}]
    if npi:
        idents.append({"system": NPI, "value": npi})
    return MappedResource(ResourceType.PRACTITIONER, key, {"resourceType": "Practitioner", "identifier": idents}, ())


def found(rid: str, resource: dict[str, Any], *, ours: bool, version: str = "3", **changes: Any) -> Found:
    """A resource on the server: `resource` as fhirpeer would send it, with `changes` someone made."""
    meta = {"versionId": version, **({"tag": [TAG]} if ours else {})}
    return Found(rid, version, {**resource, **changes, "id": rid, "meta": meta})


def intended(item: MappedResource) -> dict[str, Any]:
    """What fhirpeer sends: the mapped resource with its tag."""
    return {**item.resource, "meta": {"tag": [TAG]}}


def planner(
    tmp_path: Path, lookup: FakeLookup | None = None, **ownership: OwnershipPolicy
) -> tuple[Planner, StateStore]:
    state = StateStore(tmp_path / "s.sqlite", "t")
    config = PlannerConfig(
        ownership={ResourceType(t): p for t, p in ownership.items()},
        addressing=dict.fromkeys(ResourceType, Addressing.CLIENT_ID),
        owned_tag=TAG,
    )
    return Planner(state, lookup or FakeLookup(), M, config, intended), state


# --- what the state store knows ------------------------------------------------------------------------


def test_known_keys_are_unchanged_or_updated_with_if_match(tmp_path: Path) -> None:
    p, state = planner(tmp_path)
    a, b = encounter_item(M, "A"), encounter_item(M, "B")
    state.record_written([Written("Encounter", "A", content_hash(a.resource), "ea", "1"),
                          Written("Encounter", "B", "stale", "eb", "5")], "r")  # fmt: skip
    plan = p.plan([a, b])
    assert [i.key for i in plan.unchanged] == ["A"]
    (w,) = plan.writes
    assert (w.key, w.action, w.request.url, w.request.if_match) == ("B", Action.UPDATE, "Encounter/eb", 'W/"5"')


def test_overwrite_policy_sends_no_if_match(tmp_path: Path) -> None:
    p, state = planner(tmp_path)
    p.config = PlannerConfig(p.config.ownership, p.config.addressing, ConflictPolicy.OVERWRITE, TAG)
    state.record_written([Written("Encounter", "B", "stale", "eb", "5")], "r")
    (w,) = p.plan([encounter_item(M, "B")]).writes
    assert (w.request.url, w.request.if_match) == ("Encounter/eb", None)


# --- keys the state store does not know: clinical types ----------------------------------------------


def test_a_new_key_on_a_server_that_holds_nothing_else_is_created_at_its_deterministic_id(tmp_path: Path) -> None:
    lookup = FakeLookup(counts={"Encounter": 0})
    p, _ = planner(tmp_path, lookup)
    (w,) = p.plan([encounter_item(M, "C1")]).writes
    sid = resource_id(NS, "Encounter", "C1")
    assert (w.action, w.request.method, w.request.url, w.server_id) == (Action.CREATE, "PUT", f"Encounter/{sid}", sid)
    assert lookup.searched == []  # nothing to find: no search per write


@pytest.mark.parametrize(("ours", "same", "outcome"), [(True, True, "unchanged"), (True, False, "update"),
                                                         (False, True, "conflict")])  # fmt: skip
def test_a_match_on_the_server_is_adopted_when_ours_and_left_alone_when_not(tmp_path, ours, same, outcome) -> None:
    item = encounter_item(M, "C1")
    system = M.system_for("Encounter")
    changes = {} if same else {"status": "cancelled"}
    lookup = FakeLookup({("Encounter", system, "C1"): [found("e9", item.resource, ours=ours, **changes)]},
                        {"Encounter": 1})  # fmt: skip
    p, _ = planner(tmp_path, lookup)
    plan = p.plan([item])
    if outcome == "unchanged":
        assert [i.key for i in plan.unchanged] == ["C1"] and plan.record[0].server_id == "e9"
    elif outcome == "update":
        (w,) = plan.writes
        assert (w.request.url, w.request.if_match) == ("Encounter/e9", 'W/"3"')
    else:
        assert plan.writes == [] and "was not written by fhirpeer" in plan.conflicts[0][1]


def test_two_matches_are_duplicate_data(tmp_path: Path) -> None:
    item = encounter_item(M, "C1")
    system = M.system_for("Encounter")
    both = [found("e1", item.resource, ours=True), found("e2", item.resource, ours=True)]
    p, _ = planner(tmp_path, FakeLookup({("Encounter", system, "C1"): both}, {"Encounter": 2}))
    plan = p.plan([item])
    assert plan.writes == [] and "duplicate data on the server: 2 Encounter" in plan.rejected[0][1]


# --- master data under each ownership policy ---------------------------------------------------------


def test_link_points_at_the_ehrs_record_and_never_writes_it(tmp_path: Path) -> None:
    held = {("Patient", M.system_for("Patient"), "M1"): [found("ehr1", patient("M1").resource, ours=False)]}
    p, _ = planner(tmp_path, FakeLookup(held), Patient=OwnershipPolicy.LINK)
    plan = p.plan([patient("M1"), patient("M2")])
    assert plan.writes == []
    assert [i.key for i in plan.linked] == ["M1"]
    assert [(w.key, w.server_id, w.owner) for w in plan.record] == [("M1", "ehr1", OWNER_EHR)]
    assert [i.key for i, _ in plan.rejected] == ["M2"] and "ownership policy link" in plan.rejected[0][1]


def test_create_if_absent_links_the_ehrs_record_and_creates_a_missing_one_conditionally(tmp_path: Path) -> None:
    held = {("Patient", M.system_for("Patient"), "M1"): [found("ehr1", patient("M1").resource, ours=False)]}
    p, _ = planner(tmp_path, FakeLookup(held))  # the default policy
    plan = p.plan([patient("M1"), patient("M 2")])
    assert [i.key for i in plan.linked] == ["M1"]
    (w,) = plan.writes
    assert (w.action, w.request.method, w.request.url) == (Action.CREATE, "POST", "Patient")
    assert w.request.if_none_exist == f"identifier={M.system_for('Patient')}|M%202"


def test_create_if_absent_updates_only_what_fhirpeer_created(tmp_path: Path) -> None:
    held = {("Patient", M.system_for("Patient"), "M1"): [found("fp1", patient("M1").resource, ours=True)]}
    p, _ = planner(tmp_path, FakeLookup(held))
    (w,) = p.plan([patient("M1", gender="female")]).writes
    assert (w.request.url, w.request.if_match) == ("Patient/fp1", 'W/"3"')


def test_own_replaces_whatever_matches(tmp_path: Path) -> None:
    held = {("Patient", M.system_for("Patient"), "M1"): [found("ehr1", patient("M1").resource, ours=False)]}
    p, _ = planner(tmp_path, FakeLookup(held), Patient=OwnershipPolicy.OWN)
    (w,) = p.plan([patient("M1")]).writes
    assert (w.action, w.request.url, w.request.if_match) == (Action.UPDATE, "Patient/ehr1", 'W/"3"')


def test_a_linked_key_stays_linked_on_later_runs(tmp_path: Path) -> None:
    p, state = planner(tmp_path)
    state.record_written([Written("Patient", "M1", "h", "ehr1", "7", OWNER_EHR)], "r")
    plan = p.plan([patient("M1", gender="male")])
    assert [i.key for i in plan.linked] == ["M1"] and plan.writes == []


def test_practitioners_are_found_by_npi_when_they_have_one(tmp_path: Path) -> None:
    held = {("Practitioner", NPI, "1234567893"): [found("ehrP", practitioner("X").resource, ours=False)]}
    lookup = FakeLookup(held)
    p, _ = planner(tmp_path, lookup)
    plan = p.plan([practitioner("S-1", npi="1234567893"), practitioner("S-2")])
    assert [i.key for i in plan.linked] == ["S-1"]
    assert {(system, keys) for _, system, keys in lookup.searched} == {
        (NPI, ("1234567893",)), (M.system_for("Practitioner"), ("S-2",))
    }  # fmt: skip
    (w,) = plan.writes
    assert w.request.if_none_exist == f"identifier={M.system_for('Practitioner')}|S-2"


def test_only_if_exists_is_skipped_when_nothing_was_sent_for_the_key(tmp_path: Path) -> None:
    p, state = planner(tmp_path, FakeLookup(counts={"Encounter": 0}))
    item = encounter_item(M, "C1")
    item.only_if_exists = True
    plan = p.plan([item])
    assert plan.writes == [] and "nothing to update" in plan.skipped[0][1]
    state.record_written([Written("Encounter", "C1", "old", "e1", "2")], "r")
    (w,) = p.plan([item]).writes
    assert w.request.url == "Encounter/e1"


# --- what the receiver moved on ------------------------------------------------------------------------


def referral_task(key: str, status: str = "requested") -> MappedResource:
    resource = {
        "resourceType": "Task",
        "identifier": [{"system": M.system_for("Task"), "value": key}],
        "status": status,
        "intent": "order",
    }
    return MappedResource(ResourceType.TASK, key, resource, ())


def test_an_unchanged_row_whose_task_the_receiver_moved_is_reported_and_left_alone(tmp_path: Path) -> None:
    """The state store knows the receiver moved it (a sync or `fhirpeer outcomes` saw it): no write, no search."""
    lookup = FakeLookup(counts={"Task": 2})
    p, state = planner(tmp_path, lookup)
    moved, quiet = referral_task("H1"), referral_task("H2")
    state.record_written([Written("Task", "H1", content_hash(moved.resource), "t1", "2", OWNER_RECEIVER),
                          Written("Task", "H2", content_hash(quiet.resource), "t2", "1")], "r")  # fmt: skip
    plan = p.plan([moved, quiet])
    assert [(i.key, reason) for i, reason in plan.kept_by_receiver] == [("H1", RECEIVER_KEPT)]
    assert [i.key for i in plan.unchanged] == ["H2"]
    assert plan.writes == [] and lookup.searched == []


def test_a_changed_row_whose_task_the_receiver_moved_is_checked_against_the_receivers_version(tmp_path) -> None:
    item = referral_task("H1")
    receivers = found("t1", item.resource, ours=True, version="4", status="accepted")
    lookup = FakeLookup({("Task", M.system_for("Task"), "H1"): [receivers]}, {"Task": 1})
    p, state = planner(tmp_path, lookup)
    state.record_written([Written("Task", "H1", "an older row", "t1", "2", OWNER_RECEIVER)], "r")
    plan = p.plan([item])
    assert plan.writes == [] and lookup.searched == [("Task", M.system_for("Task"), ("H1",))]
    assert [(i.key, reason) for i, reason in plan.kept_by_receiver] == [
        ("H1", "changed by the receiver (now accepted); left alone")
    ]
