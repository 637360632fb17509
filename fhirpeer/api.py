"""The Python API behind the CLI, for schedulers such as Airflow or Dagster.

    import fhirpeer
    settings = fhirpeer.Settings.from_env("/etc/fhirpeer/config.yaml")      # or fhirpeer.Settings(server=…)
    try:
        report = fhirpeer.sync("exports/2026-11-23", settings=settings)    # exit code 0 or 1
    except fhirpeer.FhirpeerError as exc:                                 # exit code 2, 3, 4, 5, 6 or 70
        exc.exit_code, exc.category, exc.report                           # report: partial, or None

Nothing here configures logging, prints or reads the environment: fhirpeer logs to the ``fhirpeer`` logger and
leaves handlers to the host application; settings and credentials are passed in (`Settings.from_env` and
`auth_from_env` read the environment when the caller asks them to). Every failure raises a
`fhirpeer.errors.FhirpeerError` whose `exit_code` is the CLI's.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .backfill.export import BulkExportResult, PartLimits, export_bulk_files
from .backfill.importing import ImportProgress, ImportRequest, checked_manifest, resolve_kind, run_import
from .backfill.targets import AwsImportSettings, ImportKind
from .bulk.manifest import Manifest
from .domain import OPTIONAL_TYPES, InputKind, InputWarning, ResourceType, WriteStrategy
from .errors import ConfigError, FhirpeerError, InternalError, RejectionLimitExceeded, StatePathError
from .input.folder import InputFolder
from .mapping_files import Mappings, load_mappings
from .namespace_guard import refuse_placeholder_namespace
from .offline_validation import validate_export
from .pipeline import MappingOptions, resource_types_of
from .program_report import ProgramReport, ReportOptions, Systems, report_from_server, write_report
from .program_report import headline as report_headline
from .run_report import ReportError, RunReport, hash_key
from .settings import Settings
from .sync_engine.engine import ProgressCallback, SyncContext, run_sync
from .sync_engine.state import RunLock, StateStore, check_state_path, target_id
from .transport.auth import Auth, NoAuth
from .transport.base_probe import read_capability_statement
from .transport.capabilities import ServerCapabilities, StrategyPlan, choose_strategy, parse_capability_statement
from .transport.capability_advice import cannot_write_lines, verdict_lines
from .transport.client import FhirClient
from .transport.referral_support import ReferralTaskSupport, referral_task_support
from .transport.retry import RetryBudget, RetryPolicy

log = logging.getLogger("fhirpeer.sync")


def _mappings(settings: Settings) -> Mappings:
    return load_mappings(settings.mappings, namespace=settings.namespace, mrn_system=settings.mrn_system)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_clients(settings: Settings, count: int = 1, *, auth: Auth | None = None) -> list[FhirClient]:
    """Clients for the configured server sharing one retry budget and one credential (one per thread);
    no credential (`NoAuth`) unless `auth` is given."""
    if not settings.server:
        raise ConfigError("no server given: use --server URL, `server:` in the config file or FHIRPEER_SERVER")
    policy = RetryPolicy(
        max_attempts=settings.max_attempts, retry_after_cap=settings.retry_after_cap,
        total_budget=settings.retry_budget_seconds,
    )  # fmt: skip
    budget = RetryBudget(total=policy.total_budget)
    credential = auth or NoAuth()
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    timeout = (settings.timeout_connect, settings.timeout_read)
    return [
        FhirClient(settings.server, auth=credential, timeout=timeout, retry=policy, budget=budget, verify=verify)
        for _ in range(count)
    ]


def validate(
    input_dir: str | Path,
    *,
    settings: Settings | None = None,
    ndjson_dir: Path | None = None,
    bundles_dir: Path | None = None,
) -> RunReport:
    """Map and check an export offline. Nothing is sent anywhere. Returns the report (exit code 0 or 1);
    raises `RejectionLimitExceeded` (exit 6, with the report) past `settings.max_rejected`."""
    settings = settings or Settings()
    mappings = _mappings(settings)
    report = validate_export(Path(input_dir), settings, mappings, ndjson_dir=ndjson_dir, bundles_dir=bundles_dir)
    if settings.hash_keys_in_reports:
        report.key_salt = mappings.identifiers.namespace
    if report.check_rejection_limit(settings.rejection_limit):
        raise RejectionLimitExceeded(report.error.message if report.error else "", report=report)
    return report


@dataclass(frozen=True)
class ServerCheck:
    """What a server can do for fhirpeer: its capabilities, the strategy per type, and whether it can hold the
    export (`ok`; the blocking problems are `blocking`)."""

    capabilities: ServerCapabilities
    plan: StrategyPlan
    resource_types: tuple[ResourceType, ...]
    forced: Mapping[str, WriteStrategy]
    input_files: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return self.plan.ok

    @property
    def blocking(self) -> list[str]:
        """What stops fhirpeer from writing something it was asked to write (empty when `ok`)."""
        return [p.message for p in self.plan.blocking]

    def strategies(self) -> dict[str, str | None]:
        """The write strategy per resource type (None: fhirpeer cannot write it to this server)."""
        return {str(t): _name(self.plan.strategy_for(str(t))) for t in self.resource_types}

    @property
    def referral_tasks(self) -> ReferralTaskSupport | None:
        """Task create/update and search by focus, owner and `_lastUpdated` (None: no handoffs to check for)."""
        if ResourceType.TASK not in self.resource_types:
            return None
        return referral_task_support(self.capabilities)

    def verdict(self) -> list[str]:
        """The FHIR version check, strategies forced by configuration, whether the server can hold the export
        and, if not, what would make it work — as lines of text."""
        types = [str(t) for t in self.resource_types]
        return verdict_lines(self.capabilities, self.plan, types, self.forced, self.input_files)

    def to_dict(self) -> dict[str, Any]:
        caps = self.capabilities
        return {
            "ok": self.ok,
            "software": {"name": caps.software_name, "version": caps.software_version},
            "fhir_version": caps.fhir_version,
            "transaction": caps.transaction,
            "batch": caps.batch,
            "strategies": self.strategies(),
            "forced": {t: str(s) for t, s in self.forced.items()},
            "problems": [
                {"message": p.message, "resourceType": p.resource_type, "blocking": p.blocking}
                for p in self.plan.problems
            ],
            "blocking": self.blocking,
            "referral_tasks": self.referral_tasks.to_dict() if self.referral_tasks else None,
        }


def _name(strategy: WriteStrategy | None) -> str | None:
    return None if strategy is None else str(strategy)


def _overrides(resource_types: list[ResourceType], settings: Settings) -> dict[str, WriteStrategy]:
    """The strategies forced by configuration (``strategy``, then ``strategy_per_type``) for these types."""
    overrides: dict[str, WriteStrategy] = {}
    if settings.strategy != "auto":  # not for fhirpeer's own audit trail: the Provenance writer PUTs it by id
        audit = (ResourceType.DEVICE, ResourceType.PROVENANCE)
        overrides = {str(t): WriteStrategy(settings.strategy) for t in resource_types if t not in audit}
    overrides.update({t: s for t, s in settings.strategy_per_type.items() if t in resource_types})
    return overrides


def _read_capabilities(client: FhirClient) -> ServerCapabilities:
    return parse_capability_statement(read_capability_statement(client), client.smart_configuration())


def _input_files(mappings: Mappings) -> dict[str, str]:
    """The input file each resource type comes from, as named in the site's `columns.yaml`."""
    return {str(kind.resource_type): name for kind, name in mappings.input_files().items()}


