"""Bulk importers against the documented (or, for HAPI, recorded) request and response shapes, with ``responses``.

Every kick-off is checked for its exact URL, headers and body; every target is polled 202 → 202 → 200 (or its
equivalent) through :func:`run_to_end`; failures and throttling are played back, and no error text may carry the
resource content a server put in its answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
import requests
import responses
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from responses import matchers

from fhirpeer import errors
from fhirpeer.bulk.errors import ImportFailed, ImportRefused, ImportTimeout
from fhirpeer.bulk.importers import (
    AzureImporter,
    GcpImporter,
    HapiImporter,
    HealthLakeImporter,
    ImportHttp,
    ImportJob,
    ImportState,
    ImportStatus,
    run_to_end,
)
from fhirpeer.bulk.importers.aws import client_token_for
from fhirpeer.bulk.importers.base import BulkImporter
from fhirpeer.bulk.manifest import Manifest, OutputFile
from fhirpeer.transport.auth import Auth, BearerToken
from fhirpeer.transport.retry import RetryPolicy
from tests.support.paths import FIXTURES

HAPI_IMPORT = FIXTURES / "http" / "hapi_import"
HAPI = "http://hapi.test/fhir"
FILES = "http://127.0.0.1:18092/"
POLL = f"{HAPI}/$import-poll-status?_jobId=6ae7136c-2c1c-4b78-bc4e-dd8a13e1403f"


def fixture(name: str) -> Any:
    return json.loads((HAPI_IMPORT / name).read_text(encoding="utf-8"))


def manifest(*parts: tuple[str, str, int]) -> Manifest:
    outputs = tuple(OutputFile(t, url, n, 100 * n, f"{i:064x}") for i, (t, url, n) in enumerate(parts))
    order = tuple(dict.fromkeys(t for t, _, _ in parts))
    return Manifest("2026-01-05T15:00:00.000Z", "https://fhirpeer.test/ns", "0.1.0", order, outputs)


PATIENTS_THEN_ENCOUNTERS = manifest(("Patient", "Patient.0001.ndjson", 2), ("Encounter", "Encounter.0001.ndjson", 1))


class Recorder:
    """Sleeps recorded instead of taken, and a clock that the sleeps advance."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def http(rec: Recorder, auth: Auth | None = None) -> ImportHttp:
    return ImportHttp(auth=auth, retry=RetryPolicy(jitter=0.0, initial_wait=0.5), sleep=rec.sleep)


def body_of(call: Any) -> Any:
    return json.loads(call.request.body)


def run(importer: BulkImporter, job: ImportJob, rec: Recorder, **options: Any) -> ImportStatus:
    options.setdefault("timeout", 3600)
    return run_to_end(importer, job, poll_interval=10, sleep=rec.sleep, clock=rec.clock, **options)


# --- HAPI ---------------------------------------------------------------------------------------------------


def hapi(rec: Recorder) -> HapiImporter:
    return HapiImporter(HAPI, http=http(rec), file_credential="fhirpeer:s3cret")


def kickoff_hapi() -> None:
    responses.post(
        f"{HAPI}/$import",
        status=202,
        json=fixture("kickoff_202.json"),
        headers={"Content-Location": POLL},
    )


