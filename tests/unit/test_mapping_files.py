"""The mapping files: the shipped set loads and covers the contract; a broken site copy fails loudly.

Every broken copy must be a ConfigError (exit 2) whose message names the file and the offending key, so a
site can fix its edited copy without reading Python.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from fhirpeer import contract, r4_value_sets
from fhirpeer.domain import ResourceType, Source
from fhirpeer.errors import ConfigError
from fhirpeer.mappers import map_contact, map_handoff
from fhirpeer.mapping_files import Mappings, default_mappings_dir, load_mappings
from fhirpeer.records import ContactRecord, HandoffRecord

DEFAULT_NS = "https://fhir.example.org"
SRC = Source("test.csv", 2)


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    """A site's own copy of the shipped mapping files."""
    target = tmp_path / "site-mappings"
    shutil.copytree(default_mappings_dir(), target)
    return target


def edit_yaml(folder: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def all_systems(value: Any) -> list[str]:
    """Every `system` string anywhere in a (FHIR or mapping) JSON structure."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("system", "class_system", "purpose_system") and isinstance(v, str):
                found.append(v)
            found += all_systems(v)
    elif isinstance(value, list):
        for v in value:
            found += all_systems(v)
    return found


# --- the shipped set -------------------------------------------------------------------------------------


def test_shipped_mappings_load_and_cover_every_contract_value() -> None:
    folder = default_mappings_dir()
    assert sorted(p.name for p in folder.glob("*.yaml")) == [
        "appointment.yaml",
        "careteam.yaml",
        "columns.yaml",
        "encounter.yaml",
        "episodeofcare.yaml",
        "identifiers.yaml",
        "provenance.yaml",
        "roster.yaml",
        "security.yaml",
        "servicerequest.yaml",
        "task.yaml",
    ]
    m = load_mappings()
    assert isinstance(m, Mappings)
    assert m.identifiers.namespace == DEFAULT_NS
    vocab = m.vocabulary(ZoneInfo("UTC"))
    assert set(contract.CONTACT_MODES) <= vocab.modes
    assert set(contract.CONTACT_STATUSES) <= vocab.contact_statuses
    assert set(contract.CONTACT_SETTINGS) <= vocab.settings
    assert set(contract.CONTACT_PURPOSES) <= vocab.purposes
    assert set(contract.CARE_TEAM_ROLES) <= vocab.roles
    assert set(contract.HANDOFF_KINDS) <= vocab.kinds
    assert set(contract.HANDOFF_STATUSES) <= vocab.handoff_statuses
    assert set(contract.HANDOFF_PRIORITIES) <= vocab.priorities
    assert set(contract.HANDOFF_VIA) <= vocab.via
    assert set(contract.GENDERS) <= vocab.genders
    assert set(contract.DISCIPLINES) <= vocab.disciplines
    assert set(contract.SITE_KINDS) <= vocab.site_kinds
    # every mapped status is an R4 code; Part 2 labels hold exactly one confidentiality code
    assert set(m.encounter.status.values()) <= set(r4_value_sets.R4_ENCOUNTER_STATUS)
    assert set(m.appointment.status.values()) <= set(r4_value_sets.R4_APPOINTMENT_STATUS)
    assert set(m.appointment.status) == set(contract.CONTACT_STATUSES)  # every contact status has an Appointment code
    assert set(m.encounter.status) == set(contract.CONTACT_STATUSES_OF_ENCOUNTERS)
    assert set(m.servicerequest.status.values()) <= set(r4_value_sets.R4_SERVICEREQUEST_STATUS)
    assert m.servicerequest.intent == "order"
    assert [c.code for c in m.security.labels if c.system.endswith("/v3-Confidentiality")] == ["R"]
    assert set(m.security.apply_to) == {
        "Patient", "Encounter", "Appointment", "CareTeam", "ServiceRequest", "Task", "EpisodeOfCare",
    }  # fmt: skip


def _uncited_code_lines(text: str) -> list[str]:
    """Lines declaring a `code:` with no comment on the line nor in the lines above it, up to a blank line."""
    lines = text.splitlines()
    uncited = []
    for i, line in enumerate(lines):
        if "code: " not in line or line.lstrip().startswith("#") or "#" in line:
            continue
        above = itertools.takewhile(lambda s: s.strip(), reversed(lines[:i]))
        if not any("#" in s for s in above):
            uncited.append(line.strip())
    return uncited


def test_every_shipped_code_carries_its_source() -> None:
    for path in sorted(default_mappings_dir().glob("*.yaml")):
        assert _uncited_code_lines(path.read_text(encoding="utf-8")) == [], path.name
    assert _uncited_code_lines("kinds:\n  x:\n    codings: [{system: http://snomed.info/sct, code: '1'}]\n") != []


def test_codes_no_source_could_verify_are_gone() -> None:
    """SNOMED 1254709001 (SUD treatment referral) is in no reachable source: a local code with text instead; a
    champion PCP is never coded as the patient's primary care provider."""
    m = load_mappings()
    assert '"1254709001"' not in json.dumps(m.model_dump())
    assert m.servicerequest.kinds["sud_treatment"].codings == []
    assert m.servicerequest.kinds["sud_treatment"].text
    assert m.careteam.roles["champion_pcp"].codings == []
    assert "453231000124104" in [c.code for c in m.careteam.roles["pcp"].codings]


def test_shipped_identifier_systems_and_local_code_systems() -> None:
    m = load_mappings()
    assert {str(t): m.system_for(t) for t in ResourceType} == {
        "Patient": f"{DEFAULT_NS}/sid/patient-mrn",
        "Practitioner": f"{DEFAULT_NS}/sid/staff-id",
        "PractitionerRole": f"{DEFAULT_NS}/sid/staff-id",
        "Organization": f"{DEFAULT_NS}/sid/site-id",
        "Encounter": f"{DEFAULT_NS}/sid/peer-contact",
        "Appointment": f"{DEFAULT_NS}/sid/peer-contact",
        "CareTeam": f"{DEFAULT_NS}/sid/care-team",
        "ServiceRequest": f"{DEFAULT_NS}/sid/handoff",
        "Task": f"{DEFAULT_NS}/sid/handoff",
        "EpisodeOfCare": f"{DEFAULT_NS}/sid/enrollment",
        "Device": f"{DEFAULT_NS}/sid/device",
        "Provenance": f"{DEFAULT_NS}/sid/provenance",
    }
    assert m.identifiers.npi_system == "http://hl7.org/fhir/sid/us-npi"
    assert m.identifiers.local_code_system_base == f"{DEFAULT_NS}/CodeSystem"
    dumped = m.model_dump()
    assert not [s for s in all_systems(dumped) if s.startswith("local:")]
    assert m.encounter.purpose_system == f"{DEFAULT_NS}/CodeSystem/peer-contact-purpose"
    assert m.servicerequest.code_system_local == f"{DEFAULT_NS}/CodeSystem/handoff-kind"


def test_a_clean_site_copy_loads_like_the_shipped_set(site_copy: Path) -> None:
    copy = load_mappings(site_copy)
    assert copy.model_dump(exclude={"source"}) == load_mappings().model_dump(exclude={"source"})
    assert copy.source == str(site_copy)


# --- broken site copies ----------------------------------------------------------------------------------


def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _second_confidentiality(data: dict[str, Any]) -> None:
    data["labels"].append(
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
            "code": "V",
            "display": "very restricted",
        }
    )