def _server_check(client: FhirClient, types: list[ResourceType], settings: Settings, mappings: Mappings) -> ServerCheck:
    if settings.provenance:  # a Provenance per written Bundle, naming fhirpeer's Device
        types = [*types, ResourceType.DEVICE, ResourceType.PROVENANCE]
    caps = _read_capabilities(client)
    forced = _overrides(types, settings)
    client_ids = [str(t) for t, accepted in client_ids_of(caps, settings).items() if accepted]
    plan = choose_strategy(caps, [str(t) for t in types], overrides=forced or None, client_id_types=client_ids)
    plan = _optional_types_degrade(_audit_trail_needs_no_search(plan))
    return ServerCheck(caps, plan, tuple(types), forced, _input_files(mappings))


def _audit_trail_needs_no_search(plan: StrategyPlan) -> StrategyPlan:
    """fhirpeer never searches for its own Provenance (R4 defines no identifier search for it): writing it by
    client id is the plan, not a fallback to warn about."""
    problems = tuple(p for p in plan.problems if p.blocking or p.resource_type != ResourceType.PROVENANCE)
    return replace(plan, problems=problems)


def _optional_types_degrade(plan: StrategyPlan) -> StrategyPlan:
    """A server that cannot take an optional type (referral Tasks, EpisodeOfCare, Appointments, PractitionerRoles,
    Provenance) is
    warned about, not refused: the sync goes on without resources of that type."""
    problems = tuple(
        replace(p, blocking=False, message=f"{p.message}; the sync goes on without {p.resource_type} resources")
        if p.blocking and p.resource_type in OPTIONAL_TYPES else p
        for p in plan.problems
    )  # fmt: skip
    return replace(plan, problems=problems)


