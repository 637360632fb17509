"""The reference resolver: literal references by byte rewriting (the same as walking the dicts), server searches only
where the server may hold a key, and bodies that can be built ahead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import responses

from fhirpeer.domain import ResourceType
from fhirpeer.input.folder import InputFolder
from fhirpeer.mappers import MappedResource, Ref, match_url
from fhirpeer.mapping_files import load_mappings
from fhirpeer.pipeline import MappingOptions, mapped_items
from fhirpeer.settings import Settings
from fhirpeer.sync_engine.resolver import ReferenceResolver, _rewritten, rewrite_references
from fhirpeer.sync_engine.server_lookup import ServerLookup
from fhirpeer.sync_engine.state import StateStore, Written
from fhirpeer.transport.client import FhirClient
from tests.support.items import encounter_item

NS = "https://ns.test"
M = load_mappings(namespace=NS)
BASE = "http://fhir.test/r4"
PATIENT = match_url(M, "Patient", "M1")
APPOINTMENT = match_url(M, "Appointment", "C1")


def encounter(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "subject": {"reference": PATIENT},
        "participant": [{"individual": {"reference": match_url(M, "Practitioner", "P1")}}],
        **extra,
    }


@pytest.mark.parametrize(
    ("resource", "replace"),
    [
        (encounter(), {PATIENT: "Patient/p1"}),
        (encounter(appointment=[{"reference": APPOINTMENT}]), {PATIENT: "Patient/p1", APPOINTMENT: None}),
        (encounter(appointment=[{"reference": APPOINTMENT}]), {APPOINTMENT: "Appointment/a1"}),
        # a dropped reference that is not alone in its element falls back to the walk
        (encounter(appointment=[{"reference": APPOINTMENT, "display": "x"}]), {APPOINTMENT: None}),
        (encounter(appointment=[{"reference": "Appointment/other"}, {"reference": APPOINTMENT}]), {APPOINTMENT: None}),
        (encounter(basedOn={"reference": APPOINTMENT}), {APPOINTMENT: None}),
        # the same URL as text is not a reference
        (encounter(text={"div": f'"reference":"{APPOINTMENT}"'}), {APPOINTMENT: None}),
        (encounter(note=[{"text": 'quote " and backslash \\ and ünïcode'}]), {PATIENT: "Patient/p1"}),
        (encounter(subject={"reference": PATIENT}), {PATIENT: None}),
    ],
)
def test_rewriting_bytes_gives_what_walking_the_dicts_gives(resource: dict[str, Any], replace: dict) -> None:
    expected = _rewritten(resource, replace)
    assert rewrite_references(resource, replace) == expected
    assert rewrite_references(resource, replace) is not resource


def test_rewriting_every_resource_of_a_sample_program_matches_the_walk(tmp_path: Path) -> None:
    from fhirpeer.demo.sample import generate_program

    generate_program(tmp_path, patients=12, seed=3)
    settings = Settings()
    folder = InputFolder(tmp_path, M, M.vocabulary(settings.tz))
    items = [
        i for k in folder.check() for i in mapped_items(folder, k, M, MappingOptions.of(settings))
        if isinstance(i, MappedResource) and i.refs
    ]  # fmt: skip
    assert len(items) > 100
    for n, item in enumerate(items):
        # alternately: every reference made literal, every reference dropped
        replace = {
            match_url(M, r.resource_type, r.key): None if n % 2 else f"{r.resource_type}/x{n}" for r in item.refs
        }
        assert rewrite_references(item.resource, replace) == _rewritten(item.resource, replace)


def _resolver(tmp_path: Path, search_needed: Any = None) -> ReferenceResolver:
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    lookup = ServerLookup(FhirClient(BASE, sleep=lambda s: None))
    return ReferenceResolver(state, lookup, M, search_needed=search_needed)


@responses.activate
def test_a_key_the_state_lacks_is_searched_only_where_the_server_may_hold_it(tmp_path: Path) -> None:
    asked: list[ResourceType] = []

    def search_needed(rtype: ResourceType) -> bool:
        asked.append(rtype)
        return rtype is ResourceType.PATIENT

    responses.get(f"{BASE}/Patient", json={"resourceType": "Bundle", "type": "searchset", "entry": []})
    resolver = _resolver(tmp_path, search_needed)
    resolver.prefetch([("Patient", "M1"), ("Patient", "M2"), ("Appointment", "C1")])
    assert [c.request.url.split("?")[0] for c in responses.calls] == [f"{BASE}/Patient"]  # no Appointment search
    assert set(asked) == {ResourceType.PATIENT, ResourceType.APPOINTMENT}
    assert resolver.known("Patient", "M1") and not resolver.known("Patient", "M2")
    assert resolver.known("Appointment", "C1") is False


@responses.activate
def test_without_a_predicate_every_missing_key_is_searched(tmp_path: Path) -> None:
    responses.get(f"{BASE}/Appointment", json={"resourceType": "Bundle", "type": "searchset", "entry": []})
    _resolver(tmp_path).prefetch([("Appointment", "C1")])
    assert len(responses.calls) == 1


def test_a_body_can_be_built_ahead_only_when_every_reference_is_settled(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, lambda rtype: False)
    item = encounter_item(M, "C1", "M1")
    item.refs = (*item.refs, Ref(ResourceType.APPOINTMENT, "C1", "contact_id", optional=True))
    assert not resolver.resolved(item)  # never asked about
    resolver.prefetch([(r.resource_type, r.key) for r in item.refs])
    assert resolver.resolved(item)  # Patient known, Appointment known to be nowhere
    resolver.expect("Patient", "M9", None)  # a conditional create still on its way: its id comes later
    pending = encounter_item(M, "C2", "M9")
    assert not resolver.resolved(pending)
    resolver.learn("Patient", "M9", "p9")
    assert resolver.resolved(pending)


def test_the_cache_stays_bounded_and_the_state_store_answers_what_it_dropped(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", f"M{n}", "h", f"p{n}", "1") for n in range(50)], "r0")
    resolver = ReferenceResolver(state, None, M, cache_size=10)
    resolver.prefetch([("Patient", f"M{n}") for n in range(50)])
    for n in range(50, 80):
        resolver.expect("Appointment", f"C{n}", f"a{n}")
    assert len(resolver._ids) == 10
    assert resolver.known("Appointment", "C79") and resolver.server_id("Appointment", "C79") == "a79"
    assert ("Patient", "M0") not in resolver._ids  # dropped from the cache ...
    assert resolver.server_id("Patient", "M0") == "p0"  # ... and still found in the state store
    resolver.prefetch([("Patient", "M0")], search_server=False)
    assert resolver.known("Patient", "M0") is True and len(resolver._ids) == 10


def test_a_prefetch_larger_than_the_cache_never_takes_a_stored_key_for_absent(tmp_path: Path) -> None:
    """A chunk's references may outnumber the cache: the answers the prefetch pushes out of it are still answers
    (the state store holds them), never "nowhere" — a contact was once rejected for a Patient fhirpeer had written."""
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", f"M{n}", "h", f"p{n}", "1") for n in range(50)], "r0")
    resolver = ReferenceResolver(state, None, M, cache_size=10)
    resolver.prefetch([*(("Patient", f"M{n}") for n in range(50)), ("Patient", "nowhere")])
    assert resolver.known("Patient", "nowhere") is False
    assert all(resolver.known("Patient", f"M{n}") for n in range(50))
    assert resolver.server_id("Patient", "M3") == "p3"
    assert len(resolver._ids) == 10


def test_references_in_use_stay_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateStore(tmp_path / "s.sqlite", "t")
    state.record_written([Written("Patient", "M1", "h", "p1", "1")], "r0")
    resolver = ReferenceResolver(state, None, M, cache_size=5)
    resolver.prefetch([("Patient", "M1")])
    asked: list[str] = []
    lookup = state.server_ids
    monkeypatch.setattr(state, "server_ids", lambda rtype, keys: asked.append(rtype) or lookup(rtype, keys))
    for n in range(20):  # a chunk of contacts, each pointing at the same patient
        resolver.expect("Encounter", f"C{n}", f"e{n}")
        resolver.prefetch([("Patient", "M1")])
    assert asked == [] and resolver.known("Patient", "M1")  # never pushed out, never looked up again
