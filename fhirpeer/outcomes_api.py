"""`fhirpeer outcomes`: what became of each warm handoff, read back from the FHIR server into a complete CSV.

    import fhirpeer
    result = fhirpeer.outcomes(settings, "out/handoff_outcomes.csv", auth=auth)   # exit code 0 or 1
    result.report.counts      # handoffs per outcome
    result.report.changes     # new outcome → the handoffs that got it since the last run

A run reads, for every handoff fhirpeer wrote, the ServiceRequest, its Tasks and the Encounters and EpisodeOfCare any
system recorded against it, and decides each handoff's outcome (`fhirpeer.program_report.handoff_outcomes`). The
first run reads everything; later runs ask only for what changed since the previous run's high-water mark — the
server's clock when that run began reading, less `MARK_OVERLAP` — and re-decide just the handoffs touched. The state
store keeps the mark and every handoff's outcome, so each run writes the complete CSV.

Polite polling (Gravity): when this server and namespace were polled less than `POLL_INTERVAL` ago, the server is
not asked at all; the CSV is written from the state store, with a warning (unless `force`).

Like the rest of the API, nothing here configures logging, prints or reads the environment; every failure raises a
`FhirpeerError` whose `report` is this run's `OutcomesReport`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from .api import make_clients
from .domain import ResourceType
from .errors import ConfigError, FhirpeerError, InternalError
from .mapping_files import Mappings, load_mappings
from .namespace_guard import refuse_placeholder_namespace
from .program_report.extract import extract_program, identifier_value
from .program_report.fetch import fetch_handoff_evidence
from .program_report.handoff_outcomes import write_outcomes_csv
from .program_report.incremental import (
    POLL_INTERVAL,
    MergedOutcomes,
    TrackedOutcome,
    merge_outcomes,
    polling_wait,
    tracked_outcomes,
)
from .program_report.model import OUTCOMES, HandoffOutcome, Outcome
from .program_report.outcomes_report import OutcomesReport
from .program_report.systems import Systems
from .settings import Settings
from .sync_engine.outcome_state import OutcomeRun, OutcomesLock, OutcomeStore, StoredOutcome
from .sync_engine.receiver import changed_by_receiver
from .sync_engine.state import StateStore, check_state_path, target_id
from .transport.auth import Auth
from .transport.base_probe import read_capability_statement
from .transport.capabilities import parse_capability_statement
from .transport.client import FhirClient
from .transport.referral_support import referral_task_support

__all__ = ["MARK_OVERLAP", "POLL_INTERVAL", "OutcomesResult", "outcomes"]

#: Taken off the previous run's mark before asking `_lastUpdated=gt…`: a write that was in flight on the server
#: when that run read (stamped before it, committed after) is still picked up. Re-deciding a handoff twice is harmless.
MARK_OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class OutcomesResult:
    """A finished outcomes run: its report, every handoff's outcome (the CSV's rows) and the CSV's path."""

    report: OutcomesReport
    outcomes: tuple[HandoffOutcome, ...]
    path: Path


def outcomes(
    settings: Settings,
    out: str | Path,
    *,
    since: datetime | date | None = None,
    force: bool = False,
    now: datetime | None = None,
    auth: Auth | None = None,
    poll_interval: timedelta = POLL_INTERVAL,
    overlap: timedelta = MARK_OVERLAP,
) -> OutcomesResult:
    """Write every handoff's outcome to the CSV `out` (columns `OUTCOME_COLUMNS`) and return the run's result.

    `since` replaces the stored high-water mark (a date is midnight in the site time zone); `force` polls even when
    the last poll is under `poll_interval` old; `now` is the client's clock (default: the system's), which only
    the polling rule and the report's times use. Returns for exit code 0 (the CSV is complete) and 1 (complete, but
    some evidence could not be searched: see the warnings); raises a `FhirpeerError` (its `report` set) otherwise.
    """
    clock = now or datetime.now(UTC)
    report = OutcomesReport(run_id=uuid.uuid4().hex[:12], server=settings.server, started_at=_iso(clock))
    started = time.monotonic()
    run = _OutcomesRun(settings, Path(out), report, clock, auth)
    try:
        result = run.execute(since=since, force=force, poll_interval=poll_interval, overlap=overlap)
    except FhirpeerError as exc:
        _finish(report, clock, started, exc.exit_code, exc)
        exc.report = report
        raise
    except Exception as exc:
        error = InternalError(f"internal error: {type(exc).__name__}")
        _finish(report, clock, started, error.exit_code, error)
        error.report = report
        raise error from exc
    _finish(report, clock, started, report.exit_code)
    return result


