"""fhirpeer: peer recovery program exports to FHIR R4, kept in sync.

The public API (what the CLI itself uses; stable for schedulers such as Airflow):

    import fhirpeer
    settings = fhirpeer.load_settings(server="https://fhir.example.org/R4", state="/var/lib/fhirpeer/state.sqlite")
    report = fhirpeer.sync("/data/exports/today", settings=settings)   # -> RunReport
    report.exit_code, report.to_dict()["counts"], report.rejected

    fhirpeer.validate("/data/exports/today")            # offline: map and check, send nothing
    text, ok = fhirpeer.check_server(settings)          # capabilities table and chosen write strategy

Errors are `fhirpeer.FhirpeerError` subclasses whose `exit_code` matches the CLI's exit status.
"""

from ._version import __version__
from .api import check_server, status_text, sync, validate
from .config import Settings, load_settings
from .errors import (
    AuthError,
    ConfigError,
    FatalError,
    FhirpeerError,
    InputFileError,
    LockHeldError,
    ServerError,
    ServerUnreachable,
    TemporaryError,
)
from .report import RunReport

__all__ = [
    "AuthError",
    "ConfigError",
    "FatalError",
    "FhirpeerError",
    "InputFileError",
    "LockHeldError",
    "RunReport",
    "ServerError",
    "ServerUnreachable",
    "Settings",
    "TemporaryError",
    "__version__",
    "check_server",
    "load_settings",
    "status_text",
    "sync",
    "validate",
]