BROKEN = [
    # (a) unknown keys: top level, nested in a coded concept, and an unknown record field in columns.yaml
    pytest.param("encounter.yaml", _set(["colour"], "blue"), ["encounter.yaml", "colour"], id="unknown-top-key"),
    pytest.param(
        "servicerequest.yaml",
        _set(["kinds", "ed_to_peer", "snomed"], "461481000124109"),
        ["servicerequest.yaml", "kinds.ed_to_peer.snomed"],
        id="unknown-nested-key",
    ),
    pytest.param(
        "careteam.yaml",
        _set(["roles", "peer", "codings", 0, "version"], "2024"),
        ["careteam.yaml", "roles.peer.codings.0.version"],
        id="unknown-coding-key",
    ),
    pytest.param(
        "columns.yaml",
        _set(["patients", "columns", "mrn"], "MRN"),
        ["columns.yaml", "patients", "mrn"],
        id="unknown-column-field",
    ),
    # (b) a contract value with no mapping
    pytest.param(
        "appointment.yaml",
        _delete(["status", "no_show"]),
        ["appointment.yaml", "status", "no_show"],
        id="no-show",
    ),
    pytest.param(
        "encounter.yaml",
        _delete(["status", "completed"]),
        ["encounter.yaml", "status", "completed"],
        id="completed-encounter",
    ),
    pytest.param(
        "servicerequest.yaml",
        _delete(["kinds", "childcare"]),
        ["servicerequest.yaml", "kinds", "childcare"],
        id="handoff-kind",
    ),
    pytest.param("careteam.yaml", _delete(["roles", "lcsw"]), ["careteam.yaml", "roles", "lcsw"], id="role"),
    pytest.param(
        "encounter.yaml",
        _delete(["class_by_setting", "home"]),
        ["encounter.yaml", "class_by_setting", "home"],
        id="class-setting",
    ),
    pytest.param(
        "encounter.yaml",
        _delete(["class_by_mode", "video"]),
        ["encounter.yaml", "class_by_mode", "video"],
        id="class-mode",
    ),
    pytest.param(
        "encounter.yaml",
        _delete(["purposes", "harm_reduction"]),
        ["encounter.yaml", "purposes", "harm_reduction"],
        id="purpose",
    ),
    pytest.param(
        "servicerequest.yaml",
        _delete(["via", "warm_line"]),
        ["servicerequest.yaml", "via", "warm_line"],
        id="via",
    ),
    pytest.param(
        "servicerequest.yaml",
        _delete(["status", "declined"]),
        ["servicerequest.yaml", "status", "declined"],
        id="handoff-status",
    ),
    pytest.param(
        "roster.yaml",
        _delete(["disciplines", "ed_clinician"]),
        ["roster.yaml", "disciplines", "ed_clinician"],
        id="discipline",
    ),
    pytest.param(
        "identifiers.yaml",
        _delete(["systems", "CareTeam"]),
        ["identifiers.yaml", "systems", "CareTeam"],
        id="identifier-system",
    ),
    pytest.param("identifiers.yaml", _delete(["npi_system"]), ["identifiers.yaml", "npi_system"], id="required-key"),
    # (c) a coding without a code (or with an empty one)
    pytest.param(
        "careteam.yaml",
        _delete(["roles", "peer", "codings", 0, "code"]),
        ["careteam.yaml", "roles.peer.codings.0.code"],
        id="coding-without-code",
    ),
    pytest.param(
        "servicerequest.yaml",
        _set(["category_always", 0, "code"], ""),
        ["servicerequest.yaml", "category_always.0.code"],
        id="coding-empty-code",
    ),
    pytest.param(
        "encounter.yaml",
        _delete(["type_by_setting", "home", "codings", 0, "system"]),
        ["encounter.yaml", "type_by_setting.home.codings.0.system"],
        id="coding-without-system",
    ),
    # (d) a mapped code that is not in the R4 value set
    pytest.param(
        "encounter.yaml",
        _set(["status", "completed"], "done"),
        ["encounter.yaml", "status.completed", "done"],
        id="encounter-status-done",
    ),
    pytest.param(
        "appointment.yaml",
        _set(["status", "no_show"], "no-show"),  # R4 spells it noshow
        ["appointment.yaml", "status.no_show", "no-show"],
        id="appointment-status",
    ),
    pytest.param(
        "appointment.yaml",
        _set(["participant_status"], "confirmed"),
        ["appointment.yaml", "participant_status"],
        id="participation-status",
    ),
    pytest.param(
        "encounter.yaml",
        _set(["setting_by_site_kind", "emergency_department"], "emergency_room"),
        ["encounter.yaml", "setting_by_site_kind.emergency_department", "emergency_room"],
        id="setting-by-site-kind",
    ),
    pytest.param(
        "encounter.yaml",
        _set(["setting_by_site_kind", "dental_office"], "clinic"),
        ["encounter.yaml", "setting_by_site_kind", "dental_office"],
        id="setting-for-unknown-site-kind",
    ),
    pytest.param(
        "roster.yaml",
        _set(["gender_when_blank"], "x"),
        ["roster.yaml", "gender_when_blank"],
        id="gender-when-blank",
    ),
    pytest.param(
        "servicerequest.yaml",
        _set(["status", "declined"], "rejected"),
        ["servicerequest.yaml", "status.declined"],
        id="sr-status",
    ),
    pytest.param(
        "servicerequest.yaml", _set(["intent"], "referral"), ["servicerequest.yaml", "intent"], id="sr-intent"
    ),
    pytest.param(
        "servicerequest.yaml",
        _set(["default_priority"], "soon"),
        ["servicerequest.yaml", "default_priority"],
        id="default-priority",
    ),
    pytest.param(
        "careteam.yaml",
        _set(["status_when_closed"], "closed"),
        ["careteam.yaml", "status_when_closed"],
        id="careteam-status",
    ),
    pytest.param(
        "roster.yaml",
        _set(["genders"], ["female", "male", "other", "unknown", "nonbinary"]),
        ["roster.yaml", "genders"],
        id="gender",
    ),
    pytest.param(
        "identifiers.yaml",
        _set(["namespace"], "example.org"),
        ["identifiers.yaml", "namespace"],
        id="namespace",
    ),
    # (g) two confidentiality labels
    pytest.param(
        "security.yaml",
        _second_confidentiality,
        ["security.yaml", "labels", "v3-Confidentiality"],
        id="two-confidentiality-labels",
    ),
]