def _finish(
    report: OutcomesReport, clock: datetime, started: float, exit_code: int, error: FhirpeerError | None = None
) -> None:
    report.seconds = time.monotonic() - started
    report.finished_at = _iso(clock + timedelta(seconds=report.seconds))
    report.exit_code = exit_code
    if error is not None:
        report.fail(error.category, str(error))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _aware(moment: datetime | date, tz: ZoneInfo) -> datetime:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    return datetime.combine(moment, datetime.min.time(), tz)


class _OutcomesRun:
    """One run: settings and store in, CSV and report out."""

    def __init__(self, settings: Settings, out: Path, report: OutcomesReport, clock: datetime, auth: Auth | None):
        self.settings = settings
        self.out = out
        self.report = report
        self.clock = clock
        self.auth = auth
        self.tz = settings.tz

    def execute(
        self, *, since: datetime | date | None, force: bool, poll_interval: timedelta, overlap: timedelta
    ) -> OutcomesResult:
        mappings = load_mappings(
            self.settings.mappings, namespace=self.settings.namespace, mrn_system=self.settings.mrn_system
        )
        namespace = mappings.identifiers.namespace
        if self.settings.hash_keys_in_reports:
            self.report.key_salt = namespace
        check_state_path(Path(self.settings.state))
        (client,) = make_clients(self.settings, auth=self.auth)  # ConfigError without a server
        with client, OutcomesLock(self.settings.state):
            refuse_placeholder_namespace(client.base_url, namespace)
            target = target_id(client.base_url, namespace)
            store = OutcomeStore(self.settings.state, target)
            try:
                last = store.last_polled_run()
                wait = polling_wait(_parse(last.started_at) if last else None, self.clock, poll_interval)
                if wait is not None and not force and last is not None:
                    return self._from_store(store, last, wait, poll_interval)
                bound = _aware(since, self.tz) if since is not None else None
                if bound is None and last is not None and last.mark is not None:
                    bound = _parse(last.mark) - overlap
                return self._poll(client, store, mappings, target, bound)
            finally:
                store.close()

    # --- served from the state store ----------------------------------------------------------------------------
    def _from_store(
        self, store: OutcomeStore, last: OutcomeRun, wait: timedelta, interval: timedelta
    ) -> OutcomesResult:
        rows = [_tracked(s).outcome for s in store.outcomes().values()]
        minutes = max(1, round((self.clock - _parse(last.started_at)).total_seconds() / 60))
        self.report.warnings.append(
            f"not polled: run {last.run_id} polled this server {minutes} minute(s) ago, and Gravity asks for no more "
            f"than one poll every {_minutes(interval)} minutes; the CSV was written from the state store (poll "
            f"again in {_minutes(wait)} minute(s), or now with --force)"
        )
        path = self._write(rows)
        self._count(rows)
        self.report.mark = last.mark
        store.record_run(self._run_row(polled=False, since=None, mark=last.mark))
        return OutcomesResult(self.report, tuple(rows), path)

    # --- read from the server -----------------------------------------------------------------------------------
    def _poll(
        self, client: FhirClient, store: OutcomeStore, mappings: Mappings, target: str, since: datetime | None
    ) -> OutcomesResult:
        report = self.report
        report.polled, report.full_read = True, since is None
        report.since = _iso(since) if since is not None else None
        support = referral_task_support(parse_capability_statement(read_capability_statement(client)))
        report.warnings += support.outcomes_warnings()
        stored = store.outcomes()
        previous = {k: _tracked(s) for k, s in stored.items()}
        known = {t.server_id: t.patient_id for t in previous.values()} if since is not None and previous else None
        systems = Systems.from_mappings(mappings)
        fetched = fetch_handoff_evidence(client, systems, since=since, known=known)
        report.warnings += fetched.warnings
        merged = merge_outcomes(previous, self._decide(fetched.resources, systems), full=since is None)
        if fetched.server_time is None:
            report.warnings.append(
                "the server gave no time with its answers (Bundle.meta.lastUpdated, Date header): the next run "
                "reads every handoff again"
            )
        report.mark = _iso(fetched.server_time) if fetched.server_time is not None else None
        rows = merged.rows()
        path = self._write(rows)
        self._count(rows)
        report.redecided = len(merged.redecided)
        for o in merged.changed:
            report.changes.setdefault(o.outcome, []).append(o.handoff_id)
        report.retries = int(client.stats().get("retries", 0) or 0)
        report.exit_code = 0 if fetched.complete else 1
        _note_receiver_changes(self.settings.state, target, mappings, fetched.resources)
        decided = _stored_rows(merged, stored, report.run_id)
        store.record_run(
            self._run_row(polled=True, since=report.since, mark=report.mark), decided, replace_all=since is None
        )
        return OutcomesResult(report, tuple(rows), path)

    def _decide(self, resources: list[dict[str, Any]], systems: Systems) -> list[TrackedOutcome]:
        return tracked_outcomes(extract_program(resources, systems, self.tz), tz=self.tz)

    # --- output -------------------------------------------------------------------------------------------------
    def _write(self, rows: list[HandoffOutcome]) -> Path:
        try:
            path = write_outcomes_csv(rows, self.out)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the outcomes CSV {self.out}: {exc.strerror or type(exc).__name__}; nothing was recorded"
            ) from None
        self.report.out = str(path)
        return path

    def _count(self, rows: list[HandoffOutcome]) -> None:
        self.report.handoffs = len(rows)
        self.report.counts = {o: sum(1 for r in rows if r.outcome == o) for o in OUTCOMES}

    def _run_row(self, *, polled: bool, since: str | None, mark: str | None) -> OutcomeRun:
        r = self.report
        return OutcomeRun(
            r.run_id, r.started_at, _iso(datetime.now(UTC)), polled, since, mark, r.handoffs, r.redecided,
            r.changed, r.exit_code,
        )  # fmt: skip


