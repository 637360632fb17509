"""The fhirpeer exception family: every failure fhirpeer raises on purpose, each with the CLI's exit code.

    FhirpeerError                      .exit_code, .category, .report (the partial RunReport, once a run started)
    ├── ConfigError            2       bad settings, config file or mapping files; the placeholder namespace
    │   ├── StatePathError     2       --state is a directory, or a file that is no SQLite database
    │   └── NotFhirBase        2       the URL answers, but is no FHIR base (GET metadata: 404, no CapabilityStatement)
    ├── InputFileError         2       an input file cannot be read as a whole
    ├── LockHeldError          4       another sync holds the state store
    │   └── OutcomesLockHeld   4       another `fhirpeer outcomes` run holds it
    ├── ServerError            3       anything the FHIR server said or did not say, before anything was written
    │   ├── ServerUnreachable  3       connection refused, DNS, timeouts after retries
    │   ├── AuthError          3       401/403 after one re-authentication, token endpoint refused
    │   ├── TemporaryError     3       408/429/5xx after the retry budget is spent
    │   └── FatalError         3       400/404/409/412/422 ...: the server refused the request
    ├── RunAborted             5       the server failed part-way (a ServerError after writes): .cause
    ├── RejectionLimitExceeded 6       the run finished, but more records were rejected than max_rejected allows
    └── InternalError          70      a bug: an unexpected exception (the original is the __cause__)

The API returns the run report for exit codes 0 and 1 and raises one of these for everything else, with the run
report (partial, or complete for 6) as `.report` when the run had started.

Messages never carry resource bodies, cell values or other PHI: they name files, lines, columns, business keys,
resource types, hosts, HTTP statuses and OperationOutcome codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A `fhirpeer.run_report.RunReport` (typed loosely: errors sit below run_report in the layers).
RunReport = Any


class FhirpeerError(Exception):
    """Base class of every error fhirpeer raises on purpose."""

    exit_code: int = 2
    #: A short, stable name for the kind of failure (the run report's `error.category`).
    category: str = "error"

    def __init__(self, message: str = "", *, report: RunReport | None = None) -> None:
        super().__init__(message)
        self.report = report

    @property
    def message(self) -> str:
        return str(self)

    @property
    def advice(self) -> str | None:
        """What to do about it, when there is something to say (one line, no PHI)."""
        return None


class ConfigError(FhirpeerError):
    """Settings, config file or mapping files are invalid."""

    exit_code = 2
    category = "config"


class StatePathError(ConfigError):
    """The state store path is unusable (a directory, or a file that is no SQLite database)."""

    category = "state_path"


class NotFhirBase(ConfigError):
    """The server URL answers HTTP, but is not a FHIR base URL."""

    category = "not_fhir_base"

    def __init__(self, message: str, *, suggestion: str | None = None, report: RunReport | None = None) -> None:
        super().__init__(message, report=report)
        self.suggestion = suggestion


class InputFileError(FhirpeerError):
    """An input file is unusable as a whole (missing required column, unreadable encoding)."""

    exit_code = 2
    category = "input"


class LockHeldError(FhirpeerError):
    """Another sync is running on the same state store."""

    exit_code = 4
    category = "locked"

    @property
    def advice(self) -> str:
        return "nothing was done; the next scheduled run will sync this export"


class OutcomesLockHeld(LockHeldError):
    """Another `fhirpeer outcomes` run is reading outcomes into the same state store."""

    @property
    def advice(self) -> str:
        return "nothing was done; the next scheduled run writes the outcomes"


@dataclass
class OutcomeIssue:
    """One OperationOutcome.issue, reduced to what is safe to log."""

    severity: str
    code: str
    diagnostics: str = ""
    expression: list[str] = field(default_factory=list)


class ServerError(FhirpeerError):
    """The FHIR server refused a request or could not be reached."""

    exit_code = 3
    category = "server"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        issues: list[OutcomeIssue] | None = None,
        report: RunReport | None = None,
    ):
        super().__init__(message, report=report)
        self.status = status
        self.issues = issues or []

    @property
    def advice(self) -> str:
        return "nothing was written; a rerun is safe"


class ServerUnreachable(ServerError):
    """No usable answer from the server (connection errors, timeouts) once retries are spent."""

    category = "unreachable"

    @property
    def advice(self) -> str:
        return "the server could not be reached; nothing was written, a rerun is safe"


class AuthError(ServerError):
    """The server or its token endpoint refused our credentials."""

    category = "auth"

    @property
    def advice(self) -> str:
        return "the credentials were refused: a rerun will not help until FHIRPEER_AUTH and its credentials are fixed"


class TemporaryError(ServerError):
    """A temporary failure (408, 429, 5xx) that outlived the retry budget."""

    category = "temporary"

    @property
    def advice(self) -> str:
        return "the server kept failing; nothing was written, a rerun is safe"


class FatalError(ServerError):
    """The server understood and refused the request; retrying the same request cannot help."""

    category = "refused"

    @property
    def advice(self) -> str:
        return "the server refused the request; nothing was written"


class RunAborted(FhirpeerError):
    """The server failed part-way through a run; every write it confirmed is recorded in the state store."""

    exit_code = 5
    category = "aborted"

    def __init__(
        self, message: str, *, cause: ServerError, report: RunReport | None = None, advice: str | None = None
    ) -> None:
        super().__init__(message, report=report)
        self.cause = cause
        self._advice = advice

    @property
    def advice(self) -> str:
        return self._advice or "what the server confirmed is recorded; a rerun finishes the job"


class RejectionLimitExceeded(FhirpeerError):
    """The run finished, but more records were rejected than `max_rejected` allows."""

    exit_code = 6
    category = "max_rejected"

    @property
    def advice(self) -> str:
        return "fix the rejected rows listed in the run report (a sync has synced every valid record)"


class InternalError(FhirpeerError):
    """An unexpected exception: a fhirpeer bug. Its message names only the exception type (the original
    exception, whose text may carry data, is the `__cause__`)."""

    exit_code = 70
    category = "internal"