def check_server(settings: Settings, input_dir: str | Path | None = None, *, auth: Auth | None = None) -> ServerCheck:
    """What the server supports and the write strategy per type, applying configured strategies as a sync does.

    Without ``input_dir`` every type fhirpeer writes is checked; with it, only the types its files need."""
    mappings = _mappings(settings)
    kinds: list[InputKind] = list(InputKind)
    if input_dir is not None:
        kinds = InputFolder.for_settings(Path(input_dir), mappings, settings).check()
    types = resource_types_of(kinds, MappingOptions.of(settings))
    clients = make_clients(settings, auth=auth)
    with clients[0] as client:
        return _server_check(client, types, settings, mappings)


def sync(
    input_dir: str | Path,
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    auth: Auth | None = None,
) -> RunReport:
    """Sync an export folder to `settings.server` with the credential `auth` (none when not given).

    Returns the run report when the run finished with exit code 0 (every valid record is on the server) or 1
    (some records rejected or in conflict). Raises a `FhirpeerError` for everything else, its `exit_code` the
    CLI's and its `report` the run report — partial when the run stopped part-way, complete for exit 6, and a
    report with just the error when the run stopped before it started. Every run but a dry run is recorded in
    the state store (`fhirpeer status`) when the store is usable.
    """
    settings = settings or Settings()
    run_id = uuid.uuid4().hex[:12]
    command = "sync --dry-run" if dry_run else "sync"
    target = ""
    try:
        mappings = _mappings(settings)
        if settings.server:
            target = target_id(settings.server.strip().rstrip("/"), mappings.identifiers.namespace)
            refuse_placeholder_namespace(settings.server, mappings.identifiers.namespace)
        folder = InputFolder.for_settings(Path(input_dir), mappings, settings)
        types = resource_types_of(folder.check(), MappingOptions.of(settings))
        check_state_path(Path(settings.state))
        with RunLock(settings.state):
            report = _locked_sync(folder, types, settings, mappings, run_id, dry_run, on_progress, auth)
    except FhirpeerError as exc:
        if exc.report is None:  # stopped before the engine started: nothing was written
            exc.report = _stopped_report(command, run_id, settings, exc)
            if not dry_run:
                _record_refusal(settings, target, exc.report)
        raise
    except Exception as exc:
        error = InternalError(f"internal error: {type(exc).__name__}")
        error.report = _stopped_report(command, run_id, settings, error)
        raise error from exc
    if report.exit_code == 6:
        raise RejectionLimitExceeded(report.error.message if report.error else "", report=report)
    return report


def _locked_sync(
    folder: InputFolder,
    types: list[ResourceType],
    settings: Settings,
    mappings: Mappings,
    run_id: str,
    dry_run: bool,
    on_progress: ProgressCallback | None,
    auth: Auth | None,
) -> RunReport:
    clients = make_clients(settings, settings.workers + 1, auth=auth)
    try:
        state = StateStore(settings.state, target_id(clients[0].base_url, mappings.identifiers.namespace))
        try:
            check = _server_check(clients[0], types, settings, mappings)
            strategies, server_warnings = _strategies(check)
            server_warnings += _referral_loop_warnings(check)
            ctx = SyncContext(
                folder, settings, mappings, state, clients[0], clients[1:], strategies,
                client_ids=client_ids_of(check.capabilities, settings), dry_run=dry_run,
                on_progress=on_progress, run_id=run_id,
            )  # fmt: skip
            try:
                report = run_sync(ctx)
            except FhirpeerError as exc:
                if exc.report is not None:
                    exc.report.warnings[:0] = _as_warnings(server_warnings)
                raise
        finally:
            state.close()
    finally:
        for c in clients:
            c.close()
    report.server = settings.server
    report.warnings[:0] = _as_warnings(server_warnings)
    return report


