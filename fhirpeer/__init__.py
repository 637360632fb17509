"""fhirpeer: peer recovery program exports to FHIR R4, kept in sync.

The public API (what the CLI itself uses; stable for schedulers such as Airflow):

    import fhirpeer
    settings = fhirpeer.Settings.from_env("/etc/fhirpeer/config.yaml")   # file < FHIRPEER_* env < overrides
    auth = fhirpeer.auth_from_env(os.environ, settings.server)          # or fhirpeer.BearerToken(…), …
    try:
        report = fhirpeer.sync("/data/exports/today", settings=settings, auth=auth)   # exit code 0 or 1
    except fhirpeer.FhirpeerError as exc:        # .exit_code 2, 3, 4, 5, 6 or 70; .report (partial) or None
        ...

    fhirpeer.validate("/data/exports/today")            # offline: map and check, send nothing
    check = fhirpeer.check_server(settings)            # capabilities, strategy per type, check.blocking
    fhirpeer.status(settings)                          # runs, quarantined records and conflicts, as data
    fhirpeer.outcomes(settings, "outcomes.csv")        # handoff outcomes read back (incremental, polite polling)
    fhirpeer.write_program_report(settings, "report/")  # engagement report computed from the server

Nothing in the package configures logging, prints or reads the environment unless asked to (`Settings.from_env`,
`auth_from_env`). Names are imported lazily, so `import fhirpeer` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import (
        ServerCheck,
        StateStatus,
        WrittenReport,
        check_server,
        export_bulk,
        import_bulk,
        status,
        sync,
        validate,
        write_program_report,
    )
    from .backfill.export import BulkExportResult
    from .backfill.targets import AwsImportSettings, ImportKind
    from .bulk.errors import BulkExportError
    from .bulk.importers.base import ImportStatus
    from .bulk.importers.google_credentials import GoogleCredentials
    from .domain import ConflictPolicy, FileSummary, InputWarning, Outcome, Rejection, ResourceType, WriteStrategy
    from .errors import (
        AuthError,
        ConfigError,
        FatalError,
        FhirpeerError,
        InputFileError,
        InternalError,
        LockHeldError,
        NotFhirBase,
        RejectionLimitExceeded,
        RunAborted,
        ServerError,
        ServerUnreachable,
        StatePathError,
        TemporaryError,
    )
    from .outcomes_api import OutcomesResult, outcomes
    from .program_report import ReportOptions
    from .program_report.outcomes_report import OutcomesReport
    from .run_metrics import write_metrics_textfile
    from .run_report import RunReport, report_schema
    from .settings import Settings, load_settings
    from .sync_engine.engine import SyncProgress
    from .transport.auth import (
        Auth,
        BasicAuth,
        BearerToken,
        ClientCredentials,
        NoAuth,
        SmartBackendServices,
        auth_from_env,
    )

_EXPORTS: dict[str, str] = {
    "Auth": "transport.auth",
    "AuthError": "errors",
    "AwsImportSettings": "backfill.targets",
    "BasicAuth": "transport.auth",
    "BearerToken": "transport.auth",
    "BulkExportError": "bulk.errors",
    "BulkExportResult": "backfill.export",
    "ClientCredentials": "transport.auth",
    "ConfigError": "errors",
    "ConflictPolicy": "domain",
    "FatalError": "errors",
    "FhirpeerError": "errors",
    "FileSummary": "domain",
    "GoogleCredentials": "bulk.importers.google_credentials",
    "ImportKind": "backfill.targets",
    "ImportStatus": "bulk.importers.base",
    "InputFileError": "errors",
    "InputWarning": "domain",
    "InternalError": "errors",
    "LockHeldError": "errors",
    "NoAuth": "transport.auth",
    "NotFhirBase": "errors",
    "Outcome": "domain",
    "OutcomesReport": "program_report.outcomes_report",
    "OutcomesResult": "outcomes_api",
    "Rejection": "domain",
    "RejectionLimitExceeded": "errors",
    "ReportOptions": "program_report",
    "ResourceType": "domain",
    "RunAborted": "errors",
    "RunReport": "run_report",
    "ServerCheck": "api",
    "ServerError": "errors",
    "ServerUnreachable": "errors",
    "Settings": "settings",
    "SmartBackendServices": "transport.auth",
    "StatePathError": "errors",
    "StateStatus": "api",
    "SyncProgress": "sync_engine.engine",
    "TemporaryError": "errors",
    "WriteStrategy": "domain",
    "WrittenReport": "api",
    "auth_from_env": "transport.auth",
    "check_server": "api",
    "export_bulk": "api",
    "import_bulk": "api",
    "load_settings": "settings",
    "outcomes": "outcomes_api",
    "report_schema": "run_report",
    "status": "api",
    "sync": "api",
    "validate": "api",
    "write_metrics_textfile": "run_metrics",
    "write_program_report": "api",
}

__all__ = [
    "Auth",
    "AuthError",
    "AwsImportSettings",
    "BasicAuth",
    "BearerToken",
    "BulkExportError",
    "BulkExportResult",
    "ClientCredentials",
    "ConfigError",
    "ConflictPolicy",
    "FatalError",
    "FhirpeerError",
    "FileSummary",
    "GoogleCredentials",
    "ImportKind",
    "ImportStatus",
    "InputFileError",
    "InputWarning",
    "InternalError",
    "LockHeldError",
    "NoAuth",
    "NotFhirBase",
    "Outcome",
    "OutcomesReport",
    "OutcomesResult",
    "Rejection",
    "RejectionLimitExceeded",
    "ReportOptions",
    "ResourceType",
    "RunAborted",
    "RunReport",
    "ServerCheck",
    "ServerError",
    "ServerUnreachable",
    "Settings",
    "SmartBackendServices",
    "StatePathError",
    "StateStatus",
    "SyncProgress",
    "TemporaryError",
    "WriteStrategy",
    "WrittenReport",
    "__version__",
    "auth_from_env",
    "check_server",
    "export_bulk",
    "import_bulk",
    "load_settings",
    "outcomes",
    "report_schema",
    "status",
    "sync",
    "validate",
    "write_metrics_textfile",
    "write_program_report",
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
