"""`export_bulk`: bulk files that hold what sync would write — deterministic ids, literal references, Part 2 labels,
fhirpeer's tag — with a key sidecar that names each resource's record and fingerprint as the sync engine computes
them; references that only the server could resolve are rejected like sync rejects what is nowhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhirpeer import BulkExportError, ConfigError, RejectionLimitExceeded, Settings, export_bulk
from fhirpeer.bulk.key_sidecar import read_key_lines
from fhirpeer.bulk.manifest import read_manifest
from fhirpeer.content_hash import content_hash
from fhirpeer.demo.sample import generate_program
from fhirpeer.domain import InputKind, Outcome, Stage
from fhirpeer.input.folder import InputFolder
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.pipeline import MappingOptions, fingerprint, lookups_of, map_one, mapping_context, mapping_digest
from fhirpeer.records import Accepted, TeamRows
from fhirpeer.sync_engine.identity import owned_tag, resource_id

NS = "https://fhirpeer.test/bulk-export"
SETTINGS = Settings(namespace=NS)
M = load_mappings(namespace=NS)
PART2 = {"42CFRPart2", "R"}  # v3-ActCode 42CFRPart2 and v3-Confidentiality R, as mappings/security.yaml sets them


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("program")
    generate_program(out, patients=15, seed=11)
    return out


@pytest.fixture(scope="module")
def exported(program: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bulk") / "files"
    result = export_bulk(SETTINGS, program, out, max_resources_per_part=50)
    assert result.report.exit_code == 0 and not result.report.rejected
    return out


def resources(out: Path) -> list[dict[str, Any]]:
    manifest = read_manifest(out, verify=True)
    return [json.loads(line) for o in manifest.outputs for line in (out / o.url).read_text().splitlines()]


def test_every_resource_has_its_deterministic_id_and_only_literal_references_to_the_export(exported: Path) -> None:
    everything = resources(exported)
    ids = {f"{r['resourceType']}/{r['id']}" for r in everything}
    assert len(ids) == len(everything)
    for line in read_key_lines(exported, read_manifest(exported)):
        assert line.id == resource_id(NS, line.resource_type, line.key)
    tag = owned_tag(M.identifiers.local_code_system_base)

    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["reference"]] if isinstance(node.get("reference"), str) else []
            return own + [r for v in node.values() for r in references(v)]
        return [r for v in node for r in references(v)] if isinstance(node, list) else []

    for resource in everything:
        assert all(ref in ids for ref in references(resource)), resource["resourceType"]
        assert tag in resource["meta"]["tag"]
        assert resource["meta"]["source"].startswith(f"{NS}/fhirpeer/run/")
    encounters = [r for r in everything if r["resourceType"] == "Encounter"]
    assert encounters and all({c["code"] for c in r["meta"]["security"]} >= PART2 for r in encounters)


def test_parts_are_bounded_and_in_import_order(exported: Path) -> None:
    manifest = read_manifest(exported)
    assert max(o.count for o in manifest.outputs) <= 50
    order = [o.type for o in manifest.outputs]
    assert order.index("Patient") < order.index("Encounter") and order[0] == "Organization"


def test_the_sidecar_carries_the_hashes_and_fingerprints_the_sync_engine_computes(
    program: Path, exported: Path
) -> None:
    """Recomputed here the way `SyncEngine._prepare` and the planner do, record by record."""
    folder = InputFolder(program, M, M.vocabulary(SETTINGS.tz))
    options = MappingOptions.of(SETTINGS)
    expected_hashes: dict[tuple[str, str], str] = {}
    expected_prints: dict[tuple[str, str], str] = {}
    for kind in folder.check():
        digest = mapping_digest(M, options, kind)
        lookups = lookups_of(folder) if kind is InputKind.CONTACTS else None
        for row in folder.records(kind):
            assert isinstance(row, Accepted | TeamRows)
            mapped = map_one(row, M, options, lookups=lookups)
            if not isinstance(mapped, list):
                continue
            key = row.team_id if isinstance(row, TeamRows) else row.record.key
            if any(not item.only_if_exists for item in mapped):  # records with something to export
                expected_prints[(kind.value, key)] = fingerprint(row, digest, mapping_context(row, lookups))
            for item in mapped:
                assert isinstance(item, MappedResource)
                if not item.only_if_exists:
                    expected_hashes[(str(item.resource_type), item.key)] = content_hash(item.resource)
    lines = list(read_key_lines(exported, read_manifest(exported)))
    assert {(k.resource_type, k.key): k.hash for k in lines} == expected_hashes
    origins = {(k.record.kind, k.record.key): k.record.fingerprint for k in lines if k.record}
    assert origins == expected_prints


def write(folder: Path, **files: str) -> Path:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


PATIENTS = "patient_mrn,family_name\nMRN-1,Doe\n"
STAFF = "staff_id,family_name,site_id\nP-1,Peer,\n"
CONTACTS = (
    "contact_id,patient_mrn,peer_id,start,mode,status,duration_min\n"
    "C-1,MRN-1,P-1,2026-01-05T10:00:00Z,in_person,completed,30\n"
    "C-2,MRN-404,P-1,2026-01-05T11:00:00Z,in_person,completed,30\n"
    "C-3,MRN-1,P-1,2026-01-06T10:00:00Z,telephone,entered_in_error,10\n"
)


def test_a_reference_only_the_server_could_resolve_is_rejected_naming_the_column(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", **{"patients.csv": PATIENTS, "staff.csv": STAFF, "peer_contacts.csv": CONTACTS})
    result = export_bulk(SETTINGS, folder, tmp_path / "out")
    report = result.report
    assert report.exit_code == 1
    [rejected] = report.rejected
    assert (rejected.id, rejected.stage, rejected.line) == ("C-2", Stage.REFERENCE, 3)
    assert rejected.reason.startswith("patient_mrn: no Patient with this key in the export")
    counts = {t: {o: n for o, n in c.items() if n} for t, c in report.counts.items()}
    assert counts["Encounter"] == {Outcome.VALID: 1, Outcome.FAILED: 1, Outcome.ONLY_IF_EXISTS: 1}
    assert result.counts == {"Practitioner": 1, "Patient": 1, "Encounter": 1}


def test_dependants_of_a_rejected_patient_name_the_root_cause(tmp_path: Path) -> None:
    patients = 'patient_mrn,family_name\nMRN-1,"Doe\n'  # a quote that never closes: the row is rejected
    folder = write(tmp_path / "in", **{"patients.csv": patients, "staff.csv": STAFF, "peer_contacts.csv": CONTACTS})
    report = export_bulk(SETTINGS, folder, tmp_path / "out").report
    c1 = next(r for r in report.rejected if r.id == "C-1")
    assert "patient_mrn: Patient MRN-1 rejected at patients.csv:2" in c1.reason


def test_a_record_with_a_rejected_resource_gets_no_fingerprint(tmp_path: Path) -> None:
    staff = "staff_id,family_name,site_id\nP-1,Peer,S-404\n"  # its PractitionerRole points at a site nowhere
    folder = write(tmp_path / "in", **{"staff.csv": staff})
    result = export_bulk(SETTINGS, folder, tmp_path / "out")
    assert [r.resource_type for r in result.report.rejected] == ["PractitionerRole"]
    [line] = read_key_lines(tmp_path / "out", result.manifest)
    assert (line.resource_type, line.record) == ("Practitioner", None)  # the next sync maps P-1 again


def test_master_data_under_ownership_link_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", **{"patients.csv": PATIENTS})
    with pytest.raises(ConfigError, match="ownership policy link for Patient"):
        export_bulk(Settings(namespace=NS, ownership={"Patient": "link"}), folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_output_folder_with_other_files_is_refused_and_max_rejected_applies(tmp_path: Path) -> None:
    folder = write(tmp_path / "in", **{"patients.csv": PATIENTS, "staff.csv": STAFF, "peer_contacts.csv": CONTACTS})
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(BulkExportError, match="not empty"):
        export_bulk(SETTINGS, folder, tmp_path / "busy")
    with pytest.raises(RejectionLimitExceeded) as caught:
        export_bulk(Settings(namespace=NS, max_rejected="0"), folder, tmp_path / "out")
    assert caught.value.report is not None and caught.value.report.exit_code == 6
