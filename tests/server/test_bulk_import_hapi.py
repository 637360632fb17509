"""HAPI ``$import`` end to end: export files, serve them over loopback, import, poll to the end, import again.

The server is, in this order of preference:

* ``$FHIRPEER_HAPI_URL`` — a running HAPI FHIR JPA server with bulk import enabled *on this machine* (it must reach
  the loopback file server), e.g. ``http://127.0.0.1:8080/fhir``;
* one started for the module by ``tools/hapi-server/hapi-server start --in-memory`` (or the script named by
  ``$FHIRPEER_HAPI_SCRIPT``), stopped afterwards.

Without either the test is skipped, except under ``CI``, where it fails: the bulk path must be proven there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fhirpeer.bulk import ExportFileServer, NdjsonExportWriter
from fhirpeer.bulk.importers import HapiImporter, ImportState, ImportStatus, run_to_end
from fhirpeer.bulk.manifest import Manifest
from tests.support.requirements import require

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SCRIPT = REPO / "tools" / "hapi-server" / "hapi-server"
START_TIMEOUT = 420

SECURITY = [
    # 42 CFR Part 2 labels as mappings/security.yaml sets them:
    # v3-Confidentiality R (restricted), https://terminology.hl7.org/CodeSystem-v3-Confidentiality.html
    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
    # v3-ActCode 42CFRPart2, https://terminology.hl7.org/CodeSystem-v3-ActCode.html
    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "42CFRPart2"},
]


def _unavailable(reason: str) -> None:
    require(reason, "the HAPI $import test")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def hapi_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("FHIRPEER_HAPI_URL", "").strip().rstrip("/")
    if given:
        yield given
        return
    script = Path(os.environ.get("FHIRPEER_HAPI_SCRIPT") or DEFAULT_SCRIPT)
    if not script.is_file():
        _unavailable(f"no FHIRPEER_HAPI_URL and no {script}")
    if shutil.which("java") is None:
        _unavailable("no java on PATH to run the HAPI server")
    data = tmp_path_factory.mktemp("hapi")
    started = subprocess.run(
        [str(script), "start", "--port", str(_free_port()), "--data", str(data), "--in-memory"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 60,
        check=False,
    )
    if started.returncode != 0:
        tail = "\n".join(started.stderr.splitlines()[-15:])
        _unavailable(f"hapi-server start failed (exit {started.returncode}):\n{tail}")
    try:
        yield started.stdout.strip().splitlines()[-1].rstrip("/")
    finally:
        subprocess.run([str(script), "stop", "--data", str(data)], capture_output=True, timeout=120, check=False)


def _export(out: Path, ns: str, tag: str) -> Manifest:
    """A small program: one site, one peer, three patients, four contacts (as Encounters with Part 2 labels)."""
    with NdjsonExportWriter(out, namespace=ns, max_resources_per_part=2) as writer:
        writer.add(
            {
                "resourceType": "Organization",
                "id": f"{tag}-org",
                "identifier": [{"system": f"{ns}/site", "value": "S-1"}],
                "name": "Test site",
            },
            key="S-1",
        )
        writer.add(
            {
                "resourceType": "Practitioner",
                "id": f"{tag}-peer",
                "identifier": [{"system": f"{ns}/staff", "value": "P-1"}],
            },
            key="P-1",
        )
        for n in range(3):
            writer.add(
                {
                    "resourceType": "Patient",
                    "id": f"{tag}-pat{n}",
                    "identifier": [{"system": f"{ns}/patient", "value": f"MRN-{n}"}],
                    "meta": {"security": SECURITY},
                },
                key=f"MRN-{n}",
            )
        for n in range(4):
            writer.add(
                {
                    "resourceType": "Encounter",
                    "id": f"{tag}-enc{n}",
                    "meta": {"security": SECURITY},
                    "identifier": [{"system": f"{ns}/contact", "value": f"C-{n}"}],
                    "status": "finished",
                    # v3-ActCode AMB (ambulatory), as mappings/ maps a clinic contact
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "subject": {"reference": f"Patient/{tag}-pat{n % 3}"},
                    "participant": [{"individual": {"reference": f"Practitioner/{tag}-peer"}}],
                    "serviceProvider": {"reference": f"Organization/{tag}-org"},
                },
                key=f"C-{n}",
            )
    assert writer.manifest is not None
    return writer.manifest


def _import(hapi_url: str, out: Path, manifest: Manifest) -> ImportStatus:
    with ExportFileServer(out) as files:
        importer = HapiImporter(hapi_url, file_credential=files.basic_credential)
        job = importer.start(manifest, files.url)
        status = run_to_end(importer, job, poll_interval=2, max_poll_wait=5, timeout=300)
        assert files.requests_served >= len(manifest.outputs)  # HAPI fetched the parts from us
    return status


def _search(hapi_url: str, resource_type: str, system: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{hapi_url}/{resource_type}",
        params={"identifier": f"{system}|", "_count": "100"},
        headers={"Accept": "application/fhir+json", "Cache-Control": "no-cache"},
        timeout=30,
    )
    response.raise_for_status()
    return [entry["resource"] for entry in response.json().get("entry", [])]


def test_every_resource_lands_once_and_a_reimport_changes_nothing(hapi_url: str, tmp_path: Path) -> None:
    tag = f"blk{uuid.uuid4().hex[:10]}"
    ns = f"https://fhirpeer.test/{tag}"
    manifest = _export(tmp_path / "export", ns, tag)
    assert manifest.counts() == {"Organization": 1, "Practitioner": 1, "Patient": 3, "Encounter": 4}

    first = _import(hapi_url, tmp_path / "export", manifest)
    assert first.state is ImportState.DONE and first.complete, first.describe()
    assert first.imported == manifest.total
    assert dict(first.imported_by_type) == manifest.counts()

    systems = {"Organization": "site", "Practitioner": "staff", "Patient": "patient", "Encounter": "contact"}
    landed = {t: _search(hapi_url, t, f"{ns}/{s}") for t, s in systems.items()}
    assert {t: sorted(r["id"] for r in found) for t, found in landed.items()} == {
        "Organization": [f"{tag}-org"],
        "Practitioner": [f"{tag}-peer"],
        "Patient": [f"{tag}-pat{n}" for n in range(3)],
        "Encounter": [f"{tag}-enc{n}" for n in range(4)],
    }
    encounter = next(r for r in landed["Encounter"] if r["id"] == f"{tag}-enc1")
    assert {(c["system"], c["code"]) for c in encounter["meta"]["security"]} == {
        (c["system"], c["code"]) for c in SECURITY
    }
    assert encounter["subject"]["reference"] == f"Patient/{tag}-pat1"
    versions = {(r["resourceType"], r["id"]): r["meta"]["versionId"] for found in landed.values() for r in found}

    again = _import(hapi_url, tmp_path / "export", manifest)
    assert again.state is ImportState.DONE and again.complete, again.describe()
    relanded = {t: _search(hapi_url, t, f"{ns}/{s}") for t, s in systems.items()}
    assert {t: len(found) for t, found in relanded.items()} == manifest.counts()  # no duplicates
    assert {(r["resourceType"], r["id"]): r["meta"]["versionId"] for f in relanded.values() for r in f} == versions