@responses.activate
def test_hapi_kickoff_sends_the_parameters_hapi_reads(rec: Recorder) -> None:
    kickoff_hapi()
    job = hapi(rec).start(PATIENTS_THEN_ENCOUNTERS, FILES)
    call = responses.calls[0]
    assert call.request.url == f"{HAPI}/$import"
    assert call.request.headers["Prefer"] == "respond-async"
    assert call.request.headers["Content-Type"] == "application/fhir+json"
    assert body_of(call) == {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueCode": "application/fhir+ndjson"},
            {"name": "inputSource", "valueUri": FILES},
            {
                "name": "storageDetail",
                "part": [
                    {"name": "type", "valueCode": "https"},
                    {"name": "credentialHttpBasic", "valueString": "fhirpeer:s3cret"},
                ],
            },
            {
                "name": "input",
                "part": [
                    {"name": "type", "valueCode": "Patient"},
                    {"name": "url", "valueUri": "http://127.0.0.1:18092/Patient.0001.ndjson"},
                ],
            },
            {
                "name": "input",
                "part": [
                    {"name": "type", "valueCode": "Encounter"},
                    {"name": "url", "valueUri": "http://127.0.0.1:18092/Encounter.0001.ndjson"},
                ],
            },
        ],
    }
    assert job.job_id == "6ae7136c-2c1c-4b78-bc4e-dd8a13e1403f"
    assert job.poll_url == POLL
    assert job.expected == 3
    assert ImportJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job


@responses.activate
def test_hapi_polls_queued_running_done_politely(rec: Recorder) -> None:
    kickoff_hapi()
    queued = {
        "X-Progress": "Job was created at 2026-12-01T09:03:35.810+00:00 and is in QUEUED state.",
        "Retry-After": "120",
    }
    running = {
        "X-Progress": "Job was created at 2026-12-01T09:02:53.713+00:00, started at 2026-12-01T09:02:55.214+00:00 "
        "and is in IN_PROGRESS state. Current completion: 33.3% and ETA is 504ms",
        "Retry-After": "120",
    }
    responses.get(POLL, status=202, json=fixture("poll_202.json"), headers=queued)
    responses.get(POLL, status=202, json=fixture("poll_202.json"), headers=running)
    responses.get(POLL, status=200, json=fixture("poll_200.json"))
    importer = hapi(rec)
    seen: list[ImportStatus] = []
    status = run(
        importer, importer.start(PATIENTS_THEN_ENCOUNTERS, FILES), rec, max_poll_wait=60, on_progress=seen.append
    )
    assert [s.state for s in seen] == [ImportState.QUEUED, ImportState.RUNNING, ImportState.DONE]
    assert seen[1].progress == pytest.approx(0.333)
    assert rec.sleeps == [1, 2, 4]  # backing off from 1 s; HAPI's constant Retry-After 120 is not honoured
    assert status.imported == 3 and status.failed == 0
    assert status.imported_by_type == {"Patient": 2, "Encounter": 1}
    assert status.complete
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "GET", "GET"]


@responses.activate
def test_hapi_failed_job_reports_codes_and_counts_but_no_server_text(rec: Recorder) -> None:
    kickoff_hapi()
    responses.get(POLL, status=500, json=fixture("poll_500_failed.json"))
    parts = manifest(("Patient", "Patient.0001.ndjson", 2), ("Encounter", "Encounter.0002.ndjson", 1))
    importer = hapi(rec)
    job = importer.start(parts, FILES)
    with pytest.raises(ImportFailed) as caught:
        run(importer, job, rec)
    message = str(caught.value)
    assert caught.value.job_id == job.job_id
    assert "HAPI-2673" in message and "HAPI-1094" in message
    assert "1 refused from Encounter.0002.ndjson" in message
    assert "missing-pt" not in message and "not found" not in message
    status = importer.poll(job)
    assert status.state is ImportState.FAILED and status.imported == 2 and status.failed == 1


@pytest.mark.parametrize(
    ("name", "code"), [("kickoff_400_no_prefer.json", "HAPI-0513"), ("kickoff_400_format.json", "HAPI-2048")]
)
@responses.activate
def test_hapi_refused_kickoff_raises_with_the_message_code(rec: Recorder, name: str, code: str) -> None:
    responses.post(f"{HAPI}/$import", status=400, json=fixture(name))
    with pytest.raises(ImportRefused, match=rf"POST \$import: HTTP 400 \(processing {code}\)") as caught:
        hapi(rec).start(PATIENTS_THEN_ENCOUNTERS, FILES)
    assert "application/fhir+ndjson" not in str(caught.value) and "Must request" not in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_hapi_kickoff_is_retried_on_429_only(rec: Recorder) -> None:
    responses.post(f"{HAPI}/$import", status=429, headers={"Retry-After": "3"})
    kickoff_hapi()
    hapi(rec).start(PATIENTS_THEN_ENCOUNTERS, FILES)
    assert rec.sleeps == [3.0]
    responses.reset()
    responses.post(f"{HAPI}/$import", status=503)
    with pytest.raises(ImportRefused, match="HTTP 503"):
        hapi(rec).start(PATIENTS_THEN_ENCOUNTERS, FILES)  # 503 may have started a job: not repeated
    assert len(responses.calls) == 1


