"""The Python API behind the CLI, for schedulers such as Airflow or Dagster.

    from fhirpeer import load_settings, sync
    report = sync("exports/2026-11-23", settings=load_settings(server="https://fhir.example.org/R4"))

Nothing here configures logging or prints: fhirpeer logs to the ``fhirpeer`` logger and leaves handlers to the
host application. Every failure raises a `fhirpeer.errors.FhirpeerError` whose `exit_code` is the CLI's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain import InputKind, InputWarning, ResourceType, WriteStrategy
from .errors import ConfigError
from .input.folder import InputFolder
from .mapping_files import Mappings, load_mappings
from .offline_validation import validate_export
from .pipeline import resource_types_of
from .run_report import RunReport
from .settings import Settings, load_settings
from .sync_engine.engine import ProgressCallback, SyncContext, run_sync
from .sync_engine.state import RunLock, StateStore, target_id
from .transport.auth import Auth, auth_from_env
from .transport.capabilities import ServerCapabilities, StrategyPlan, choose_strategy, parse_capability_statement
from .transport.capability_advice import cannot_write_lines, verdict_lines
from .transport.client import FhirClient
from .transport.retry import RetryBudget, RetryPolicy


def _mappings(settings: Settings) -> Mappings:
    return load_mappings(settings.mappings, namespace=settings.namespace, mrn_system=settings.mrn_system)


def make_clients(settings: Settings, count: int = 1, *, auth: Auth | None = None) -> list[FhirClient]:
    """Clients for the configured server sharing one retry budget and one credential (one per thread)."""
    if not settings.server:
        raise ConfigError("no server given: use --server URL or FHIRPEER_SERVER")
    policy = RetryPolicy(
        max_attempts=settings.max_attempts, retry_after_cap=settings.retry_after_cap,
        total_budget=settings.retry_budget_seconds,
    )  # fmt: skip
    budget = RetryBudget(total=policy.total_budget)
    credential = auth or auth_from_env(os.environ, settings.server)
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
    """Map and check an export offline. Nothing is sent anywhere."""
    settings = settings or load_settings()
    return validate_export(
        Path(input_dir), settings, _mappings(settings), ndjson_dir=ndjson_dir, bundles_dir=bundles_dir
    )


@dataclass(frozen=True)
class ServerCheck:
    """What a server can do for fhirpeer: its capabilities, the strategy per type, and whether it can hold the
    export (`ok`; the blocking problems are in `plan.blocking`)."""

    capabilities: ServerCapabilities
    plan: StrategyPlan
    resource_types: tuple[ResourceType, ...]
    forced: Mapping[str, WriteStrategy]
    input_files: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return self.plan.ok

    def verdict(self) -> list[str]:
        """The FHIR version check, strategies forced by configuration, whether the server can hold the export
        and, if not, what would make it work — as lines of text."""
        types = [str(t) for t in self.resource_types]
        return verdict_lines(self.capabilities, self.plan, types, self.forced, self.input_files)


def _overrides(resource_types: list[ResourceType], settings: Settings) -> dict[str, WriteStrategy]:
    """The strategies forced by configuration (``strategy``, then ``strategy_per_type``) for these types."""
    overrides: dict[str, WriteStrategy] = {}
    if settings.strategy != "auto":
        overrides = {str(t): WriteStrategy(settings.strategy) for t in resource_types}
    overrides.update({t: s for t, s in settings.strategy_per_type.items() if t in resource_types})
    return overrides


def _read_capabilities(client: FhirClient) -> ServerCapabilities:
    return parse_capability_statement(client.capabilities(), client.smart_configuration())


def _input_files(mappings: Mappings) -> dict[str, str]:
    """The input file each resource type comes from, as named in the site's `columns.yaml`."""
    return {str(kind.resource_type): name for kind, name in mappings.input_files().items()}


def _server_check(client: FhirClient, types: list[ResourceType], settings: Settings, mappings: Mappings) -> ServerCheck:
    caps = _read_capabilities(client)
    forced = _overrides(types, settings)
    plan = choose_strategy(caps, [str(t) for t in types], overrides=forced or None)
    return ServerCheck(caps, plan, tuple(types), forced, _input_files(mappings))


def check_server(settings: Settings, input_dir: str | Path | None = None, *, auth: Auth | None = None) -> ServerCheck:
    """What the server supports and the write strategy per type, applying configured strategies as a sync does.

    Without ``input_dir`` every type fhirpeer writes is checked; with it, only the types its files need."""
    mappings = _mappings(settings)
    kinds: list[InputKind] = list(InputKind)
    if input_dir is not None:
        kinds = InputFolder.for_settings(Path(input_dir), mappings, settings).check()
    types = resource_types_of(kinds)
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
    """Sync an export folder to `settings.server`; returns the run report (see `RunReport.exit_code`)."""
    settings = settings or load_settings()
    run_id = uuid.uuid4().hex[:12]
    mappings = _mappings(settings)
    folder = InputFolder.for_settings(Path(input_dir), mappings, settings)
    types = resource_types_of(folder.check())
    with RunLock(settings.state):
        clients = make_clients(settings, settings.workers + 1, auth=auth)
        try:
            check = _server_check(clients[0], types, settings, mappings)
            strategies, server_warnings = _strategies(check)
            state = StateStore(settings.state, target_id(clients[0].base_url, mappings.identifiers.namespace))
            try:
                ctx = SyncContext(
                    folder, settings, mappings, state, clients[0], clients[1:], strategies,
                    client_ids=client_ids_of(check.capabilities, settings), dry_run=dry_run,
                    on_progress=on_progress, run_id=run_id,
                )  # fmt: skip
                report = run_sync(ctx)
            finally:
                state.close()
        finally:
            for c in clients:
                c.close()
    report.server = settings.server
    report.warnings[:0] = [InputWarning(None, None, None, w) for w in server_warnings]
    return report


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


@dataclass(frozen=True)
class StateStatus:
    """What a state store says: the last runs (newest first) and the records currently rejected."""

    path: Path
    exists: bool
    runs: list[dict[str, Any]]
    rejections: list[dict[str, Any]]


def status(state_path: str | Path, *, runs: int = 10) -> StateStatus:
    """The last runs and the records currently rejected, from the state store (no server needed)."""
    path = Path(state_path)
    if not path.is_file():
        return StateStatus(path, False, [], [])
    store = StateStore(path)
    try:
        return StateStatus(path, True, store.last_runs(runs), store.rejections())
    finally:
        store.close()
