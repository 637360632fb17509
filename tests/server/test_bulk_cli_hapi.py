"""The bulk path end to end on the command line, against the HAPI FHIR JPA server of the session: `fhirpeer
export-bulk`, `fhirpeer import` (HAPI `$import`, the parts served over loopback by fhirpeer), then `fhirpeer sync`
of the same export, which must send nothing — and a changed row afterwards is one update, with If-Match.

HAPI only: sekmet has no `$import`. The test is parametrized over the session's hapi server alone (none when
FHIRPEER_TEST_SERVER_KIND leaves hapi out); without Java or Maven it is skipped on a developer machine and fails
under CI (`require`). The import runs with the CLI's default polling (from 1 s, doubling up to HAPI's 15 s): one
job per type, each done in seconds; its `--timeout` is what a regression to the old two-minute waits would hit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from fhirpeer.bulk.manifest import read_manifest
from fhirpeer.cli import main
from fhirpeer.sync_engine.identity import resource_id
from tests.conftest import ServerUnderTest, server_kinds
from tests.support.hapi import hapi_unavailable
from tests.support.inventory import versions
from tests.support.requirements import require
from tests.support.sync_run import rows, sync, write_rows

PART2 = {"42CFRPart2", "R"}  # v3-ActCode 42CFRPart2 and v3-Confidentiality R, as mappings/security.yaml sets them
IMPORT_TIMEOUT = 240  # seconds for all the per-type jobs; ~30 s here
HAPI_ONLY = pytest.mark.parametrize("fhir_server", [k for k in server_kinds() if k == "hapi"], indirect=True)


def written(report: dict[str, Any]) -> dict[str, int]:
    """Resources created or updated per type, fhirpeer's own Device and Provenance aside."""
    counts = {t: c.get("created", 0) + c.get("updated", 0) for t, c in report["counts"].items()}
    return {t: n for t, n in counts.items() if n and t not in ("Device", "Provenance")}


@HAPI_ONLY
def test_import_then_sync_sends_nothing_and_a_later_change_is_one_update(
    fhir_server: ServerUnderTest, export: Path, test_namespace: str, tmp_path: Path
) -> None:
    require(hapi_unavailable(), "HAPI $import")
    base, ns = fhir_server.base_url, test_namespace
    bulk = tmp_path / "bulk"
    assert main(["export-bulk", "--input", str(export), "--out", str(bulk), "--namespace", ns]) == 0
    manifest = read_manifest(bulk, verify=True)

    report_path = tmp_path / "import.json"
    code = main([
        "import", "--server", base, "--from", str(bulk), "--namespace", ns, "--state", str(tmp_path / "state.sqlite"),
        "--timeout", str(IMPORT_TIMEOUT), "--report-json", str(report_path), "--no-progress",
    ])  # fmt: skip
    imported = json.loads(report_path.read_text())
    assert code == 0, imported.get("error")
    assert imported["strategy"] == "bulk import (hapi)"
    assert sum(c.get("created", 0) for c in imported["counts"].values()) == manifest.total

    # on the server under the deterministic ids, with the Part 2 labels, each key once (versions() fails otherwise)
    held = {t: versions(base, ns, t) for t in manifest.counts()}
    assert {t: len(keys) for t, keys in held.items()} == manifest.counts()
    contact = rows(export / "peer_contacts.csv")[0]["contact_id"]
    enc_type = "Encounter" if contact in held["Encounter"] else "Appointment"
    resource = requests.get(
        f"{base}/{enc_type}/{resource_id(ns, enc_type, contact)}",
        headers={"Accept": "application/fhir+json"},
        timeout=30,
    ).json()
    assert {c["code"] for c in resource["meta"]["security"]} >= PART2

    code, report = sync(base, ns, export, tmp_path)
    assert code == 0, report.get("error")
    assert written(report) == {}, report["counts"]
    assert {t: held_now for t, held_now in ((t, versions(base, ns, t)) for t in held)} == held  # nothing rewritten

    path = export / "peer_contacts.csv"
    data = rows(path)
    changed = next(r for r in data if r["contact_id"] in held["Encounter"])
    changed["duration_min"] = str(int(changed["duration_min"] or 0) % 1440 + 1)
    write_rows(path, data)
    code, report = sync(base, ns, export, tmp_path)
    assert code == 0, report.get("error")
    assert report["counts"]["Encounter"].get("updated") == 1, report["counts"]
    assert written(report) == {"Encounter": 1}, report["counts"]
    after = versions(base, ns, "Encounter")
    assert after[changed["contact_id"]] == str(int(held["Encounter"][changed["contact_id"]]) + 1)