@responses.activate
def test_hapi_kickoff_without_a_poll_location_is_refused(rec: Recorder) -> None:
    responses.post(f"{HAPI}/$import", status=202, json=fixture("kickoff_202.json"))
    with pytest.raises(ImportRefused, match="Content-Location"):
        hapi(rec).start(PATIENTS_THEN_ENCOUNTERS, FILES)


@responses.activate
def test_hapi_poll_retries_temporary_failures_with_retry_after(rec: Recorder) -> None:
    kickoff_hapi()
    responses.get(POLL, status=503, headers={"Retry-After": "7"})
    responses.get(POLL, status=429, headers={"Retry-After": "5"})
    responses.get(POLL, status=200, json=fixture("poll_200.json"))
    importer = hapi(rec)
    status = run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, FILES), rec)
    assert status.state is ImportState.DONE
    assert rec.sleeps == [1, 7.0, 5.0]


@responses.activate
def test_hapi_polls_back_off_from_one_second_to_the_interval(rec: Recorder) -> None:
    kickoff_hapi()
    for _ in range(6):
        responses.get(POLL, status=202, json=fixture("poll_202.json"), headers={"Retry-After": "120"})
    responses.get(POLL, status=200, json=fixture("poll_200.json"))
    importer = hapi(rec)
    status = run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, FILES), rec)
    assert status.state is ImportState.DONE
    assert rec.sleeps == [1, 2, 4, 8, 10, 10, 10]


def test_a_retry_after_still_stretches_the_backed_off_wait(rec: Recorder) -> None:
    class Scripted(BulkImporter):
        target = "scripted"
        first_poll_wait = 1.0

        def __init__(self, statuses: list[ImportStatus]) -> None:
            self.statuses = statuses

        def start(self, manifest: Manifest, location: str) -> ImportJob:
            return ImportJob(self.target, "j1", "memory:j1")

        def poll(self, job: ImportJob) -> ImportStatus:
            return self.statuses.pop(0)

    running = ImportStatus(ImportState.RUNNING, "j1")
    importer = Scripted([running, ImportStatus(ImportState.RUNNING, "j1", retry_after=30), running, running,
                         ImportStatus(ImportState.DONE, "j1")])  # fmt: skip
    run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, FILES), rec)
    assert rec.sleeps == [1, 2, 30, 8, 10]


@responses.activate
def test_hapi_cancelled_job_is_failed(rec: Recorder) -> None:
    kickoff_hapi()
    responses.get(POLL, status=404, json={"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]})
    importer = hapi(rec)
    with pytest.raises(ImportFailed, match="cancelled"):
        run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, FILES), rec)


@responses.activate
def test_a_job_outliving_the_timeout_raises_with_its_id(rec: Recorder) -> None:
    kickoff_hapi()
    responses.get(POLL, status=202, json=fixture("poll_202.json"), headers={"Retry-After": "120"})
    importer = hapi(rec)
    job = importer.start(PATIENTS_THEN_ENCOUNTERS, FILES)
    with pytest.raises(ImportTimeout) as caught:
        run(importer, job, rec, timeout=100)
    assert caught.value.job_id == job.job_id
    assert sum(rec.sleeps) == pytest.approx(100)  # never slept past the deadline
    assert isinstance(caught.value, errors.TemporaryError)


# --- Azure --------------------------------------------------------------------------------------------------

