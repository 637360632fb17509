"""The loopback file server: manifest-listed parts only, read-only, behind generated Basic credentials."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from fhirpeer.bulk.errors import BulkExportError
from fhirpeer.bulk.file_server import NDJSON_CONTENT_TYPE, ExportFileServer
from fhirpeer.bulk.manifest import KEYS_FILE, MANIFEST_FILE
from fhirpeer.bulk.ndjson_files import NdjsonExportWriter


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    with NdjsonExportWriter(out, namespace="https://fhirpeer.test/files", max_resources_per_part=1) as writer:
        writer.add({"resourceType": "Patient", "id": "p1"}, key="MRN-1")
        writer.add({"resourceType": "Patient", "id": "p2"}, key="MRN-2")
    (out / "other.ndjson").write_text('{"resourceType":"Patient","id":"x"}\n')
    return out


def credentials(files: ExportFileServer) -> tuple[str, str]:
    assert files.basic_credential is not None
    user, password = files.basic_credential.split(":", 1)
    return user, password


def test_serves_a_listed_part_byte_for_byte_as_fhir_ndjson(export_dir: Path) -> None:
    with ExportFileServer(export_dir) as files:
        assert files.url.startswith("http://127.0.0.1:")
        response = requests.get(files.url_for("Patient.0002.ndjson"), auth=credentials(files), timeout=5)
        head = requests.head(files.url_for("Patient.0001.ndjson"), auth=credentials(files), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == NDJSON_CONTENT_TYPE
    assert response.content == (export_dir / "Patient.0002.ndjson").read_bytes()
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str((export_dir / "Patient.0001.ndjson").stat().st_size)


@pytest.mark.parametrize(
    "path",
    [
        MANIFEST_FILE,
        KEYS_FILE,
        "other.ndjson",
        "",
        "..%2Fexport%2FPatient.0001.ndjson",
        "../export/Patient.0001.ndjson",
    ],
)
def test_anything_the_manifest_does_not_list_is_not_found(export_dir: Path, path: str) -> None:
    with ExportFileServer(export_dir) as files:
        response = requests.get(files.url + path, auth=credentials(files), timeout=5)
    assert response.status_code == 404
    assert response.content == b""


def test_requests_without_the_generated_credentials_are_refused(export_dir: Path) -> None:
    with ExportFileServer(export_dir) as files:
        anonymous = requests.get(files.url_for("Patient.0001.ndjson"), timeout=5)
        wrong = requests.get(files.url_for("Patient.0001.ndjson"), auth=("fhirpeer", "guess"), timeout=5)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong.status_code == 401
    assert "guess" not in repr(files) and (files.basic_credential or "x") not in repr(files)


def test_writes_are_refused(export_dir: Path) -> None:
    before = (export_dir / "Patient.0001.ndjson").read_bytes()
    with ExportFileServer(export_dir) as files:
        for method in ("POST", "PUT", "DELETE"):
            response = requests.request(
                method, files.url_for("Patient.0001.ndjson"), data=b"x", auth=credentials(files), timeout=5
            )
            assert response.status_code == 405, method
    assert (export_dir / "Patient.0001.ndjson").read_bytes() == before


def test_without_auth_when_asked(export_dir: Path) -> None:
    with ExportFileServer(export_dir, require_auth=False) as files:
        response = requests.get(files.url_for("Patient.0001.ndjson"), timeout=5)
        assert files.basic_credential is None
    assert response.status_code == 200


def test_the_port_is_released_on_stop(export_dir: Path) -> None:
    with ExportFileServer(export_dir) as files:
        port = files.port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # would raise if the server still held it


def test_a_folder_whose_parts_do_not_match_the_manifest_is_not_served(export_dir: Path) -> None:
    (export_dir / "Patient.0001.ndjson").write_text('{"resourceType":"Patient","id":"changed"}\n')
    with pytest.raises(BulkExportError, match=r"Patient\.0001\.ndjson"):
        ExportFileServer(export_dir)
