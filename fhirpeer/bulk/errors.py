"""Errors of the bulk path (export files and server imports), in the fhirpeer exception tree.

    FhirpeerError
    ├── BulkExportError          a resource the writer cannot put in a bulk file, or an unusable export folder
    └── ServerError
        ├── FatalError
        │   ├── ImportRefused    the server refused to start the import (4xx)
        │   └── ImportFailed     the import job ended in failure
        └── TemporaryError
            └── ImportTimeout    the job was still running when the caller's timeout ran out

Messages name resource types, ids, file names, job ids, HTTP statuses and provider error codes only.
"""

from __future__ import annotations

from ..errors import FatalError, FhirpeerError, TemporaryError

__all__ = ["BulkExportError", "ImportFailed", "ImportRefused", "ImportTimeout"]


class BulkExportError(FhirpeerError):
    """A resource cannot be written to a bulk file, or an export folder or manifest is unusable."""

    exit_code = 2


class ImportRefused(FatalError):
    """The server refused to start (or to report on) an import."""


class ImportFailed(FatalError):
    """The import job ended in failure; ``job_id`` says which one."""

    def __init__(self, message: str, *, job_id: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.job_id = job_id


class ImportTimeout(TemporaryError):
    """The job outlived the caller's timeout; it may still finish, and polling ``job_id`` again resumes."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id