AZURE = "https://ws-fhir.fhir.azurehealthcareapis.com"
CONTAINER = "https://acct.blob.core.windows.net/imports/fhirpeer/2026-01-05"
AZURE_POLL = f"{AZURE}/_operations/import/42"


def azure(rec: Recorder, auth: Auth | None = None) -> AzureImporter:
    return AzureImporter(AZURE, http=http(rec, auth or BearerToken("azure-token")))


@responses.activate
def test_azure_kickoff_is_incremental_and_names_every_part(rec: Recorder) -> None:
    responses.post(f"{AZURE}/$import", status=202, headers={"Content-Location": AZURE_POLL})
    job = azure(rec).start(PATIENTS_THEN_ENCOUNTERS, CONTAINER + "/")
    call = responses.calls[0]
    assert call.request.url == f"{AZURE}/$import"
    assert call.request.headers["Prefer"] == "respond-async"
    assert call.request.headers["Content-Type"] == "application/fhir+json"
    assert call.request.headers["Authorization"] == "Bearer azure-token"
    assert body_of(call) == {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "inputFormat", "valueString": "application/fhir+ndjson"},
            {"name": "mode", "valueString": "IncrementalLoad"},
            {
                "name": "input",
                "part": [
                    {"name": "type", "valueString": "Patient"},
                    {"name": "url", "valueUri": f"{CONTAINER}/Patient.0001.ndjson"},
                ],
            },
            {
                "name": "input",
                "part": [
                    {"name": "type", "valueString": "Encounter"},
                    {"name": "url", "valueUri": f"{CONTAINER}/Encounter.0001.ndjson"},
                ],
            },
        ],
    }
    assert (job.job_id, job.poll_url) == ("42", AZURE_POLL)


@responses.activate
def test_azure_202_202_200_with_an_error_file(rec: Recorder) -> None:
    responses.post(f"{AZURE}/$import", status=202, headers={"Content-Location": AZURE_POLL})
    responses.get(AZURE_POLL, status=202)
    responses.get(AZURE_POLL, status=202, headers={"Retry-After": "30"})
    error_blob = "https://acct.blob.core.windows.net/fhirlogs/Encounter06b88c6933a34c7c83cb18b7dd6ae3d8.ndjson"
    responses.get(
        AZURE_POLL,
        status=200,
        json={
            "transactionTime": "2026-01-05T15:01:00.000+00:00",
            "request": f"{AZURE}/$import",
            "output": [
                {"type": "Patient", "count": 2, "inputUrl": f"{CONTAINER}/Patient.0001.ndjson"},
                {"type": "Encounter", "count": 0, "inputUrl": f"{CONTAINER}/Encounter.0001.ndjson"},
            ],
            "error": [
                {
                    "type": "OperationOutcome",
                    "count": 1,
                    "inputUrl": f"{CONTAINER}/Encounter.0001.ndjson",
                    "url": error_blob,
                }
            ],
        },
    )
    importer = azure(rec)
    status = run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, CONTAINER), rec)
    assert status.state is ImportState.DONE
    assert (status.imported, status.failed) == (2, 1)
    assert status.imported_by_type == {"Patient": 2, "Encounter": 0}
    assert status.errors == (f"1 refused from Encounter.0001.ndjson; details in {error_blob}",)
    assert not status.complete
    assert rec.sleeps == [10, 10, 30]
    assert all(c.request.headers["Authorization"] == "Bearer azure-token" for c in responses.calls)


@responses.activate
def test_azure_fatal_failure_keeps_issue_codes_only(rec: Recorder) -> None:
    responses.post(f"{AZURE}/$import", status=202, headers={"Content-Location": AZURE_POLL})
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "processing", "diagnostics": "import operation failed for reason: Doe"}
        ],
    }
    responses.get(AZURE_POLL, status=500, json=outcome)
    importer = azure(rec)
    with pytest.raises(ImportFailed, match=r"HTTP 500 \(processing\)") as caught:
        run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, CONTAINER), rec)
    assert "Doe" not in str(caught.value)