def _stopped_report(command: str, run_id: str, settings: Settings, exc: FhirpeerError) -> RunReport:
    """The report of a run that stopped before it started: its exit code and error, no counts."""
    now = _now()
    return RunReport(
        command=command, run_id=run_id, server=settings.server, started_at=now, finished_at=now,
        exit_code=exc.exit_code, error=ReportError(exc.category, str(exc)), record_keys=settings.report_keys,
    )  # fmt: skip


def _record_refusal(settings: Settings, target: str, report: RunReport) -> None:
    """List a run that stopped before writing in the state store, when there is a usable one."""
    if report.error is None or report.error.category == StatePathError.category:
        return
    try:
        store = StateStore(settings.state, target)
    except FhirpeerError:
        return
    try:
        store.record_refused_run(
            report.run_id, report.command, report.server, exit_code=report.exit_code,
            error=(report.error.category, report.error.message),
        )  # fmt: skip
    except Exception as exc:  # recording is a courtesy; the refusal itself is what the caller needs
        log.warning("could not record run %s in the state store: %s", report.run_id, type(exc).__name__)
    finally:
        store.close()


def client_ids_of(caps: ServerCapabilities, settings: Settings) -> dict[ResourceType, bool]:
    """Per type, whether fhirpeer gives what it creates its own deterministic id (`PUT Type/id`).

    `auto`: when the CapabilityStatement declares updateCreate — or the server is HAPI FHIR, which accepts
    alphanumeric client ids by default but never declares updateCreate."""
    if settings.client_ids != "auto":
        return dict.fromkeys(ResourceType, settings.client_ids == "always")
    hapi = "hapi" in (caps.software_name or "").lower()
    return {t: hapi or caps.resource(str(t)).update_create for t in ResourceType}


def _strategies(check: ServerCheck) -> tuple[dict[ResourceType, WriteStrategy], list[str]]:
    """The strategy per type, and the server's non-blocking problems as warnings; raises when it cannot hold
    the export."""
    types = check.resource_types
    if not check.ok:
        raise ConfigError(
            "the server cannot hold this export; nothing was written.\n"
            + "\n".join(cannot_write_lines(check.capabilities, check.plan, check.input_files))
            + "\nRun `fhirpeer check-server --server URL` for the full table."
        )
    chosen: dict[ResourceType, WriteStrategy] = {}
    for t in types:
        strategy = check.plan.strategy_for(str(t))
        if strategy is not None:
            chosen[t] = strategy
    return chosen, [f"server: {p.message}" for p in check.plan.problems if not p.blocking]


def _referral_loop_warnings(check: ServerCheck) -> list[str]:
    """What the server lacks for receivers to find and answer the referral Tasks a sync writes."""
    support = check.referral_tasks
    return [f"server: {w}" for w in support.sync_warnings()] if support else []


@dataclass(frozen=True)
class StateStatus:
    """What a state store says: the runs (newest first, every outcome, each with what it wrote), the records
    currently rejected (quarantine) and the records currently in conflict. Keys are hashed when the settings
    ask for it (`keys_hashed`)."""

    path: Path
    exists: bool
    runs: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    keys_hashed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.path),
            "exists": self.exists,
            "keys_hashed": self.keys_hashed,
            "runs": self.runs,
            "rejections": self.rejections,
            "conflicts": self.conflicts,
        }


def status(source: Settings | str | Path, *, runs: int = 10) -> StateStatus:
    """The last `runs` runs (0: all), the quarantined records and the conflicts, from the state store (no
    server needed). `source` is the settings (their `state` path, and `hash_keys_in_reports`) or a path."""
    settings = source if isinstance(source, Settings) else Settings(state=Path(source))
    path = Path(settings.state)
    salt = _mappings(settings).identifiers.namespace if settings.hash_keys_in_reports else None
    if not path.exists():
        return StateStatus(path, False, [], [], [], salt is not None)
    check_state_path(path)
    store = StateStore(path)
    try:
        run_rows = store.last_runs(runs)
        written = store.written_by_run(r["run_id"] for r in run_rows)
        rejections, conflicts = store.rejections(), store.conflicts()
    finally:
        store.close()

    def shown(key: str | None) -> str | None:
        return key if key is None or salt is None else hash_key(key, salt)

    return StateStatus(
        path, True,
        [_run_entry(r, written.get(r["run_id"], 0)) for r in run_rows],
        [{**r, "record_id": shown(r["record_id"])} for r in rejections],
        [{**c, "key": shown(c["key"])} for c in conflicts],
        salt is not None,
    )  # fmt: skip


