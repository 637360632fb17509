"""The Python API behind the CLI, for schedulers such as Airflow.

    from fhirpeer import sync, validate, check_server, load_settings
    report = sync("exports/2026-11-23", settings=load_settings(server="https://fhir.example.org/R4"))
    if report.exit_code: ...

Every function raises `fhirpeer.errors.FhirpeerError` subclasses whose `exit_code` is the CLI's.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path

from .auth import auth_from_env
from .capabilities import (
    ServerCapabilities,
    StrategyPlan,
    choose_strategy,
    parse_capability_statement,
    render_capability_table,
)
from .client import FhirClient
from .config import Settings, load_settings
from .contract import RESOURCE_TYPES
from .errors import ConfigError
from .export import RESOURCE_OF_KIND, Export, input_file_of_type
from .logs import configure_logging
from .mappings import Mappings, load_mappings
from .progress import Progress
from .report import RunReport
from .retry import RetryBudget, RetryPolicy
from .server_advice import cannot_write_lines, verdict_lines
from .state import RunLock, StateStore, target_id
from .sync import SyncContext, run_sync
from .validate import validate_export

log = logging.getLogger("fhirpeer")


def _mappings(settings: Settings) -> Mappings:
    return load_mappings(settings.mappings, namespace=settings.namespace)


def make_clients(settings: Settings, count: int = 1) -> list[FhirClient]:
    """Clients for the configured server sharing one retry budget and one credential."""
    if not settings.server:
        raise ConfigError("no server given: use --server URL or FHIRPEER_SERVER")
    policy = RetryPolicy(
        max_attempts=settings.max_attempts, retry_after_cap=settings.retry_after_cap,
        total_budget=settings.retry_budget_seconds,
    )  # fmt: skip
    budget = RetryBudget(total=policy.total_budget)
    auth = auth_from_env(os.environ, settings.server)
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    timeout = (settings.timeout_connect, settings.timeout_read)
    return [
        FhirClient(settings.server, auth=auth, timeout=timeout, retry=policy, budget=budget, verify=verify)
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


def server_plan(client: FhirClient, resource_types: list[str], settings: Settings) -> StrategyPlan:
    """Read what the server can do and choose a write strategy per resource type (config overrides win)."""
    return _plan(_read_capabilities(client), resource_types, settings)


def _read_capabilities(client: FhirClient) -> ServerCapabilities:
    return parse_capability_statement(client.capabilities(), client.smart_configuration())


def _overrides(resource_types: list[str], settings: Settings) -> dict[str, str]:
    """The strategies forced by configuration (``strategy``, then ``strategy_per_type``) for these types."""
    overrides: dict[str, str] = {}
    if settings.strategy != "auto":
        overrides = {t: settings.strategy for t in resource_types}
    overrides.update({t: s for t, s in settings.strategy_per_type.items() if t in resource_types})
    return overrides


def _plan(caps: ServerCapabilities, resource_types: list[str], settings: Settings) -> StrategyPlan:
    return choose_strategy(caps, resource_types, overrides=_overrides(resource_types, settings) or None)


def sync(
    input_dir: str | Path,
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    progress: bool = False,
    print_summary: bool = False,
) -> RunReport:
    """Sync an export folder to `settings.server`; returns the run report (see `RunReport.exit_code`)."""
    settings = settings or load_settings()
    run_id = uuid.uuid4().hex[:12]
    configure_logging(settings.log_level, settings.log_format, run_id)
    mappings = _mappings(settings)
    export = Export(Path(input_dir), mappings, settings)
    kinds = export.check()
    types = [RESOURCE_OF_KIND[k.name] for k in kinds]
    with RunLock(settings.state):
        clients = make_clients(settings, settings.workers)
        try:
            strategies = _strategies(clients[0], types, settings)
            state = StateStore(settings.state, target_id(clients[0].base_url, mappings.identifiers.namespace))
            try:
                ctx = SyncContext(
                    export, settings, mappings, state, clients, strategies, dry_run=dry_run,
                    progress=Progress(progress), run_id=run_id,
                )  # fmt: skip
                report = run_sync(ctx)
            finally:
                state.close()
        finally:
            for c in clients:
                c.close()
    report.server = settings.server
    if print_summary:
        _print_report(report, dry_run)
    return report


def _strategies(client: FhirClient, types: list[str], settings: Settings) -> dict[str, str]:
    caps = _read_capabilities(client)
    plan = _plan(caps, types, settings)
    if not plan.ok:
        raise ConfigError(
            "the server cannot hold this export; nothing was written.\n"
            + "\n".join(cannot_write_lines(caps, plan, input_file_of_type(_mappings(settings))))
            + "\nRun `fhirpeer check-server --server URL` for the full table."
        )
    for p in plan.problems:
        log.warning("server: %s", p.message)
    return {t: str(plan.strategy_for(t)) for t in types}


def _print_report(report: RunReport, dry_run: bool) -> None:
    head = "dry run — nothing was written. A sync would:" if dry_run else f"run {report.run_id} ({report.strategy}):"
    print(head)
    outcomes = ("created", "updated", "unchanged", "failed", "skipped")
    print(report.summary(outcomes=outcomes))
    verb = "would write" if dry_run else "wrote"
    print(f"\n{verb} {report.written} resource(s) in {report.seconds:.1f}s; exit code {report.exit_code}",
          file=sys.stdout)  # fmt: skip


def check_server(settings: Settings, input_dir: str | Path | None = None) -> tuple[str, bool]:
    """The server's capabilities table, the write strategy per type and whether it can hold the export.

    Without ``input_dir`` every type fhirpeer writes is checked; with it, only the types whose input files
    the folder holds. Configured strategies (``strategy``, ``strategy_per_type``) are applied as in a sync.
    """
    types = list(RESOURCE_TYPES)
    if input_dir is not None:
        export = Export(Path(input_dir), _mappings(settings), settings)
        types = [RESOURCE_OF_KIND[k.name] for k in export.check()]
    clients = make_clients(settings)
    with clients[0] as client:
        caps = _read_capabilities(client)
    plan = _plan(caps, types, settings)
    verdict = verdict_lines(caps, plan, types, _overrides(types, settings), input_file_of_type(_mappings(settings)))
    text = render_capability_table(caps, plan) + "\n".join(verdict) + "\n"
    return text, plan.ok


def status_text(state_path: Path, *, runs: int = 10) -> str:
    """The last runs and the records currently rejected, from the state store (no server needed)."""
    if not Path(state_path).is_file():
        return f"no state store at {state_path}: no sync has run here yet"
    store = StateStore(state_path)
    try:
        lines = [
            "last runs:",
            f"  {'run':<13}{'started (UTC)':<22}{'status':<12}{'exit':>4}  {'written':>8}  {'rejected':>8}  server",
        ]
        for r in store.last_runs(runs):
            counts = json.loads(r["counts"] or "{}")
            written = sum(c.get("created", 0) + c.get("updated", 0) for c in counts.values())
            exit_code = "" if r["exit_code"] is None else r["exit_code"]
            lines.append(
                f"  {r['run_id']:<13}{r['started_at']:<22}{r['status']:<12}{exit_code!s:>4}  {written:>8}  "
                f"{(r['rejected'] or 0):>8}  {r['server'] or ''}"
            )
        rejected = store.rejections()
        lines.append(f"\n{len(rejected)} record(s) currently rejected (quarantined until a run accepts them):")
        for r in rejected[:50]:
            lines.append(
                f"  {r['file']}:{r['line']} {r['record_id'] or ''} — {r['reason']} (since run {r['first_run']})"
            )
        if len(rejected) > 50:
            lines.append(f"  … and {len(rejected) - 50} more")
        return "\n".join(lines)
    finally:
        store.close()