class CountingToken(Auth):
    def __init__(self) -> None:
        self.invalidations = 0

    def apply(self, headers: MutableMapping[str, str]) -> None:
        headers["Authorization"] = f"Bearer token-{self.invalidations}"

    def invalidate(self) -> None:
        self.invalidations += 1


@responses.activate
def test_azure_reauthenticates_once_on_401_then_gives_up_on_403(rec: Recorder) -> None:
    token = CountingToken()
    responses.post(f"{AZURE}/$import", status=401)
    responses.post(f"{AZURE}/$import", status=202, headers={"Content-Location": AZURE_POLL})
    azure(rec, token).start(PATIENTS_THEN_ENCOUNTERS, CONTAINER)
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer token-0", "Bearer token-1"]
    responses.reset()
    responses.post(f"{AZURE}/$import", status=403)
    with pytest.raises(errors.AuthError, match="HTTP 403"):
        azure(rec, token).start(PATIENTS_THEN_ENCOUNTERS, CONTAINER)


def test_azure_reads_from_a_storage_url_only(rec: Recorder) -> None:
    with pytest.raises(ImportRefused, match="https"):
        azure(rec).start(PATIENTS_THEN_ENCOUNTERS, "gs://bucket/prefix")


# --- Google Cloud -------------------------------------------------------------------------------------------

STORE = "projects/p1/locations/us-central1/datasets/peer/fhirStores/recovery"
OPERATION = "projects/p1/locations/us-central1/datasets/peer/operations/1234567890"
GCP_IMPORT = f"https://healthcare.googleapis.com/v1/{STORE}:import"
GCP_POLL = f"https://healthcare.googleapis.com/v1/{OPERATION}"
METADATA = {
    "@type": "type.googleapis.com/google.cloud.healthcare.v1.OperationMetadata",
    "apiMethodName": "google.cloud.healthcare.v1.fhir.FhirStoreService.ImportResources",
    "createTime": "2026-01-05T15:00:01Z",
    "logsUrl": "https://console.cloud.google.com/logs/query/x",
}


def gcp(rec: Recorder) -> GcpImporter:
    return GcpImporter(STORE, http=http(rec, BearerToken("ya29.token")))


def operation(done: bool, counter: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": OPERATION, "metadata": {**METADATA, "counter": counter}, "done": done, **extra}


@responses.activate
def test_gcp_import_reads_only_the_parts_under_the_prefix(rec: Recorder) -> None:
    responses.post(GCP_IMPORT, json={"name": OPERATION, "metadata": METADATA})
    job = gcp(rec).start(PATIENTS_THEN_ENCOUNTERS, "gs://peer-exports/fhirpeer/2026-01-05/")
    call = responses.calls[0]
    assert call.request.url == GCP_IMPORT
    assert call.request.headers["Authorization"] == "Bearer ya29.token"
    assert call.request.headers["Content-Type"] == "application/json"
    assert body_of(call) == {
        "contentStructure": "RESOURCE",
        "gcsSource": {"uri": "gs://peer-exports/fhirpeer/2026-01-05/*.*.ndjson"},
    }
    assert (job.job_id, job.poll_url) == ("1234567890", GCP_POLL)


@responses.activate
def test_gcp_operation_polled_until_done(rec: Recorder) -> None:
    responses.post(GCP_IMPORT, json={"name": OPERATION, "metadata": METADATA})
    responses.get(GCP_POLL, json=operation(False, {"pending": "3"}))
    responses.get(GCP_POLL, json=operation(False, {"success": "1", "pending": "2"}))
    responses.get(
        GCP_POLL,
        json=operation(
            True,
            {"success": "3"},
            response={"@type": "type.googleapis.com/google.cloud.healthcare.v1.fhir.ImportResourcesResponse"},
        ),
    )
    importer = gcp(rec)
    seen: list[ImportStatus] = []
    status = run(
        importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "gs://peer-exports/x"), rec, on_progress=seen.append
    )
    assert [s.state for s in seen] == [ImportState.RUNNING, ImportState.RUNNING, ImportState.DONE]
    assert seen[1].progress == pytest.approx(1 / 3)
    assert (status.imported, status.failed, status.complete) == (3, 0, True)


