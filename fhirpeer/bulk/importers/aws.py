"""AWS HealthLake ``StartFHIRImportJob`` / ``DescribeFHIRImportJob`` from S3, SigV4-signed with botocore.

fhirpeer does not upload. Copy only the parts to an S3 prefix of their own — HealthLake imports every object under
the prefix, so ``manifest.json`` and the key sidecar must stay out::

    aws s3 cp EXPORT_DIR s3://BUCKET/fhirpeer/2026-01-05/ --recursive --exclude "*" --include "*.*.ndjson"

and start the import with ``location = s3://BUCKET/fhirpeer/2026-01-05/``.

Protocol (AWS JSON 1.0; botocore's service model ``healthlake/2017-07-01/service-2.json``: targetPrefix
``HealthLake``, signingName ``healthlake``, endpoint ``https://healthlake.{region}.amazonaws.com``; API reference
https://docs.aws.amazon.com/healthlake/latest/APIReference/API_StartFHIRImportJob.html and
…/API_DescribeFHIRImportJob.html):

    POST /   X-Amz-Target: HealthLake.StartFHIRImportJob   Content-Type: application/x-amz-json-1.0
    {"JobName", "InputDataConfig": {"S3Uri"}, "JobOutputDataConfig": {"S3Configuration": {"S3Uri", "KmsKeyId"}},
     "DatastoreId", "DataAccessRoleArn", "ClientToken"}          -> {"JobId", "JobStatus", "DatastoreId"}
    POST /   X-Amz-Target: HealthLake.DescribeFHIRImportJob  {"DatastoreId", "JobId"}
    -> {"ImportJobProperties": {"JobId", "JobStatus", "SubmitTime", "EndTime", "Message", "JobProgressReport":
        {"TotalNumberOfResourcesImported", "TotalNumberOfResourcesWithCustomerError", "TotalNumberOfScannedFiles", …}}}

JobStatus is one of SUBMITTED, QUEUED, IN_PROGRESS, COMPLETED_WITH_ERRORS, COMPLETED, FAILED, CANCEL_SUBMITTED,
CANCEL_IN_PROGRESS, CANCEL_COMPLETED, CANCEL_FAILED. Errors come back as ``{"__type": "…#ThrottlingException",
"message": …}`` (HTTP 400 for throttling and validation, 5xx for InternalServerException); throttling is retried.
``ClientToken`` is derived from the manifest, so starting the same export twice returns the same job. Per-resource
errors are written by HealthLake under the output S3 prefix; the job's ``Message`` is not passed on.

Credentials are a botocore credentials object (``botocore.session.get_session().get_credentials()`` in the
caller, which reads the usual AWS environment and files); this module reads no environment. Needs the ``aws``
extra (botocore).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import requests

from ...errors import ConfigError, TemporaryError
from ..errors import ImportRefused
from ..manifest import Manifest
from .base import BulkImporter, ImportJob, ImportState, ImportStatus
from .http import ImportHttp, json_body, refusal_detail

__all__ = ["SERVICE", "TARGET_PREFIX", "HealthLakeImporter", "client_token_for"]

SERVICE = "healthlake"
TARGET_PREFIX = "HealthLake"
_CONTENT_TYPE = "application/x-amz-json-1.0"
_THROTTLING = frozenset({"ThrottlingException"})  # the only throttling error in the service model
_STATES = {
    "SUBMITTED": ImportState.QUEUED,
    "QUEUED": ImportState.QUEUED,
    "IN_PROGRESS": ImportState.RUNNING,
    "COMPLETED": ImportState.DONE,
    "COMPLETED_WITH_ERRORS": ImportState.DONE,
    "FAILED": ImportState.FAILED,
    "CANCEL_SUBMITTED": ImportState.FAILED,
    "CANCEL_IN_PROGRESS": ImportState.FAILED,
    "CANCEL_COMPLETED": ImportState.FAILED,
    "CANCEL_FAILED": ImportState.FAILED,
}


def client_token_for(manifest: Manifest, datastore_id: str) -> str:
    """A ClientToken (``[a-zA-Z0-9-]{1,64}``) that is the same for the same export into the same data store."""
    seed = "|".join([datastore_id, manifest.transaction_time, *(f"{o.url}:{o.sha256}" for o in manifest.outputs)])
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:64]


class HealthLakeImporter(BulkImporter):
    """Import into the HealthLake data store ``datastore_id`` in ``region``.

    ``output_s3_uri`` and ``kms_key_id`` are where (and with which key) HealthLake writes the job's results;
    ``data_access_role_arn`` is the role HealthLake assumes to read the input and write the output.
    """

    target = "aws"
    default_poll_interval = 30.0

    def __init__(
        self,
        datastore_id: str,
        *,
        region: str,
        credentials: Any,
        data_access_role_arn: str,
        output_s3_uri: str,
        kms_key_id: str,
        job_name: str | None = None,
        endpoint_url: str | None = None,
        http: ImportHttp | None = None,
    ) -> None:
        try:
            from botocore.auth import SigV4Auth
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError("AWS HealthLake import needs botocore: pip install 'fhirpeer[aws]'") from None
        if credentials is None:
            raise ConfigError("AWS HealthLake import needs AWS credentials")
        if not output_s3_uri.startswith("s3://"):
            raise ConfigError("the HealthLake output location must be an s3:// URI")
        self.datastore_id = datastore_id
        self.region = region
        self.data_access_role_arn = data_access_role_arn
        self.output_s3_uri = output_s3_uri
        self.kms_key_id = kms_key_id
        self.job_name = job_name
        self.endpoint_url = (endpoint_url or f"https://healthlake.{region}.amazonaws.com").rstrip("/") + "/"
        self.http = http or ImportHttp()
        self._signer = SigV4Auth(credentials, SERVICE, region)

    def request_body(self, manifest: Manifest, location: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "InputDataConfig": {"S3Uri": location},
            "JobOutputDataConfig": {"S3Configuration": {"S3Uri": self.output_s3_uri, "KmsKeyId": self.kms_key_id}},
            "DatastoreId": self.datastore_id,
            "DataAccessRoleArn": self.data_access_role_arn,
            "ClientToken": client_token_for(manifest, self.datastore_id),
        }
        if self.job_name:
            body["JobName"] = self.job_name
        return body

    def start(self, manifest: Manifest, location: str) -> ImportJob:
        if not location.startswith("s3://"):
            raise ImportRefused("HealthLake imports from S3: give the s3://bucket/prefix/ of the parts")
        response = self._call("StartFHIRImportJob", self.request_body(manifest, location))
        body = json_body(response)
        status = response.status_code
        detail = refusal_detail(response) if status != 200 else ""
        response.close()
        if status != 200:
            raise ImportRefused(f"StartFHIRImportJob: HTTP {status}{detail}", status=status)
        job_id = body.get("JobId") if isinstance(body, Mapping) else None
        if not isinstance(job_id, str) or not job_id:
            raise ImportRefused("StartFHIRImportJob: HTTP 200 without a JobId", status=status)
        return ImportJob(self.target, job_id, self.endpoint_url, self.inputs_for(manifest, location), manifest.total)

    def poll(self, job: ImportJob) -> ImportStatus:
        response = self._call("DescribeFHIRImportJob", {"DatastoreId": self.datastore_id, "JobId": job.job_id})
        body = json_body(response)
        status = response.status_code
        detail = refusal_detail(response) if status != 200 else ""
        response.close()
        if status >= 500:
            raise TemporaryError(f"DescribeFHIRImportJob: HTTP {status}{detail}", status=status)
        properties = body.get("ImportJobProperties") if isinstance(body, Mapping) else None
        if status != 200 or not isinstance(properties, Mapping):
            return ImportStatus(
                ImportState.FAILED, job.job_id, errors=(f"DescribeFHIRImportJob: HTTP {status}{detail}",)
            )
        job_status = str(properties.get("JobStatus", ""))
        state = _STATES.get(job_status)
        if state is None:
            return ImportStatus(ImportState.FAILED, job.job_id, errors=("unknown job status",))
        report = properties.get("JobProgressReport") if isinstance(properties.get("JobProgressReport"), Mapping) else {}
        imported = _count(report.get("TotalNumberOfResourcesImported"))
        failed = _count(report.get("TotalNumberOfResourcesWithCustomerError"))
        errors: tuple[str, ...] = ()
        if job_status == "COMPLETED_WITH_ERRORS" or (failed and state is ImportState.DONE):
            errors = (f"{failed or 'some'} resources refused; details under {self.output_s3_uri}",)
        elif state is ImportState.FAILED:
            errors = (f"job {job_status}; details under {self.output_s3_uri}",)
        return ImportStatus(state, job.job_id, imported=imported, failed=failed, errors=errors)

    def _call(self, operation: str, payload: Mapping[str, Any]) -> requests.Response:
        return self.http.request(
            "POST",
            self.endpoint_url,
            label=operation,
            body=payload,
            headers={"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": _CONTENT_TYPE},
            idempotent=True,  # StartFHIRImportJob carries a ClientToken; DescribeFHIRImportJob only reads
            signer=self._sign,
            is_temporary=_throttled,
        )

    def _sign(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> None:
        """SigV4 over this attempt's method, URL, headers and body (a retry is signed anew)."""
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=data or b"", headers=dict(headers))
        self._signer.add_auth(request)
        headers.clear()
        headers.update(request.headers.items())


def _throttled(response: requests.Response) -> bool:
    if response.status_code != 400:
        return False
    body = json_body(response)
    kind = body.get("__type") if isinstance(body, Mapping) else None
    return isinstance(kind, str) and kind.rsplit("#", 1)[-1] in _THROTTLING


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
