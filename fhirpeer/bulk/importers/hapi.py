"""HAPI FHIR JPA ``$import`` (HAPI 8.x): the server fetches the NDJSON parts by URL and stores them by id.

Kick-off, as implemented by ``ca.uhn.fhir.batch2.jobs.imprt.BulkDataImportProvider`` (hapi-fhir-storage-batch2-jobs
8.8.0; parameter names checked against that jar's constants):

    POST [base]/$import            Prefer: respond-async, Content-Type: application/fhir+json
    Parameters: inputFormat = application/fhir+ndjson (required, anything else is HAPI-2048),
                inputSource (uri), storageDetail (part type = https, optional credentialHttpBasic "user:password",
                maxBatchResourceCount), input* (parts type = resource type, url)
    -> 202, Content-Location: [base]/$import-poll-status?_jobId=<id>     (no Prefer header: 400 HAPI-0513)

Poll ``GET`` that location: 202 while QUEUED or IN_PROGRESS (``X-Progress`` text with "Current completion: n%",
``Retry-After: 120``); 200 when COMPLETED, the OperationOutcome's diagnostics holding ``{"reportMsg": "..."}`` with
per-source outcome counts (``* SUCCESSFUL_UPDATE_AS_CREATE: 2``); 500 when FAILED (an error issue with HAPI message
codes, then the report); 404 when CANCELLED. Shapes recorded from HAPI 8.8.0 in tests/fixtures/http/hapi_import/.

HAPI orders the inputs itself (``ResourceOrderUtil``) and stores resources that carry an id as update-by-id, so a
re-import of the same files changes nothing (``SUCCESSFUL_UPDATE_NO_CHANGE``). Its batch2 maintenance pass starts a
queued job (every minute on a default server, every 2 s on tools/hapi-server), and a small job ends seconds later.
The ``Retry-After: 120`` of every 202 is a constant (``BulkDataImportProvider.importPollStatus``, whatever the job's
state or ETA), not an estimate: honoured, it kept each job that was not done at the first poll waiting two minutes,
so it is not used; the polls back off instead, from 1 s doubling up to the poll interval.
Only outcome codes, counts and HAPI message codes leave this module; HAPI's error texts quote resource content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import TemporaryError
from ...transport.auth import Auth
from ...transport.operation_outcome import parse_operation_outcome
from ..errors import ImportRefused
from ..manifest import Manifest
from .base import BulkImporter, ImportJob, ImportState, ImportStatus
from .http import ImportHttp, json_body, refusal_detail

__all__ = ["NDJSON_FORMAT", "HapiImporter", "parse_import_report"]

NDJSON_FORMAT = "application/fhir+ndjson"
_FHIR_JSON = "application/fhir+json"
_COMPLETION = re.compile(r"Current completion:\s*(\d+(?:\.\d+)?)%")
_SOURCE = re.compile(r"^Source:\s*(\S+)\s*$")
_OUTCOME = re.compile(r"^\s*\*\s*([A-Z][A-Z_]*):\s*(\d+)\s*$")
_MESSAGE_CODE = re.compile(r"\bHAPI-\d{4}\b")
_FAILURE_CODES = frozenset({"FAILURE"})


class HapiImporter(BulkImporter):
    """``$import`` on a HAPI FHIR JPA server at ``base_url`` (e.g. ``http://127.0.0.1:8080/fhir``).

    ``file_credential`` (``"user:password"``) is handed to HAPI for fetching the files
    (:attr:`fhirpeer.bulk.file_server.ExportFileServer.basic_credential`). ``auth`` authenticates fhirpeer to HAPI.
    """

    target = "hapi"
    default_poll_interval = 15.0
    first_poll_wait = 1.0

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        http: ImportHttp | None = None,
        file_credential: str | None = None,
        max_batch_resource_count: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or ImportHttp(auth=auth)
        self.file_credential = file_credential
        self.max_batch_resource_count = max_batch_resource_count

    def request_body(self, inputs_location: str, manifest: Manifest) -> dict[str, Any]:
        """The kick-off Parameters resource."""
        storage: list[dict[str, Any]] = [{"name": "type", "valueCode": "https"}]
        if self.file_credential:
            storage.append({"name": "credentialHttpBasic", "valueString": self.file_credential})
        if self.max_batch_resource_count:
            storage.append({"name": "maxBatchResourceCount", "valueString": str(self.max_batch_resource_count)})
        parameters: list[dict[str, Any]] = [
            {"name": "inputFormat", "valueCode": NDJSON_FORMAT},
            {"name": "inputSource", "valueUri": inputs_location},
            {"name": "storageDetail", "part": storage},
        ]
        for item in self.inputs_for(manifest, inputs_location):
            parameters.append(
                {
                    "name": "input",
                    "part": [{"name": "type", "valueCode": item.type}, {"name": "url", "valueUri": item.url}],
                }
            )
        return {"resourceType": "Parameters", "parameter": parameters}

    def start(self, manifest: Manifest, location: str) -> ImportJob:
        label = "POST $import"
        response = self.http.request(
            "POST",
            f"{self.base_url}/$import",
            label=label,
            body=self.request_body(location, manifest),
            headers={"Prefer": "respond-async", "Content-Type": _FHIR_JSON, "Accept": _FHIR_JSON},
            idempotent=False,  # a repeated kick-off would start a second job
        )
        status = response.status_code
        poll_url = response.headers.get("Content-Location", "")
        detail = refusal_detail(response) if status != 202 else ""
        response.close()
        if status != 202:
            raise ImportRefused(f"{label}: HTTP {status}{detail}", status=status)
        job_id = _job_id(poll_url)
        if not job_id:
            raise ImportRefused(f"{label}: HTTP 202 without a $import-poll-status Content-Location", status=status)
        return ImportJob(self.target, job_id, poll_url, self.inputs_for(manifest, location), manifest.total)

    def poll(self, job: ImportJob) -> ImportStatus:
        label = "GET $import-poll-status"
        response = self.http.request("GET", job.poll_url, label=label, headers={"Accept": _FHIR_JSON})
        status = response.status_code
        body = json_body(response)
        headers = response.headers
        response.close()
        if status == 202:  # its constant Retry-After is left out (see the module docstring)
            progress_text = headers.get("X-Progress", "")
            state = ImportState.QUEUED if "QUEUED" in progress_text else ImportState.RUNNING
            return ImportStatus(state, job.job_id, progress=_completion(progress_text))
        diagnostics = _diagnostics(body)
        if status == 200:
            return _status_from_report(ImportState.DONE, job, _report(diagnostics), ())
        if status == 500 and any("FAILED state" in d for d in diagnostics):
            codes = tuple(dict.fromkeys(c for d in diagnostics for c in _MESSAGE_CODE.findall(d)))
            return _status_from_report(ImportState.FAILED, job, _report(diagnostics), codes)
        if status == 404:
            return ImportStatus(ImportState.FAILED, job.job_id, errors=("job cancelled or unknown to the server",))
        if status >= 500:
            raise TemporaryError(f"{label}: HTTP {status}", status=status)
        issues = parse_operation_outcome(body if isinstance(body, Mapping) else None)
        codes = tuple(dict.fromkeys(c for i in issues for c in _MESSAGE_CODE.findall(i.diagnostics) or [i.code]))
        return ImportStatus(ImportState.FAILED, job.job_id, errors=(f"poll refused: HTTP {status}", *codes))


def parse_import_report(text: str) -> dict[str, dict[str, int]]:
    """Outcome counts per source URL from HAPI's "Bulk Import Report" text (error lines are ignored)."""
    per_source: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in text.splitlines():
        source = _SOURCE.match(line)
        if source:
            current = per_source.setdefault(source.group(1), {})
            continue
        outcome = _OUTCOME.match(line)
        if outcome and current is not None:
            current[outcome.group(1)] = current.get(outcome.group(1), 0) + int(outcome.group(2))
    return per_source


def _status_from_report(
    state: ImportState, job: ImportJob, report: dict[str, dict[str, int]], codes: tuple[str, ...]
) -> ImportStatus:
    imported = failed = 0
    by_type: dict[str, int] = {}
    errors = list(codes)
    types = {i.url: i.type for i in job.inputs}
    for source, outcomes in report.items():
        stored = sum(n for code, n in outcomes.items() if code.startswith("SUCCESSFUL"))
        refused = sum(n for code, n in outcomes.items() if code in _FAILURE_CODES)
        imported += stored
        failed += refused
        resource_type = types.get(source)
        if resource_type:
            by_type[resource_type] = by_type.get(resource_type, 0) + stored
        if refused:
            errors.append(f"{refused} refused from {job.file_of(source) or 'an input file'}")
    if not report:
        return ImportStatus(state, job.job_id, errors=tuple(errors))
    return ImportStatus(
        state, job.job_id, imported=imported, failed=failed, imported_by_type=by_type, errors=tuple(errors)
    )


def _diagnostics(body: Any) -> list[str]:
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return []
    issues = body.get("issue")
    if not isinstance(issues, list):
        return []
    return [str(i.get("diagnostics")) for i in issues if isinstance(i, Mapping) and i.get("diagnostics")]


def _report(diagnostics: list[str]) -> dict[str, dict[str, int]]:
    for text in diagnostics:
        try:
            document = json.loads(text)
        except ValueError:
            continue
        if isinstance(document, Mapping) and isinstance(document.get("reportMsg"), str):
            return parse_import_report(document["reportMsg"])
    return {}


def _completion(progress_text: str) -> float | None:
    match = _COMPLETION.search(progress_text)
    return float(match.group(1)) / 100 if match else None


def _job_id(poll_url: str) -> str:
    values = parse_qs(urlsplit(poll_url).query).get("_jobId")
    return values[0] if values else ""
