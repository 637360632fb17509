"""fhirpeer: peer recovery program exports to FHIR R4, kept in sync.

The public API (what the CLI itself uses; stable for schedulers such as Airflow):

    import fhirpeer
    settings = fhirpeer.load_settings(server="https://fhir.example.org/R4", state="/var/lib/fhirpeer/state.sqlite")
    report = fhirpeer.sync("/data/exports/today", settings=settings)   # -> RunReport
    report.exit_code, report.to_dict()["counts"], report.rejected

    fhirpeer.validate("/data/exports/today")            # offline: map and check, send nothing
    check = fhirpeer.check_server(settings)            # capabilities, strategy per type, check.ok
    fhirpeer.status(settings.state)                    # runs and quarantined records, as data

Errors are `fhirpeer.FhirpeerError` subclasses whose `exit_code` matches the CLI's exit status. Names are
imported lazily, so `import fhirpeer` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import ServerCheck, StateStatus, check_server, status, sync, validate
    from .domain import ConflictPolicy, FileSummary, InputWarning, Outcome, Rejection, ResourceType, WriteStrategy
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
    from .run_report import RunReport
    from .settings import Settings, load_settings
    from .sync_engine.engine import SyncProgress
    from .transport.auth import Auth, BasicAuth, BearerToken, ClientCredentials, NoAuth, SmartBackendServices

_EXPORTS: dict[str, str] = {
    "Auth": "transport.auth",
    "AuthError": "errors",
    "BasicAuth": "transport.auth",
    "BearerToken": "transport.auth",
    "ClientCredentials": "transport.auth",
    "ConfigError": "errors",
    "ConflictPolicy": "domain",
    "FatalError": "errors",
    "FhirpeerError": "errors",
    "FileSummary": "domain",
    "InputFileError": "errors",
    "InputWarning": "domain",
    "LockHeldError": "errors",
    "NoAuth": "transport.auth",
    "Outcome": "domain",
    "Rejection": "domain",
    "ResourceType": "domain",
    "RunReport": "run_report",
    "ServerCheck": "api",
    "ServerError": "errors",
    "ServerUnreachable": "errors",
    "Settings": "settings",
    "SmartBackendServices": "transport.auth",
    "StateStatus": "api",
    "SyncProgress": "sync_engine.engine",
    "TemporaryError": "errors",
    "WriteStrategy": "domain",
    "check_server": "api",
    "load_settings": "settings",
    "status": "api",
    "sync": "api",
    "validate": "api",
}

__all__ = [
    "Auth",
    "AuthError",
    "BasicAuth",
    "BearerToken",
    "ClientCredentials",
    "ConfigError",
    "ConflictPolicy",
    "FatalError",
    "FhirpeerError",
    "FileSummary",
    "InputFileError",
    "InputWarning",
    "LockHeldError",
    "NoAuth",
    "Outcome",
    "Rejection",
    "ResourceType",
    "RunReport",
    "ServerCheck",
    "ServerError",
    "ServerUnreachable",
    "Settings",
    "SmartBackendServices",
    "StateStatus",
    "SyncProgress",
    "TemporaryError",
    "WriteStrategy",
    "__version__",
    "check_server",
    "load_settings",
    "status",
    "sync",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fhirpeer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
