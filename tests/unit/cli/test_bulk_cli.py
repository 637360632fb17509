"""`fhirpeer export-bulk` and `fhirpeer import` on the command line, the cloud imports played with `responses` in
the request/response shapes their services document (the importers' own tests in tests/unit/bulk/ check those
shapes field by field; here: the CLI wiring, exit codes, the run report and what the state store learns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from responses import matchers

from fhirpeer import Settings, export_bulk
from fhirpeer.bulk.key_sidecar import read_key_lines
from fhirpeer.bulk.manifest import read_manifest
from fhirpeer.cli import main
from fhirpeer.demo.sample import generate_program
from fhirpeer.sync_engine.state import StateStore, target_id

NS = "https://fhirpeer.test/bulk-cli"
AZURE = "https://peerws-recovery.fhir.azurehealthcareapis.com"
AZURE_POLL = f"{AZURE}/_operations/import/42"
CONTAINER = "https://acct.blob.core.windows.net/imports/fhirpeer/2026-01-05"
STORE = "projects/p1/locations/us-central1/datasets/peer/fhirStores/recovery"
GOOGLE = f"https://healthcare.googleapis.com/v1/{STORE}/fhir"
OPERATION = "projects/p1/locations/us-central1/datasets/peer/operations/77"
REGION = "us-east-1"
DATASTORE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
AWS = f"https://healthlake.{REGION}.amazonaws.com/datastore/{DATASTORE}/r4/"
HEALTHLAKE_API = f"https://healthlake.{REGION}.amazonaws.com/"


@pytest.fixture(scope="module")
def bulk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    program = tmp_path_factory.mktemp("program")
    generate_program(program, patients=8, seed=5)
    out = tmp_path_factory.mktemp("bulk") / "files"
    # the API, not the CLI: a module-scoped fixture runs outside the per-test logger restore of tests/conftest.py
    assert export_bulk(Settings(namespace=NS), program, out).report.exit_code == 0
    return out


@pytest.fixture(autouse=True)
def bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIRPEER_AUTH", "bearer")
    monkeypatch.setenv("FHIRPEER_BEARER_TOKEN", "cloud-token")


def total(bulk_dir: Path) -> int:
    return read_manifest(bulk_dir).total


def state_rows(state: Path, server: str) -> tuple[int, int]:
    """(resources, records) the state store holds for this server and namespace."""
    store = StateStore(state, target_id(server.rstrip("/"), NS))
    try:
        synced = sum(store.count_synced().values())
        records = store._db.execute("SELECT COUNT(*) FROM records WHERE target=?", (store.target,)).fetchone()[0]
    finally:
        store.close()
    return synced, records


def import_args(server: str, bulk_dir: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "import", "--server", server, "--from", str(bulk_dir), "--namespace", NS, "--state",
        str(tmp_path / "state.sqlite"), "--poll-interval", "0.01", "--report-json", str(tmp_path / "report.json"),
        "--no-progress", *extra,
    ]  # fmt: skip


def test_export_bulk_writes_parts_a_manifest_and_a_report(bulk_dir: Path, tmp_path: Path) -> None:
    manifest = read_manifest(bulk_dir, verify=True)
    assert {o.type for o in manifest.outputs} >= {"Patient", "Encounter", "EpisodeOfCare", "CareTeam"}
    assert sum(1 for _ in read_key_lines(bulk_dir, manifest)) == manifest.total
    again = tmp_path / "again"
    program = tmp_path / "program"
    generate_program(program, patients=3, seed=1)
    argv = ["export-bulk", "--input", str(program), "--out", str(again), "--namespace", NS]
    assert main([*argv, "--report-json", str(tmp_path / "r.json"), "--max-part-resources", "2"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["command"] == "export-bulk" and report["exit_code"] == 0
    assert max(o.count for o in read_manifest(again).outputs) <= 2
    assert main(argv) == 2  # not empty, no --overwrite: a configuration error, nothing replaced


def azure_kickoff() -> None:
    responses.post(f"{AZURE}/$import", status=202, headers={"Content-Location": AZURE_POLL})


def azure_done(bulk_dir: Path, error: list[dict[str, Any]] | None = None) -> None:
    manifest = read_manifest(bulk_dir)
    output = [{"type": o.type, "count": o.count, "inputUrl": f"{CONTAINER}/{o.url}"} for o in manifest.outputs]
    responses.get(AZURE_POLL, status=202)
    responses.get(
        AZURE_POLL,
        json={"transactionTime": "2026-01-05T15:01:00Z", "request": f"{AZURE}/$import", "output": output,
              "error": error or []},
    )  # fmt: skip


@responses.activate
def test_azure_import_records_every_resource_and_record(bulk_dir: Path, tmp_path: Path) -> None:
    azure_kickoff()
    azure_done(bulk_dir)
    argv = import_args(AZURE, bulk_dir, tmp_path, "--kind", "azure", "--location", CONTAINER, "--no-server-check")
    assert main(argv) == 0
    kickoff = json.loads(responses.calls[0].request.body)
    assert {"name": "mode", "valueString": "IncrementalLoad"} in kickoff["parameter"]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer cloud-token"
    synced, records = state_rows(tmp_path / "state.sqlite", AZURE)
    assert synced == total(bulk_dir) and records > 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["command"] == "import" and report["exit_code"] == 0
    assert sum(c.get("created", 0) for c in report["counts"].values()) == total(bulk_dir)


@responses.activate
def test_azure_import_with_refused_resources_exits_1_and_records_nothing(bulk_dir: Path, tmp_path: Path) -> None:
    azure_kickoff()
    error = [{"type": "OperationOutcome", "count": 1, "inputUrl": f"{CONTAINER}/Encounter.0001.ndjson",
              "url": "https://acct.blob.core.windows.net/logs/err.ndjson"}]  # fmt: skip
    azure_done(bulk_dir, error)
    argv = import_args(AZURE, bulk_dir, tmp_path, "--kind", "azure", "--location", CONTAINER, "--no-server-check")
    assert main(argv) == 1
    assert state_rows(tmp_path / "state.sqlite", AZURE) == (0, 0)


def azure_search(request: Any) -> tuple[int, dict[str, str], str]:
    """The FHIR searches of the server check: per type a count of the identifier system (none held), and after the
    import the `_id` version reads (version 1 of every id asked for)."""
    params = dict(parse_qsl(urlsplit(request.url).query))
    rtype = urlsplit(request.url).path.rsplit("/", 1)[-1]
    if params.get("_summary") == "count":
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0})
    entries = [
        {"resource": {"resourceType": rtype, "id": i, "meta": {"versionId": "1"}}} for i in params["_id"].split(",")
    ]
    return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})


@responses.activate
def test_azure_is_told_from_the_url_and_the_server_check_runs_first(bulk_dir: Path, tmp_path: Path) -> None:
    """`--kind auto` (default): the URL says Azure; the server check counts each type's identifier system (0 here:
    nothing to look up) before the kick-off, and reads the imported versions back by `_id` after it."""
    for output in read_manifest(bulk_dir).outputs:
        responses.add_callback(responses.GET, f"{AZURE}/{output.type}", callback=azure_search)
    azure_kickoff()
    azure_done(bulk_dir)
    code = main(import_args(AZURE, bulk_dir, tmp_path, "--location", CONTAINER))
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0, report["error"]
    assert report["strategy"] == "bulk import (azure)"
    urls = [c.request.url for c in responses.calls]
    kickoff = urls.index(f"{AZURE}/$import")
    assert all("_summary=count" in u for u in urls[:kickoff]) and len(urls[:kickoff]) == len(
        read_manifest(bulk_dir).outputs
    )
    store = StateStore(tmp_path / "state.sqlite", target_id(AZURE, NS))
    try:
        line = next(read_key_lines(bulk_dir, read_manifest(bulk_dir)))
        row = store.lookup(line.resource_type, [line.key])[line.key]
        assert (row.server_id, row.version_id, row.hash) == (line.id, "1", line.hash)
    finally:
        store.close()


@responses.activate
def test_google_import_from_gcs_to_the_end(bulk_dir: Path, tmp_path: Path) -> None:
    responses.post(f"https://healthcare.googleapis.com/v1/{STORE}:import", json={"name": OPERATION})
    responses.get(
        f"https://healthcare.googleapis.com/v1/{OPERATION}",
        json={"name": OPERATION, "done": True, "metadata": {"counter": {"success": str(total(bulk_dir))}},
              "response": {"@type": "type.googleapis.com/google.cloud.healthcare.v1.fhir.ImportResourcesResponse"}},
    )  # fmt: skip
    argv = import_args(GOOGLE, bulk_dir, tmp_path, "--location", "gs://peer/fhirpeer/2026-01-05/", "--no-server-check")
    assert main(argv) == 0
    body = json.loads(responses.calls[0].request.body)
    assert body == {"contentStructure": "RESOURCE", "gcsSource": {"uri": "gs://peer/fhirpeer/2026-01-05/*.*.ndjson"}}
    assert state_rows(tmp_path / "state.sqlite", GOOGLE)[0] == total(bulk_dir)


@responses.activate
def test_google_operation_error_aborts_with_exit_5_and_no_server_text(bulk_dir: Path, tmp_path: Path) -> None:
    responses.post(f"https://healthcare.googleapis.com/v1/{STORE}:import", json={"name": OPERATION})
    responses.get(
        f"https://healthcare.googleapis.com/v1/{OPERATION}",
        json={"name": OPERATION, "done": True, "error": {"code": 3, "message": "invalid: family Doe"}},
    )
    argv = import_args(GOOGLE, bulk_dir, tmp_path, "--location", "gs://peer/x/", "--no-server-check")
    assert main(argv) == 5
    text = (tmp_path / "report.json").read_text()
    assert "Doe" not in text and "INVALID_ARGUMENT" in text
    assert state_rows(tmp_path / "state.sqlite", GOOGLE) == (0, 0)


def test_aws_import_needs_its_flags_before_anything_is_sent(bulk_dir: Path, tmp_path: Path) -> None:
    with responses.RequestsMock():  # any request would fail the test
        assert main(import_args(AWS, bulk_dir, tmp_path, "--kind", "aws", "--location", "s3://peer/x/")) == 2


@responses.activate
def test_aws_healthlake_import_is_signed_and_polled(
    bulk_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))

    def target(name: str) -> Any:
        return matchers.header_matcher({"X-Amz-Target": f"HealthLake.{name}"})

    job = "c145fbb27b192af392f8ce6e7838e34f"
    responses.post(HEALTHLAKE_API, json={"DatastoreId": DATASTORE, "JobStatus": "SUBMITTED", "JobId": job},
                   match=[target("StartFHIRImportJob")])  # fmt: skip
    responses.post(
        HEALTHLAKE_API,
        json={"ImportJobProperties": {"JobId": job, "JobStatus": "COMPLETED", "DatastoreId": DATASTORE,
                                      "JobProgressReport": {"TotalNumberOfResourcesImported": total(bulk_dir),
                                                            "TotalNumberOfResourcesWithCustomerError": 0}}},
        match=[target("DescribeFHIRImportJob")],
    )  # fmt: skip
    argv = import_args(
        AWS, bulk_dir, tmp_path, "--location", "s3://peer/fhirpeer/2026-01-05/", "--no-server-check",
        "--aws-role-arn", "arn:aws:iam::123456789012:role/HealthLakeImport", "--aws-output-s3", "s3://peer/out/",
        "--aws-kms-key", "arn:aws:kms:us-east-1:123456789012:key/k1",
    )  # fmt: skip
    assert main(argv) == 0
    start = responses.calls[0].request
    assert start.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert json.loads(start.body)["InputDataConfig"] == {"S3Uri": "s3://peer/fhirpeer/2026-01-05/"}
    assert state_rows(tmp_path / "state.sqlite", AWS)[0] == total(bulk_dir)


def test_a_folder_of_another_namespace_is_refused_before_anything_is_sent(bulk_dir: Path, tmp_path: Path) -> None:
    argv = import_args(AZURE, bulk_dir, tmp_path, "--kind", "azure", "--location", CONTAINER)
    argv[argv.index(NS)] = "https://fhirpeer.test/another"
    with responses.RequestsMock():
        assert main(argv) == 2
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exit_code"] == 2 and "namespace" in report["error"]["message"]