@responses.activate
def test_gcp_operation_error_keeps_the_code_name_not_the_message(rec: Recorder) -> None:
    responses.post(GCP_IMPORT, json={"name": OPERATION, "metadata": METADATA})
    responses.get(
        GCP_POLL,
        json=operation(
            True, {"success": "2", "failure": "1"}, error={"code": 3, "message": "invalid resource: family Doe"}
        ),
    )
    importer = gcp(rec)
    with pytest.raises(ImportFailed, match="INVALID_ARGUMENT") as caught:
        run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "gs://peer-exports/x"), rec)
    assert "Doe" not in str(caught.value)
    assert "Cloud Logging (https://console.cloud.google.com/logs/query/x)" in str(caught.value)


@responses.activate
def test_gcp_refusal_and_throttled_poll(rec: Recorder) -> None:
    responses.post(
        GCP_IMPORT,
        status=400,
        json={"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "FHIR store is not R4"}},
    )
    with pytest.raises(ImportRefused, match=r"HTTP 400 \(FAILED_PRECONDITION: FHIR store is not R4\)"):
        gcp(rec).start(PATIENTS_THEN_ENCOUNTERS, "gs://peer-exports/x")
    responses.reset()
    responses.post(GCP_IMPORT, json={"name": OPERATION})
    responses.get(GCP_POLL, status=429, headers={"Retry-After": "12"})
    responses.get(GCP_POLL, json=operation(True, {"success": "3"}, response={}))
    importer = gcp(rec)
    rec.sleeps.clear()
    assert run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "gs://peer-exports/x"), rec).complete
    assert rec.sleeps == [10, 12.0]


@pytest.mark.parametrize("location", ["s3://bucket/x", "gs://bucket/x/*.ndjson"])
def test_gcp_needs_a_plain_gcs_prefix(rec: Recorder, location: str) -> None:
    with pytest.raises(ImportRefused):
        gcp(rec).start(PATIENTS_THEN_ENCOUNTERS, location)


def test_gcp_store_name_is_checked() -> None:
    with pytest.raises(errors.ConfigError):
        GcpImporter("projects/p1/datasets/peer")


# --- AWS HealthLake -----------------------------------------------------------------------------------------

REGION = "us-east-1"
HEALTHLAKE = f"https://healthlake.{REGION}.amazonaws.com/"
DATASTORE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
ROLE = "arn:aws:iam::123456789012:role/HealthLakeImport"
KMS = "arn:aws:kms:us-east-1:123456789012:key/d330e7fc-b56c-4216-a250-f4c43ef46e83"
CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def healthlake(rec: Recorder) -> HealthLakeImporter:
    return HealthLakeImporter(
        DATASTORE,
        region=REGION,
        credentials=CREDENTIALS,
        data_access_role_arn=ROLE,
        output_s3_uri="s3://peer-exports/healthlake-output/",
        kms_key_id=KMS,
        job_name="fhirpeer-2026-01-05",
        http=http(rec),
    )


def target(name: str) -> Callable[..., Any]:
    return matchers.header_matcher({"X-Amz-Target": f"HealthLake.{name}"})


def describe(status: str, report: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "JobId": "c145fbb27b192af392f8ce6e7838e34f",
        "JobStatus": status,
        "SubmitTime": 1767625200.0,
        "DatastoreId": DATASTORE,
        "InputDataConfig": {"S3Uri": "s3://peer-exports/fhirpeer/2026-01-05/"},
        **extra,
    }
    if report is not None:
        properties["JobProgressReport"] = report
    return {"ImportJobProperties": properties}


