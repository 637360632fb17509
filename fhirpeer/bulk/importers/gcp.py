"""Google Cloud Healthcare API ``fhirStores.import`` from Cloud Storage, polled as a long-running operation.

fhirpeer does not upload. Copy the export's parts to a bucket prefix of their own, e.g.
``gcloud storage cp EXPORT_DIR/*.*.ndjson gs://BUCKET/fhirpeer/2026-01-05/``, and start the import with
``location = gs://BUCKET/fhirpeer/2026-01-05``. The import reads ``{location}/*.*.ndjson``: every part
(``Encounter.0001.ndjson``), never ``manifest.json`` or the key sidecar ``fhirpeer-keys.ndjson`` should they have
been copied too (``*`` matches within one path segment; the sidecar has a single dot).

Shapes (https://cloud.google.com/healthcare-api/docs/reference/rest/v1/projects.locations.datasets.fhirStores/import,
…/rest/v1/projects.locations.datasets.operations/get, …/rest/v1/OperationMetadata, …/how-tos/long-running-operations):

    POST https://healthcare.googleapis.com/v1/{fhirStore name}:import
         {"contentStructure": "RESOURCE", "gcsSource": {"uri": "gs://bucket/prefix/*.*.ndjson"}}
    -> 200, an Operation {"name": "projects/…/datasets/…/operations/…", …}
    GET  https://healthcare.googleapis.com/v1/{operation name}
    -> {"name", "done": bool, "metadata": {"@type", "apiMethodName", "createTime", "endTime", "logsUrl",
        "counter": {"success", "failure", "pending"} (int64, as JSON strings)}, "error": {"code", "message"} |
        "response": {"@type": "…ImportResourcesResponse"}}

``RESOURCE`` means one resource per line; every resource must have a client-supplied id, and the store keeps it
(Google advises ids that encode no identifiers: fhirpeer's are hashes). The import does not enforce referential
integrity. Errors per resource go to Cloud Logging (``metadata.logsUrl``); only counts and the ``google.rpc.Code``
name leave this module. Tokens come from ``auth``: :class:`fhirpeer.bulk.importers.google_credentials.GoogleCredentials`
(the ``gcp`` extra) or any :class:`fhirpeer.auth.Auth`, e.g. a ``BearerToken`` from ``gcloud auth print-access-token``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError, TemporaryError
from ...transport.auth import Auth
from ..errors import ImportRefused
from ..manifest import Manifest
from .base import BulkImporter, ImportJob, ImportState, ImportStatus, join_location
from .http import ImportHttp, json_body, refusal_detail

__all__ = ["API_ROOT", "PARTS_PATTERN", "GcpImporter"]

API_ROOT = "https://healthcare.googleapis.com/v1"
#: Matches ``Encounter.0001.ndjson`` but not ``fhirpeer-keys.ndjson`` or ``manifest.json``.
PARTS_PATTERN = "*.*.ndjson"
_STORE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/datasets/[^/]+/fhirStores/[^/]+")
_OPERATION_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/datasets/[^/]+/operations/[^/?#]+")
# google.rpc.Code numbers and names: https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
_RPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}


class GcpImporter(BulkImporter):
    """``fhirStores.import`` into ``fhir_store`` (``projects/P/locations/L/datasets/D/fhirStores/S``)."""

    target = "gcp"
    default_poll_interval = 10.0

    def __init__(
        self, fhir_store: str, *, auth: Auth | None = None, http: ImportHttp | None = None, api_root: str = API_ROOT
    ) -> None:
        fhir_store = fhir_store.strip("/")
        if not _STORE_NAME.fullmatch(fhir_store):
            raise ConfigError("the FHIR store must be named projects/P/locations/L/datasets/D/fhirStores/S")
        self.fhir_store = fhir_store
        self.api_root = api_root.rstrip("/")
        self.http = http or ImportHttp(auth=auth)

    def request_body(self, location: str) -> dict[str, Any]:
        return {"contentStructure": "RESOURCE", "gcsSource": {"uri": join_location(location, PARTS_PATTERN)}}

    def start(self, manifest: Manifest, location: str) -> ImportJob:
        if not location.startswith("gs://") or any(c in location for c in "*?"):
            raise ImportRefused("Cloud Healthcare imports from Cloud Storage: give the gs://bucket/prefix of the parts")
        label = "POST fhirStores.import"
        response = self.http.request(
            "POST",
            f"{self.api_root}/{self.fhir_store}:import",
            label=label,
            body=self.request_body(location),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            idempotent=False,  # a repeated call starts a second operation
        )
        status = response.status_code
        body = json_body(response)
        detail = refusal_detail(response) if status != 200 else ""
        response.close()
        if status != 200:
            raise ImportRefused(f"{label}: HTTP {status}{detail}", status=status)
        name = body.get("name") if isinstance(body, Mapping) else None
        if not isinstance(name, str) or not _OPERATION_NAME.fullmatch(name):
            raise ImportRefused(f"{label}: HTTP 200 without a long-running operation name", status=status)
        inputs = self.inputs_for(manifest, location)
        return ImportJob(self.target, name.rsplit("/", 1)[-1], f"{self.api_root}/{name}", inputs, manifest.total)

    def poll(self, job: ImportJob) -> ImportStatus:
        label = "GET operations.get"
        response = self.http.request("GET", job.poll_url, label=label, headers={"Accept": "application/json"})
        status = response.status_code
        body = json_body(response)
        detail = refusal_detail(response) if status != 200 else ""
        response.close()
        if status >= 500:
            raise TemporaryError(f"{label}: HTTP {status}", status=status)  # the operation itself may be fine
        if status != 200 or not isinstance(body, Mapping):
            return ImportStatus(
                ImportState.FAILED, job.job_id, errors=(f"operation poll refused: HTTP {status}{detail}",)
            )
        metadata = body.get("metadata") if isinstance(body.get("metadata"), Mapping) else {}
        counter = metadata.get("counter") if isinstance(metadata.get("counter"), Mapping) else {}
        success, failure, pending = (_int64(counter.get(k)) for k in ("success", "failure", "pending"))
        if not body.get("done"):
            total = success + failure + pending
            progress = (success + failure) / total if total else None
            return ImportStatus(ImportState.RUNNING, job.job_id, imported=success, failed=failure, progress=progress)
        logs = metadata.get("logsUrl")
        where = f"; per-resource errors in Cloud Logging ({logs})" if isinstance(logs, str) and failure else ""
        error = body.get("error")
        if isinstance(error, Mapping):
            code = _RPC_CODES.get(_int64(error.get("code")), "UNKNOWN")
            return ImportStatus(
                ImportState.FAILED,
                job.job_id,
                imported=success,
                failed=failure,
                errors=(f"operation error {code}{where}",),
            )
        errors = (f"{failure} resources refused{where}",) if failure else ()
        return ImportStatus(ImportState.DONE, job.job_id, imported=success, failed=failure, errors=errors)


def _int64(value: Any) -> int:
    """A proto3 JSON int64 (sent as a string) or a plain number; 0 when absent or malformed."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