def _minutes(span: timedelta) -> int:
    return max(1, -(-int(span.total_seconds()) // 60))


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _tracked(row: StoredOutcome) -> TrackedOutcome:
    outcome = HandoffOutcome(
        handoff_id=row.handoff_id,
        kind=row.kind,
        outcome=cast(Outcome, row.outcome),  # stored from an Outcome
        decided_at=_parse(row.decided_at) if row.decided_at else None,
        days_to_linkage=row.days_to_linkage,
        evidence=row.evidence,
        reason=row.reason,
    )
    return TrackedOutcome(outcome, row.server_id, row.patient_id)


def _stored_rows(merged: MergedOutcomes, stored: Mapping[str, StoredOutcome], run_id: str) -> list[StoredOutcome]:
    """The rows this run decided, each remembering the run that last changed its outcome."""
    changed = {o.handoff_id for o in merged.changed}
    rows = []
    for key in merged.redecided:
        t = merged.outcomes[key]
        o = t.outcome
        since_run = run_id if key in changed or key not in stored else stored[key].changed_run
        rows.append(
            StoredOutcome(
                o.handoff_id, t.server_id, t.patient_id, o.kind, o.outcome,
                o.decided_at.isoformat() if o.decided_at else None, o.days_to_linkage, o.evidence, o.reason,
                since_run,
            )
        )  # fmt: skip
    return rows


def _note_receiver_changes(
    state_path: Path, target: str, mappings: Mappings, resources: Iterable[Mapping[str, Any]]
) -> int:
    """Tell the sync state store which referral Tasks and ServiceRequests the receiver moved on since fhirpeer wrote
    them, so a later sync of an unchanged export reports them as changed by the receiver. Returns how many."""
    state = StateStore(state_path, target)
    moved = 0
    try:
        for rtype in (ResourceType.TASK, ResourceType.SERVICE_REQUEST):
            system = mappings.system_for(rtype)
            ours = {
                key: dict(res)
                for res in resources
                if res.get("resourceType") == rtype and (key := identifier_value(res, system)) is not None
            }
            rows = state.lookup(rtype, ours)
            keys = [
                k for k, row in rows.items()
                if row.version_id is not None and changed_by_receiver(mappings, rtype, ours[k], row.version_id)
            ]  # fmt: skip
            moved += state.mark_receiver_owned(rtype, keys)
    finally:
        state.close()
    return moved