def start_ok() -> None:
    responses.post(
        HEALTHLAKE,
        json={"DatastoreId": DATASTORE, "JobStatus": "SUBMITTED", "JobId": "c145fbb27b192af392f8ce6e7838e34f"},
        match=[target("StartFHIRImportJob")],
    )


def assert_signed(request: requests.PreparedRequest) -> None:
    """The Authorization header is the SigV4 signature of exactly what was sent (recomputed with botocore)."""
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert f"/{REGION}/healthlake/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert {"host", "x-amz-date", "x-amz-target", "content-type", "x-amz-security-token"} <= set(signed)
    assert request.headers["X-Amz-Security-Token"] == "session-token"
    replay = AWSRequest(
        method=request.method,
        url=request.url,
        data=request.body,
        headers={k: v for k, v in request.headers.items() if k.lower() in set(signed)},
    )
    replay.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = SigV4Auth(CREDENTIALS, "healthlake", REGION)
    expected = signer.signature(signer.string_to_sign(replay, signer.canonical_request(replay)), replay)
    assert authorization.endswith(f"Signature={expected}")


@responses.activate
def test_healthlake_start_is_a_signed_json_1_0_call(rec: Recorder) -> None:
    start_ok()
    job = healthlake(rec).start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/fhirpeer/2026-01-05/")
    request = responses.calls[0].request
    assert request.url == HEALTHLAKE
    assert request.headers["X-Amz-Target"] == "HealthLake.StartFHIRImportJob"
    assert request.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert json.loads(request.body) == {
        "InputDataConfig": {"S3Uri": "s3://peer-exports/fhirpeer/2026-01-05/"},
        "JobOutputDataConfig": {"S3Configuration": {"S3Uri": "s3://peer-exports/healthlake-output/", "KmsKeyId": KMS}},
        "DatastoreId": DATASTORE,
        "DataAccessRoleArn": ROLE,
        "ClientToken": client_token_for(PATIENTS_THEN_ENCOUNTERS, DATASTORE),
        "JobName": "fhirpeer-2026-01-05",
    }
    assert_signed(request)
    assert job.job_id == "c145fbb27b192af392f8ce6e7838e34f"


def test_healthlake_client_token_is_stable_per_export_and_data_store() -> None:
    token = client_token_for(PATIENTS_THEN_ENCOUNTERS, DATASTORE)
    assert token == client_token_for(PATIENTS_THEN_ENCOUNTERS, DATASTORE)
    assert token != client_token_for(PATIENTS_THEN_ENCOUNTERS, "another")
    other = manifest(("Patient", "Patient.0001.ndjson", 3))
    assert token != client_token_for(other, DATASTORE)
    assert len(token) <= 64 and token.isalnum()


@responses.activate
def test_healthlake_submitted_in_progress_completed(rec: Recorder) -> None:
    start_ok()
    responses.post(HEALTHLAKE, json=describe("SUBMITTED"), match=[target("DescribeFHIRImportJob")])
    responses.post(
        HEALTHLAKE,
        json=describe("IN_PROGRESS", {"TotalNumberOfResourcesScanned": 3, "TotalNumberOfResourcesImported": 1}),
        match=[target("DescribeFHIRImportJob")],
    )
    responses.post(
        HEALTHLAKE,
        json=describe("COMPLETED", {"TotalNumberOfResourcesImported": 3, "TotalNumberOfResourcesWithCustomerError": 0}),
        match=[target("DescribeFHIRImportJob")],
    )
    importer = healthlake(rec)
    seen: list[ImportStatus] = []
    status = run(
        importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/x/"), rec, on_progress=seen.append
    )
    assert [s.state for s in seen] == [ImportState.QUEUED, ImportState.RUNNING, ImportState.DONE]
    assert (status.imported, status.failed, status.complete) == (3, 0, True)
    polls = responses.calls[1:]
    assert all(json.loads(c.request.body) == {"DatastoreId": DATASTORE, "JobId": status.job_id} for c in polls)
    for call in polls:
        assert_signed(call.request)


