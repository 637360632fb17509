"""Azure Health Data Services FHIR service ``$import`` in incremental mode, from an Azure Storage container.

fhirpeer does not upload. Put the export's part files in a container of the storage account configured for the
FHIR service's import (the service needs Storage Blob Data Contributor on it), under a prefix of its own, e.g.::

    az storage blob upload-batch --account-name ACCOUNT --destination CONTAINER \\
        --destination-path fhirpeer/2026-01-05 --source EXPORT_DIR --pattern "*.*.ndjson" --auth-mode login

(``--pattern "*.*.ndjson"`` uploads the parts, not ``manifest.json`` or the key sidecar). Then start the import with
``location = https://ACCOUNT.blob.core.windows.net/CONTAINER/fhirpeer/2026-01-05``. Use a new prefix for every export:
Azure treats a repeated registration of the same payload as the same import.

Request and response shapes: https://learn.microsoft.com/azure/healthcare-apis/fhir/import-data ("Call $import",
"Check $import status"; same text in MicrosoftDocs/azure-docs articles/healthcare-apis/fhir/import-data.md and in
microsoft/fhir-server docs/BulkImport.md):

    POST [base]/$import            Prefer: respond-async, Content-Type: application/fhir+json
    Parameters: inputFormat (valueString application/fhir+ndjson), mode (valueString IncrementalLoad),
                input* (parts type valueString, url valueUri)
    -> 202 Accepted, callback link in Content-Location
    GET callback: 202 running; 200 done with {transactionTime, request, output[{type, count, inputUrl}],
                  error[{type, count, inputUrl, url}]}; any other status: the import failed (OperationOutcome)

Incremental mode keeps the resources' ids and does not block API writes; conditional references are not resolved
(fhirpeer's parts have literal references only). Tokens come from ``auth``, e.g.
:class:`fhirpeer.auth.ClientCredentials` against Microsoft Entra ID with scope ``{fhir-service-url}/.default``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...transport.auth import Auth
from ...transport.retry import parse_retry_after
from ..errors import ImportRefused
from ..manifest import Manifest
from .base import BulkImporter, ImportJob, ImportState, ImportStatus
from .http import ImportHttp, json_body, refusal_detail

__all__ = ["INCREMENTAL_LOAD", "AzureImporter"]

INCREMENTAL_LOAD = "IncrementalLoad"
_NDJSON = "application/fhir+ndjson"
_FHIR_JSON = "application/fhir+json"


class AzureImporter(BulkImporter):
    """``$import`` on an Azure Health Data Services FHIR service at ``base_url``."""

    target = "azure"
    default_poll_interval = 15.0

    def __init__(self, base_url: str, *, auth: Auth | None = None, http: ImportHttp | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or ImportHttp(auth=auth)

    def request_body(self, manifest: Manifest, location: str) -> dict[str, Any]:
        """The kick-off Parameters resource (incremental mode, one ``input`` per part in import order)."""
        parameters: list[dict[str, Any]] = [
            {"name": "inputFormat", "valueString": _NDJSON},
            {"name": "mode", "valueString": INCREMENTAL_LOAD},
        ]
        for item in self.inputs_for(manifest, location):
            parameters.append(
                {
                    "name": "input",
                    "part": [{"name": "type", "valueString": item.type}, {"name": "url", "valueUri": item.url}],
                }
            )
        return {"resourceType": "Parameters", "parameter": parameters}

    def start(self, manifest: Manifest, location: str) -> ImportJob:
        if not location.startswith("https://"):
            raise ImportRefused("Azure $import reads from an Azure Storage container: give its https:// URL")
        label = "POST $import"
        response = self.http.request(
            "POST",
            f"{self.base_url}/$import",
            label=label,
            body=self.request_body(manifest, location),
            headers={"Prefer": "respond-async", "Content-Type": _FHIR_JSON, "Accept": _FHIR_JSON},
            idempotent=True,  # Azure registers the same payload once ("implemented as an idempotent call")
        )
        status = response.status_code
        poll_url = response.headers.get("Content-Location", "")
        detail = refusal_detail(response) if status != 202 else ""
        response.close()
        if status != 202:
            raise ImportRefused(f"{label}: HTTP {status}{detail}", status=status)
        if not poll_url.startswith("https://"):
            raise ImportRefused(f"{label}: HTTP 202 without a Content-Location to poll", status=status)
        job_id = urlsplit(poll_url).path.rstrip("/").rsplit("/", 1)[-1]
        return ImportJob(self.target, job_id, poll_url, self.inputs_for(manifest, location), manifest.total)

    def poll(self, job: ImportJob) -> ImportStatus:
        label = "GET $import status"
        response = self.http.request("GET", job.poll_url, label=label, headers={"Accept": "application/json"})
        status = response.status_code
        body = json_body(response)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        detail = refusal_detail(response) if status not in (200, 202) else ""
        response.close()
        if status == 202:
            return ImportStatus(ImportState.RUNNING, job.job_id, retry_after=retry_after)
        if status == 200 and isinstance(body, Mapping):
            return _finished(job, body)
        return ImportStatus(ImportState.FAILED, job.job_id, errors=(f"HTTP {status}{detail}",))


def _finished(job: ImportJob, body: Mapping[str, Any]) -> ImportStatus:
    imported = failed = 0
    by_type: dict[str, int] = {}
    for item in _items(body.get("output")):
        count = _count(item.get("count"))
        imported += count
        resource_type = next((i.type for i in job.inputs if i.url == item.get("inputUrl")), None)
        resource_type = resource_type or (item.get("type") if isinstance(item.get("type"), str) else None)
        if resource_type and resource_type != "null":
            by_type[resource_type] = by_type.get(resource_type, 0) + count
    errors = []
    for item in _items(body.get("error")):
        count = _count(item.get("count"))
        if not count:
            continue
        failed += count
        source = job.file_of(str(item.get("inputUrl"))) or "an input file"
        # error.url names a blob of OperationOutcomes written by the service; it is a location, not content
        where = f"; details in {item['url']}" if isinstance(item.get("url"), str) else ""
        errors.append(f"{count} refused from {source}{where}")
    return ImportStatus(
        ImportState.DONE, job.job_id, imported=imported, failed=failed, imported_by_type=by_type, errors=tuple(errors)
    )


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
