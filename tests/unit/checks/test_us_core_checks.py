"""The US Core must-have table and its check: every emitted resource carries what US Core requires."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhirpeer.checks.resource_checks import check_resource
from fhirpeer.checks.us_core_checks import us_core_problems
from fhirpeer.checks.us_core_must_haves import US_CORE_MUST_HAVES
from fhirpeer.mappers import MappedResource
from tests.support.edge_cases import write_every_case
from tests.support.mapping import all_items
from tests.support.records import M

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": "https://x.example/sid/mrn", "value": "M-1"}],
    "name": [{"family": "Doe"}],
    "gender": "unknown",
}


def test_every_type_fhirpeer_emits_with_a_us_core_profile_has_an_entry() -> None:
    assert set(US_CORE_MUST_HAVES) == {
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Encounter",
        "CareTeam",
        "ServiceRequest",
    }  # fmt: skip  (Appointment has no US Core profile)
    for rules in US_CORE_MUST_HAVES.values():
        assert all(rule.why.startswith("US Core") for rule in rules)


def test_every_resource_of_an_export_with_every_case_has_its_must_haves(tmp_path: Path) -> None:
    write_every_case(tmp_path)
    resources = [i.resource for i in all_items(tmp_path, M) if isinstance(i, MappedResource)]
    assert {r["resourceType"] for r in resources} >= set(US_CORE_MUST_HAVES)
    assert [(r["resourceType"], us_core_problems(r)) for r in resources if us_core_problems(r)] == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: p.pop("gender"), "Patient.gender: required"),
        (lambda p: p.pop("name"), "Patient.name: required"),
        (lambda p: p.update(name=[{"use": "official"}]), "Patient.name[0]: one of family, given, extension required"),
        (lambda p: p["identifier"][0].pop("system"), "Patient.identifier[0].system: required"),
        (lambda p: p.update(identifier=[]), "Patient.identifier: required"),
    ],
)
def test_a_missing_must_have_is_named_by_its_path(change: Any, problem: str) -> None:
    patient = copy.deepcopy(PATIENT)
    assert us_core_problems(patient) == []
    change(patient)
    problems = us_core_problems(patient)
    assert [p for p in problems if p.startswith(problem)], problems
    assert any(p.startswith(problem) for p in check_resource(patient))  # checked before anything is sent


def test_a_name_may_carry_only_data_absent_reason_and_a_family_only_its_extension() -> None:
    absent = {
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
    }
    assert us_core_problems({**PATIENT, "name": [absent]}) == []
    practitioner = {
        "resourceType": "Practitioner",
        "identifier": [{"system": "https://x.example/sid/staff", "value": "S-1"}],
        "name": [{"given": ["Dana"]}],
    }
    assert us_core_problems(practitioner) == ["Practitioner.name[0].family: required (US Core min 1)"]
    assert us_core_problems({**practitioner, "name": [{"given": ["Dana"], "_family": absent}]}) == []


def test_nested_must_haves_apply_to_every_instance_and_only_where_the_parent_is() -> None:
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "type": [{"text": "x"}],
        "subject": {"reference": "Patient/1"},
        "period": {"start": "2026-01-05"},
        "participant": [
            {"type": [{"text": "t"}], "period": {"start": "2026-01-05"}, "individual": {"reference": "P/1"}},
            {"type": [{"text": "t"}], "individual": {"reference": "P/2"}},
        ],
    }
    assert us_core_problems(encounter) == [
        "Encounter.participant[1].period: required (US Core Must Support, always sent by fhirpeer)"
    ]  # no identifier at all: identifier.system and .value do not apply
    encounter["identifier"] = [{"value": "C-1"}]
    assert "Encounter.identifier[0].system: required (US Core min 1)" in us_core_problems(encounter)


def test_types_without_an_entry_have_no_us_core_problems() -> None:
    assert us_core_problems({"resourceType": "Appointment"}) == []


# Values a must-have element or one of its parents may be replaced with: absent, blank, the wrong shape, a list
# mixing objects with other values, an object carrying only an extension.
_ODD_VALUES: tuple[Any, ...] = (None, "", [], {}, "x", 0, [None, "x"], [{}], [{"x": 1}, "y"], {"extension": [{}]})


def _mutations(node: dict[str, Any], steps: list[str]) -> list[dict[str, Any]]:
    """Copies of `node` with the element at each step of `steps` (every list item on the way) deleted or replaced."""
    copies: list[dict[str, Any]] = []
    name, rest = steps[0], steps[1:]
    without = copy.deepcopy(node)
    without.pop(name, None)
    copies.append(without)
    copies += [{**copy.deepcopy(node), name: copy.deepcopy(odd)} for odd in _ODD_VALUES]
    value = node.get(name)
    children = value if isinstance(value, list) else [value]
    for i, child in enumerate(children):
        if isinstance(child, dict) and rest:
            for changed in _mutations(child, rest):
                replaced = copy.deepcopy(node)
                if isinstance(value, list):
                    replaced[name][i] = changed
                else:
                    replaced[name] = changed
                copies.append(replaced)
    return copies


def test_the_fast_verdict_agrees_with_the_path_walk_on_mutated_resources(tmp_path: Path) -> None:
    from fhirpeer.checks.us_core_checks import _compiled, _holds, _violations

    write_every_case(tmp_path)
    resources = [i.resource for i in all_items(tmp_path, M) if isinstance(i, MappedResource)]
    checked = failing = 0
    for resource in resources:
        rtype = resource["resourceType"]
        for _rule, parents, last in _compiled(rtype):
            for mutated in [resource, *_mutations(resource, [*parents, last])]:
                for rule, rule_parents, rule_last in _compiled(rtype):
                    violated = list(_violations(rtype, mutated, rule))
                    assert _holds(mutated, rule_parents, rule_last, rule.any_of) == (not violated)
                    checked += 1
                    failing += bool(violated)
    assert checked > 1000 and failing > 100  # the corpus holds both verdicts, many times over