@pytest.mark.parametrize(("file", "change", "expected"), BROKEN)
def test_broken_site_copy_is_a_config_error_naming_file_and_key(
    site_copy: Path, file: str, change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    edit_yaml(site_copy, file, change)
    with pytest.raises(ConfigError) as caught:
        load_mappings(site_copy)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_invalid_yaml_names_file_and_line(site_copy: Path) -> None:
    path = site_copy / "encounter.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("status:"))
    lines.insert(at + 1, "  completed: [finished")  # an unclosed flow sequence
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mappings(site_copy)
    message = str(caught.value)
    where = re.search(r"encounter\.yaml:(\d+):(\d+): not valid YAML \(", message)
    assert where, message  # file, line and column, then the parser's problem
    assert int(where[1]) in (at + 2, at + 3)  # the inserted line (1-based), or the next, where the parser noticed


def test_a_file_that_is_not_a_mapping_at_the_top_is_a_config_error(site_copy: Path) -> None:
    (site_copy / "security.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"security\.yaml"):
        load_mappings(site_copy)


def test_missing_file_is_named(site_copy: Path) -> None:
    (site_copy / "careteam.yaml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_mappings(site_copy)
    assert "mapping file missing" in str(caught.value)
    assert "careteam.yaml" in str(caught.value)


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_mappings(tmp_path / "nowhere")


# --- namespace override ----------------------------------------------------------------------------------


def test_namespace_override_changes_every_identifier_system_and_local_code_system() -> None:
    ns = "https://recovery.example.net/fhir"
    m = load_mappings(namespace=ns + "/")  # a trailing slash is tolerated
    assert m.identifiers.namespace == ns
    for rtype in ResourceType:
        assert m.system_for(rtype).startswith(f"{ns}/sid/"), rtype
    assert m.identifiers.local_code_system_base == f"{ns}/CodeSystem"
    shipped = load_mappings()
    local_before = [s for s in all_systems(shipped.model_dump()) if s.startswith(DEFAULT_NS)]
    local_after = [s for s in all_systems(m.model_dump()) if s.startswith(ns)]
    assert len(local_before) == len(local_after) > 0
    assert local_after == [s.replace(DEFAULT_NS, ns) for s in local_before]
    for name in ("role_system_local",):
        assert getattr(m.careteam, name) == f"{ns}/CodeSystem/care-team-role"
    assert m.servicerequest.via_system == f"{ns}/CodeSystem/handoff-via"
    assert m.roster.discipline_system_local == f"{ns}/CodeSystem/staff-discipline"
    assert m.roster.site_kind_system_local == f"{ns}/CodeSystem/site-kind"
    # nothing of the default namespace survives anywhere
    assert DEFAULT_NS not in json.dumps(m.model_dump(exclude={"source"}))


def test_namespace_override_reaches_the_mapped_resources() -> None:
    ns = "urn:example:peer-program"
    m = load_mappings(namespace=ns)
    vocab = m.vocabulary(ZoneInfo("UTC"))
    rec = ContactRecord.model_validate(
        {
            "contact_id": "C-1",
            "patient_mrn": "M-1",
            "peer_id": "P-1",
            "start": "2026-01-05T10:00:00Z",
            "mode": "in_person",
            "status": "completed",
            "purposes": "engagement",
            "site_id": "S-1",
        },
        context={"vocab": vocab},
    )
    text = json.dumps([r.resource for r in map_contact(rec, SRC, m)])
    assert DEFAULT_NS not in text
    assert f'"system": "{ns}/sid/peer-contact"' in text
    assert f"{ns}/CodeSystem/peer-contact-type" in text
    assert f"{ns}/CodeSystem/peer-contact-purpose" in text
    assert f"Patient?identifier={ns}/sid/patient-mrn|M-1" in text


def test_namespace_in_a_site_copy_is_used(site_copy: Path) -> None:
    edit_yaml(site_copy, "identifiers.yaml", _set(["namespace"], "https://health.example.com"))
    m = load_mappings(site_copy)
    assert m.system_for("Encounter") == "https://health.example.com/sid/peer-contact"
    # an explicit override (config / FHIRPEER_NAMESPACE) wins over the file
    assert load_mappings(site_copy, namespace="https://x.example").system_for("Encounter") == (
        "https://x.example/sid/peer-contact"
    )


# --- a site's own additions ------------------------------------------------------------------------------


def test_a_handoff_kind_added_in_a_site_copy_is_accepted_and_mapped(site_copy: Path) -> None:
    handoff = {
        "handoff_id": "H-1",
        "patient_mrn": "M-1",
        "kind": "naloxone_training",
        "requested_at": "2026-01-05T10:00:00-05:00",
        "status": "active",
    }
    shipped = load_mappings()
    with pytest.raises(ValueError, match="kind"):
        HandoffRecord.model_validate(handoff, context={"vocab": shipped.vocabulary(ZoneInfo("UTC"))})

    edit_yaml(
        site_copy,
        "servicerequest.yaml",
        _set(["kinds", "naloxone_training"], {"text": "Referral to naloxone training", "codings": []}),
    )
    m = load_mappings(site_copy)
    rec = HandoffRecord.model_validate(handoff, context={"vocab": m.vocabulary(ZoneInfo("UTC"))})
    assert rec.kind == "naloxone_training"
    code = map_handoff(rec, SRC, m).resource["code"]
    assert code == {
        "coding": [
            {
                "system": f"{DEFAULT_NS}/CodeSystem/handoff-kind",
                "code": "naloxone_training",
                "display": "Referral to naloxone training",
            },
        ],
        "text": "Referral to naloxone training",
    }


def test_a_site_can_change_a_code_without_touching_python(site_copy: Path) -> None:
    edit_yaml(
        site_copy,
        "encounter.yaml",
        _set(["class_by_setting", "hospital"], {"code": "EMER", "display": "emergency"}),
    )
    m = load_mappings(site_copy)
    vocab = m.vocabulary(ZoneInfo("UTC"))
    rec = ContactRecord.model_validate(
        {
            "contact_id": "C-1",
            "patient_mrn": "M-1",
            "peer_id": "P-1",
            "start": "2026-01-05T10:00:00Z",
            "mode": "in_person",
            "status": "completed",
            "setting": "hospital",
        },
        context={"vocab": vocab},
    )
    (_, encounter) = map_contact(rec, SRC, m)  # the Appointment it may update, then the Encounter
    assert encounter.resource["class"]["code"] == "EMER"
