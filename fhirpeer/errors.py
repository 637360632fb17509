"""The fhirpeer exception tree.

    FhirpeerError
    ├── ConfigError            bad settings or mapping files            (exit 2)
    ├── InputFileError         an input file cannot be read as a whole  (exit 2)
    ├── LockHeldError          another sync holds the state store       (exit 4)
    └── ServerError            anything the FHIR server said or did not say
        ├── ServerUnreachable  connection refused, DNS, timeouts after retries  (exit 3)
        ├── AuthError          401/403 after one re-authentication, token endpoint refused (exit 3)
        ├── TemporaryError     408/429/5xx after the retry budget is spent
        └── FatalError         400/404/409/412/422 ...: the server refused the request
            └── (status, issue codes, diagnostics) without any resource content

Messages never carry resource bodies, cell values or other PHI: they name files, lines, columns,
business keys, resource types, HTTP statuses and OperationOutcome codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class FhirpeerError(Exception):
    """Base class of every error fhirpeer raises on purpose."""

    exit_code: int = 2


class ConfigError(FhirpeerError):
    """Settings, config file or mapping files are invalid."""

    exit_code = 2


class InputFileError(FhirpeerError):
    """An input file is unusable as a whole (missing required column, unreadable encoding)."""

    exit_code = 2


class LockHeldError(FhirpeerError):
    """Another sync is running on the same state store."""

    exit_code = 4


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

    def __init__(self, message: str, *, status: int | None = None, issues: list[OutcomeIssue] | None = None):
        super().__init__(message)
        self.status = status
        self.issues = issues or []


class ServerUnreachable(ServerError):
    """No usable answer from the server (connection errors, timeouts) once retries are spent."""


class AuthError(ServerError):
    """The server or its token endpoint refused our credentials."""


class TemporaryError(ServerError):
    """A temporary failure (408, 429, 5xx) that outlived the retry budget."""


class FatalError(ServerError):
    """The server understood and refused the request; retrying the same request cannot help."""

    exit_code = 1