def _run_entry(row: Mapping[str, Any], still_current: int) -> dict[str, Any]:
    """One run as `status` shows it. `written` comes from the run's own counts when it recorded them; a run
    killed part-way recorded none, so its writes are counted in the state store instead (those no later run
    rewrote: a lower bound)."""
    counts = json.loads(row["counts"]) if row["counts"] else None
    reported = sum(c.get("created", 0) + c.get("updated", 0) for c in counts.values()) if counts else None
    error = {"category": row["error_category"], "message": row["error_message"]} if row["error_category"] else None
    return {
        "run_id": row["run_id"],
        "command": row["command"],
        "server": row["server"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "status": row["status"],
        "exit_code": row["exit_code"],
        "written": reported if reported is not None else still_current,
        "written_from": "report" if counts is not None else "state",
        "rejected": row["rejected"] or 0,
        "conflicts": row["conflicts"] or 0,
        "counts": counts or {},
        "error": error,
    }


def _as_warnings(server_warnings: list[str]) -> list[InputWarning]:
    """The server's non-blocking problems as report warnings (about no file)."""
    return [InputWarning(None, None, None, w) for w in server_warnings]


# --- program report (issue 16) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenReport:
    """A program report computed from the server, and the files it was written to (report.html first)."""

    report: ProgramReport
    files: tuple[Path, ...]

    @property
    def html(self) -> Path:
        return self.files[0]

    def headline(self) -> list[str]:
        """A few aggregate, PHI-free lines for a terminal (suppression applied)."""
        return list(report_headline(self.report))


def write_program_report(
    settings: Settings,
    out_dir: str | Path,
    *,
    as_of: date | None = None,
    options: ReportOptions | None = None,
    auth: Auth | None = None,
) -> WrittenReport:
    """Read the program's resources back from `settings.server` (never from the CSV exports: the report shows
    what the server holds) and write `report.html`, `summary.json` and one CSV per table into `out_dir`.

    `as_of` is a date in the site time zone (default: today there); `options` sets the small-cell suppression
    threshold (default 11; 0 turns it off) and the caseload cap. Aggregates only: no names, MRNs or notes."""
    mappings = _mappings(settings)
    systems = Systems.for_namespace(mappings.identifiers.namespace, patient_system=mappings.system_for("Patient"))
    day = as_of or datetime.now(settings.tz).date()
    with make_clients(settings, auth=auth)[0] as client:
        report = report_from_server(client, systems, as_of=day, tz=settings.tz, options=options)
    return WrittenReport(report, tuple(write_report(report, Path(out_dir))))


# --- the bulk path (export-bulk, import) ------------------------------------------------------------------------


def export_bulk(
    settings: Settings,
    input_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    max_resources_per_part: int = PartLimits.resources,
    max_bytes_per_part: int = PartLimits.bytes,
) -> BulkExportResult:
    """Write an export folder as NDJSON bulk files for a server's bulk import (`import_bulk`): one series of parts
    per type, deterministic ids, literal references, Part 2 labels, a manifest and a key sidecar. Nothing is sent.

    Returns the result (its `report` has exit code 0, or 1 when records were rejected); raises `ConfigError` for
    master data under ownership `link` (only sync can point at the EHR's records), `InputFileError` as validate
    does, `BulkExportError` for an output folder that is not empty (without `overwrite`), and
    `RejectionLimitExceeded` past `settings.max_rejected` (the files are written)."""
    mappings = _mappings(settings)
    folder = InputFolder(Path(input_dir), mappings, mappings.vocabulary(settings.tz))
    limits = PartLimits(max_resources_per_part, max_bytes_per_part)
    result = export_bulk_files(folder, settings, mappings, Path(out_dir), limits=limits, overwrite=overwrite)
    report = result.report
    if report.check_rejection_limit(settings.rejection_limit):
        raise RejectionLimitExceeded(report.error.message if report.error else "", report=report)
    return result


def import_bulk(
    settings: Settings,
    from_dir: str | Path,
    *,
    kind: str = "auto",
    location: str | None = None,
    auth: Auth | None = None,
    aws: AwsImportSettings | None = None,
    timeout: float = 3600.0,
    poll_interval: float | None = None,
    server_check: bool = True,
    on_progress: ImportProgress | None = None,
) -> RunReport:
    """Run `settings.server`'s bulk import of an `export_bulk` folder and poll it to the end; then record in the state
    store what a sync of the same export would have (so the next `sync` sends nothing).

    `kind`: hapi (the files are served to HAPI over loopback by fhirpeer), azure, google, aws, or auto (from the
    URL, then the server's software). Cloud imports read the parts from `location` (an Azure Storage https:// URL,
    gs:// or s3://), where the caller uploaded them. `server_check` (default): refuse, before anything is sent, an
    export with keys the server already holds under other ids, and read the imported versions back. Returns the
    report (exit code 0, or 1 when the server refused some resources: then nothing is recorded); raises like `sync`
    — `ConfigError` (2) for a bad folder, namespace or duplicate keys, `ServerError` (3) when the server refuses to
    start, `RunAborted` (5) when the job failed or outlived `timeout` seconds — with the report attached."""
    run_id = uuid.uuid4().hex[:12]
    target = ""
    try:
        mappings = _mappings(settings)
        if not settings.server:
            raise ConfigError("no server given: use --server URL, `server:` in the config file or FHIRPEER_SERVER")
        namespace = mappings.identifiers.namespace
        target = target_id(settings.server.strip().rstrip("/"), namespace)
        refuse_placeholder_namespace(settings.server, namespace)
        request = ImportRequest(
            Path(from_dir), None if kind == "auto" else ImportKind(kind), location, aws, timeout, poll_interval,
            server_check,
        )  # fmt: skip
        manifest = checked_manifest(request.directory, mappings)
        check_state_path(Path(settings.state))
        with RunLock(settings.state):
            return _locked_import(settings, request, manifest, mappings, run_id, auth, on_progress)
    except FhirpeerError as exc:
        if exc.report is None:  # stopped before the import started: nothing was sent
            exc.report = _stopped_report("import", run_id, settings, exc)
            _record_refusal(settings, target, exc.report)
        raise
    except Exception as exc:
        error = InternalError(f"internal error: {type(exc).__name__}")
        error.report = _stopped_report("import", run_id, settings, error)
        raise error from exc


def _locked_import(
    settings: Settings,
    request: ImportRequest,
    manifest: Manifest,
    mappings: Mappings,
    run_id: str,
    auth: Auth | None,
    on_progress: ImportProgress | None,
) -> RunReport:
    report = RunReport(
        command="import", run_id=run_id, server=settings.server, record_keys=settings.report_keys,
        key_salt=mappings.identifiers.namespace if settings.hash_keys_in_reports else None,
    )  # fmt: skip
    with make_clients(settings, auth=auth)[0] as client:
        state = StateStore(settings.state, target_id(client.base_url, mappings.identifiers.namespace))
        try:
            kind = resolve_kind(request.kind, client.base_url, lambda: _read_capabilities(client).software_name)
            report.strategy = f"bulk import ({kind})"
            report.started_at = state.begin_run(run_id, "import", settings.server)
            started = time.perf_counter()
            try:
                run_import(request, kind, manifest, client, mappings, state, report, auth=auth, on_progress=on_progress)
            except FhirpeerError as exc:
                _end_import(state, report, started, exc)
                raise
            except Exception as exc:
                error = InternalError(f"internal error: {type(exc).__name__}")
                _end_import(state, report, started, error)
                raise error from exc
            _end_import(state, report, started, None)
        finally:
            state.close()
    return report


def _end_import(state: StateStore, report: RunReport, started: float, error: FhirpeerError | None) -> None:
    """Close the import's run in the report and the state store (its counts, or how it failed)."""
    report.seconds = time.perf_counter() - started
    if error is not None:
        error.report = report
        report.exit_code = error.exit_code
        report.fail(error.category, str(error))
    report.finished_at = state.finish_run(
        report.run_id, status="finished" if error is None else "failed", exit_code=report.exit_code,
        counts=report.counts_dict(), rejected=0, conflicts=0,
        error=(report.error.category, report.error.message) if report.error else None,
    )  # fmt: skip
