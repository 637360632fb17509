"""The one interface every bulk import target implements, and the shared loop that polls a job to its end.

    importer = HapiImporter("http://127.0.0.1:8080/fhir", file_credential=files.basic_credential)
    job = importer.start(manifest, files.url)            # ImportJob (serialisable: resume with poll later)
    status = run_to_end(importer, job, timeout=3600)      # ImportStatus, or ImportFailed / ImportTimeout

``start`` raises :class:`~fhirpeer.bulk.errors.ImportRefused` when the server refuses; ``poll`` reports
``queued``, ``running``, ``done`` or ``failed`` with counts and PHI-free error lines. Temporary failures of a poll
(429, 502–504, connection errors) are retried inside ``poll`` with backoff and ``Retry-After``.

Record what an import put on the server (the key sidecar) only when :attr:`ImportStatus.complete` is true: a job
that finished with refused resources does not say which ones, and a key recorded for a resource that is not on the
server would make the next sync skip it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import ImportFailed, ImportTimeout
from ..manifest import Manifest

__all__ = ["BulkImporter", "ImportInput", "ImportJob", "ImportState", "ImportStatus", "join_location", "run_to_end"]

Sleep = Callable[[float], None]
Clock = Callable[[], float]
#: The longest a server's Retry-After may stretch one wait between polls, by default.
DEFAULT_MAX_POLL_WAIT = 300.0


class ImportState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (ImportState.DONE, ImportState.FAILED)


@dataclass(frozen=True)
class ImportInput:
    """One file handed to the server: resource type, the manifest's file name and the URL the server reads."""

    type: str
    file: str
    url: str


@dataclass(frozen=True)
class ImportJob:
    """A started import: which target, the server's job id, where to poll, and the files it was given."""

    target: str
    job_id: str
    poll_url: str
    inputs: tuple[ImportInput, ...] = ()
    expected: int = 0

    def file_of(self, url: str) -> str | None:
        """The manifest file name behind a URL the server reports."""
        for item in self.inputs:
            if item.url == url:
                return item.file
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "job_id": self.job_id,
            "poll_url": self.poll_url,
            "inputs": [{"type": i.type, "file": i.file, "url": i.url} for i in self.inputs],
            "expected": self.expected,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportJob:
        inputs = tuple(ImportInput(str(i["type"]), str(i["file"]), str(i["url"])) for i in data.get("inputs", ()))
        return cls(
            str(data["target"]), str(data["job_id"]), str(data["poll_url"]), inputs, int(data.get("expected", 0))
        )


@dataclass(frozen=True)
class ImportStatus:
    """One poll's answer. Counts are None when the target does not report them (yet)."""

    state: ImportState
    job_id: str
    imported: int | None = None
    failed: int | None = None
    imported_by_type: Mapping[str, int] = field(default_factory=dict)
    progress: float | None = None
    errors: tuple[str, ...] = ()
    retry_after: float | None = None

    @property
    def complete(self) -> bool:
        """Done, and the server reported no refused resource."""
        return self.state is ImportState.DONE and not self.failed and not self.errors

    def describe(self) -> str:
        """A one-line PHI-free summary, e.g. ``running 40%`` or ``done: 120 imported, 0 failed``."""
        text = self.state.value
        if self.progress is not None and not self.state.finished:
            text += f" {self.progress:.0%}"
        counts = []
        if self.imported is not None:
            counts.append(f"{self.imported} imported")
        if self.failed is not None:
            counts.append(f"{self.failed} failed")
        if counts:
            text += ": " + ", ".join(counts)
        if self.errors:
            more = f"; +{len(self.errors) - 3} more" if len(self.errors) > 3 else ""
            text += f" ({'; '.join(self.errors[:3])}{more})"
        return text


class BulkImporter(ABC):
    """A bulk import target. Subclasses set ``target`` and ``default_poll_interval`` (seconds), and
    ``first_poll_wait`` (seconds) when jobs may end sooner than one interval: the waits then start there and double
    up to the interval (the exponential backoff a polling client SHOULD follow, Bulk Data Access IG, "Bulk Data
    Status Request", https://hl7.org/fhir/uv/bulkdata/export.html); None waits the interval every time."""

    target: str = ""
    default_poll_interval: float = 15.0
    first_poll_wait: float | None = None

    @abstractmethod
    def start(self, manifest: Manifest, location: str) -> ImportJob:
        """Ask the server to import the manifest's parts, found under ``location`` (URL, ``gs://`` or ``s3://``).

        Raises:
            ImportRefused: the server refused the request.
        """

    @abstractmethod
    def poll(self, job: ImportJob) -> ImportStatus:
        """The job's current state (one request, retried on temporary failures)."""

    def inputs_for(self, manifest: Manifest, location: str) -> tuple[ImportInput, ...]:
        """The manifest's parts in import order, each with its URL under ``location``."""
        return tuple(ImportInput(o.type, o.url, join_location(location, o.url)) for o in manifest.outputs)


def join_location(location: str, file_name: str) -> str:
    """``location`` + ``/`` + ``file_name`` (one slash between, whatever ``location`` ends with)."""
    return f"{location.rstrip('/')}/{file_name}"


def run_to_end(
    importer: BulkImporter,
    job: ImportJob,
    *,
    poll_interval: float | None = None,
    timeout: float,
    max_poll_wait: float = DEFAULT_MAX_POLL_WAIT,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    on_progress: Callable[[ImportStatus], None] | None = None,
) -> ImportStatus:
    """Poll ``job`` until it is done; return the final status.

    Waits ``poll_interval`` (default: the importer's) before each poll — from the importer's ``first_poll_wait``
    doubling up to it, if it has one — longer when the server's Retry-After asks for it (capped at
    ``max_poll_wait``), and never past ``timeout`` seconds from the call. ``on_progress`` gets every status polled.

    Raises:
        ImportFailed: the job failed (its PHI-free errors are in the message).
        ImportTimeout: still unfinished when ``timeout`` ran out; polling the same job later resumes.
    """
    interval = importer.default_poll_interval if poll_interval is None else poll_interval
    deadline = clock() + timeout
    step = interval if importer.first_poll_wait is None else min(importer.first_poll_wait, interval)
    wait = step
    while True:
        remaining = deadline - clock()
        sleep(max(0.0, min(wait, remaining)))
        status = importer.poll(job)
        if on_progress is not None:
            on_progress(status)
        if status.state is ImportState.DONE:
            return status
        if status.state is ImportState.FAILED:
            raise ImportFailed(f"{importer.target} import {job.job_id} failed: {status.describe()}", job_id=job.job_id)
        if clock() >= deadline:
            raise ImportTimeout(
                f"{importer.target} import {job.job_id} still {status.describe()} after {timeout:.0f}s; "
                "poll it again later",
                job_id=job.job_id,
            )
        step = min(step * 2, interval)
        wait = step
        if status.retry_after is not None:
            wait = max(step, min(status.retry_after, max_poll_wait))