@responses.activate
def test_healthlake_completed_with_errors_is_done_but_not_complete(rec: Recorder) -> None:
    start_ok()
    responses.post(
        HEALTHLAKE,
        json=describe(
            "COMPLETED_WITH_ERRORS",
            {"TotalNumberOfResourcesImported": 2, "TotalNumberOfResourcesWithCustomerError": 1},
            Message="Resource Patient Doe failed validation",
        ),
        match=[target("DescribeFHIRImportJob")],
    )
    importer = healthlake(rec)
    status = run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/x/"), rec)
    assert status.state is ImportState.DONE and not status.complete
    assert (status.imported, status.failed) == (2, 1)
    assert status.errors == ("1 resources refused; details under s3://peer-exports/healthlake-output/",)
    assert "Doe" not in status.describe()


@responses.activate
def test_healthlake_failed_job_raises(rec: Recorder) -> None:
    start_ok()
    responses.post(HEALTHLAKE, json=describe("FAILED", Message="Doe"), match=[target("DescribeFHIRImportJob")])
    importer = healthlake(rec)
    with pytest.raises(ImportFailed, match="job FAILED") as caught:
        run(importer, importer.start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/x/"), rec)
    assert "Doe" not in str(caught.value)


@responses.activate
def test_healthlake_throttling_is_retried_and_signed_again(rec: Recorder) -> None:
    throttled = {"__type": "com.amazonaws.healthlake#ThrottlingException", "message": "Rate exceeded"}
    responses.post(HEALTHLAKE, status=400, json=throttled, match=[target("StartFHIRImportJob")])
    start_ok()
    healthlake(rec).start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/x/")
    assert len(responses.calls) == 2 and rec.sleeps == [0.5]
    for call in responses.calls:
        assert_signed(call.request)


@responses.activate
def test_healthlake_validation_error_refuses_the_start(rec: Recorder) -> None:
    responses.post(
        HEALTHLAKE,
        status=400,
        json={"__type": "ValidationException", "message": "Datastore is not in ACTIVE state"},
        match=[target("StartFHIRImportJob")],
    )
    with pytest.raises(ImportRefused, match=r"HTTP 400 \(ValidationException: Datastore is not in ACTIVE state\)"):
        healthlake(rec).start(PATIENTS_THEN_ENCOUNTERS, "s3://peer-exports/x/")
    assert len(responses.calls) == 1


def test_healthlake_reads_from_s3_only(rec: Recorder) -> None:
    with pytest.raises(ImportRefused, match="S3"):
        healthlake(rec).start(PATIENTS_THEN_ENCOUNTERS, "https://bucket.s3.amazonaws.com/x/")


# --- the shared loop ------------------------------------------------------------------------------------------


def test_status_summary_is_short_and_counts_only() -> None:
    status = ImportStatus(ImportState.DONE, "j1", imported=5, failed=1, errors=("a", "b", "c", "d"))
    assert status.describe() == "done: 5 imported, 1 failed (a; b; c; +1 more)"
    assert not status.complete
    assert ImportStatus(ImportState.RUNNING, "j1", progress=0.4).describe() == "running 40%"


# --- Google credentials (gcp extra) ------------------------------------------------------------------------


def test_google_credentials_apply_the_token_and_refuse_quietly_when_refresh_fails() -> None:
    from google.oauth2.credentials import Credentials as OAuthCredentials

    from fhirpeer.bulk.importers.google_credentials import GoogleCredentials

    auth = GoogleCredentials(OAuthCredentials(token="ya29.live"))
    headers: dict[str, str] = {}
    auth.apply(headers)
    assert headers == {"Authorization": "Bearer ya29.live"}
    assert "ya29" not in repr(auth)
    auth.invalidate()  # a 401: the next apply must refresh, and these credentials cannot
    with pytest.raises(errors.AuthError, match="Google refused"):
        auth.apply({})
