"""The sync engine: export → plan against the state store → write → record, one chunk at a time.

Data flows one way: `mapped_items` (read + map) → `plan_chunk` (state) → reference check and validation →
a write strategy (server) → `StateStore` + `RunReport`. Kinds are synced in write order (rosters first), so
dependants are planned against what is already on the server. Memory stays bounded: records are streamed in
chunks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..checks.resource_checks import check_resource
from ..domain import InputKind, Outcome, Rejection, ResourceType, Skipped, Stage, WriteStrategy
from ..errors import ServerError
from ..input.folder import InputFolder
from ..mappers import MappedResource
from ..mapping_files import Mappings
from ..pipeline import Item, MappingOptions, mapped_items
from ..run_report import Conflict, RunReport
from ..settings import Settings
from ..transport.client import FhirClient
from .coverage import ExportCoverage
from .planner import PlannedWrite, plan_chunk
from .resolver import ReferenceResolver
from .retraction import Retractor, settle_absent
from .state import StateStore, Written
from .strategies import STRATEGY_CLASSES, Strategy, WriteOutcome

log = logging.getLogger("fhirpeer.sync")


@dataclass(frozen=True)
class SyncProgress:
    """Where a run is: the resource type being synced, rows done (of total, when a total is meaningful)."""

    resource_type: ResourceType
    done: int
    total: int | None
    finished: bool
    counts: dict[str, int]


ProgressCallback = Callable[[SyncProgress], None]


@dataclass
class SyncContext:
    """Everything one sync run works with. `lookup_client` serves the prepare thread (reference searches);
    each of `write_clients` serves one writer thread — one HTTP session per thread."""

    folder: InputFolder
    settings: Settings
    mappings: Mappings
    state: StateStore
    lookup_client: FhirClient
    write_clients: list[FhirClient]
    strategies: dict[ResourceType, WriteStrategy]
    dry_run: bool = False
    on_progress: ProgressCallback | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def options(self) -> MappingOptions:
        return MappingOptions(self.settings.part2_labels, self.settings.send_text_contacts)


class SyncEngine:
    def __init__(self, ctx: SyncContext, report: RunReport):
        self.ctx = ctx
        self.report = report
        self.resolver = ReferenceResolver(ctx.state, ctx.lookup_client, ctx.mappings)
        self.coverage = ExportCoverage(ctx.state, keep_keys=ctx.settings.full_export)
        self._lock = threading.RLock()  # report counts come from the prepare thread and writer threads

    def run(self) -> None:
        """Sync kind by kind (rosters first). Within a kind, the next chunk is read, mapped, planned and
        validated on a helper thread while the current one is on the server, so client CPU and server time
        overlap; a kind is finished before the next one starts, so dependants plan against rosters that are
        already written."""
        chunk_size = max(self.ctx.settings.batch_size * len(self.ctx.write_clients) * 2, 500)
        for kind in self.ctx.folder.check():
            writers = self._writers(kind.resource_type)
            chunks = _chunks(mapped_items(self.ctx.folder, kind, self.ctx.mappings, self.ctx.options), chunk_size)
            # care_team rows are grouped into teams, so its row count is no total for a bar
            total = None if kind is InputKind.CARE_TEAM else self.ctx.folder.count_rows(kind)
            done = 0
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhirpeer-prepare") as prep:
                pending = prep.submit(self._prepare_next, chunks)
                while (prepared := pending.result()) is not None:
                    pending = prep.submit(self._prepare_next, chunks)
                    size, writes = prepared
                    self._dispatch(writes, writers)
                    done += size
                    self._progress(kind.resource_type, done, total, finished=False)
            self._progress(kind.resource_type, done, total, finished=True)

    def _writers(self, resource_type: ResourceType) -> list[Strategy]:
        cls = STRATEGY_CLASSES[self.ctx.strategies.get(resource_type, WriteStrategy.CONDITIONAL_PUT)]
        settings = self.ctx.settings
        return [
            cls(c, self.ctx.mappings, self.resolver, batch_size=settings.batch_size,
                conflict_policy=settings.conflict_policy)
            for c in self.ctx.write_clients
        ]  # fmt: skip

    def _progress(self, resource_type: ResourceType, done: int, total: int | None, *, finished: bool) -> None:
        if self.ctx.on_progress is None:
            return
        with self._lock:
            counts = dict(self.report.counts.get(resource_type, {}))
        self.ctx.on_progress(SyncProgress(resource_type, done, total, finished, counts))

    def _prepare_next(self, chunks: Iterator[list[Item]]) -> tuple[int, list[PlannedWrite]] | None:
        """Read the next chunk and turn it into the writes it needs (None when the kind is done)."""
        items = next(chunks, None)
        if items is None:
            return None
        self.coverage.note(items)
        resources: list[MappedResource] = []
        for item in items:
            if isinstance(item, Rejection):
                self._reject(item)
            elif isinstance(item, Skipped):
                self._skip(item)
            else:
                resources.append(item)
        plan = plan_chunk(resources, self.ctx.state, conflict_policy=self.ctx.settings.conflict_policy)
        for unchanged in plan.unchanged:
            self._count(unchanged.resource_type, Outcome.UNCHANGED)
        writes = [w for w in self._check_references(plan.writes) if self._valid(w)]
        if self.ctx.dry_run:  # a key already on the server would be updated, not created
            self.resolver.prefetch((w.resource_type, w.key) for w in writes if w.action == "create")
        return len(items), writes

    def _dispatch(self, writes: list[PlannedWrite], writers: list[Strategy]) -> None:
        if not writes:
            return
        if self.ctx.dry_run:
            self._count_dry_run(writes)
        else:
            self._write(writes, writers)

    def _count(self, resource_type: ResourceType, outcome: Outcome) -> None:
        with self._lock:
            self.report.count(resource_type, outcome)

    def _skip(self, skipped: Skipped) -> None:
        with self._lock:
            self.report.skip(skipped)

    def finish_export(self) -> None:
        """Once every kind is synced: what reading the files found (warnings, lines → records per file), and the
        records earlier runs synced that this export lacks (a warning; with --full-export listed, and retracted
        when retract_absent is set)."""
        settings = self.ctx.settings
        self.report.warnings.extend(self.ctx.folder.warnings)
        self.report.files = self.ctx.folder.summaries()
        retractor = None
        if settings.full_export and settings.retract_absent:
            retractor = Retractor(
                self.ctx.lookup_client, self.ctx.state, self.ctx.mappings, conflict_policy=settings.conflict_policy,
                dry_run=self.ctx.dry_run, run_id=self.ctx.run_id,
            )  # fmt: skip
        settle_absent(self.ctx.folder, self.coverage, self.report, retractor, full=settings.full_export)

    def _check_references(self, writes: list[PlannedWrite]) -> list[PlannedWrite]:
        """Reject records pointing at keys that are neither synced nor on the server (one search per chunk of
        unknown keys), instead of letting one bad reference sink a whole transaction."""
        refs = {(r.resource_type, r.key) for w in writes for r in w.item.refs}
        if not refs:
            return writes
        self.resolver.prefetch(refs)
        ok: list[PlannedWrite] = []
        for w in writes:
            missing = [r for r in w.item.refs if not self.resolver.known(r.resource_type, r.key)]
            if missing:
                reason = "; ".join(
                    f"{r.column}: no {r.resource_type} with this key in the export or on the server" for r in missing
                )
                self._reject_write(w, reason, Stage.REFERENCE)
            else:
                ok.append(w)
        return ok

    def _valid(self, w: PlannedWrite) -> bool:
        problems = check_resource(w.item.resource)
        if problems:
            self._reject_write(w, "; ".join(problems[:3]), Stage.MAPPING)
        return not problems

    def _count_dry_run(self, writes: list[PlannedWrite]) -> None:
        for w in writes:
            exists = w.action == "update" or self.resolver.known(w.resource_type, w.key)
            self._count(w.resource_type, Outcome.UPDATED if exists else Outcome.CREATED)
            # dependants later in this dry run may point at it: it would exist by then
            self.resolver.learn(w.resource_type, w.key, w.server_id or "planned")

    def _write(self, writes: list[PlannedWrite], writers: list[Strategy]) -> None:
        partitions: list[list[PlannedWrite]] = [[] for _ in writers]
        for w in writes:
            partitions[_stable_hash(_partition_key(w)) % len(writers)].append(w)
        if len(writers) == 1:
            writers[0].write(partitions[0], self._record)
            return
        with ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="fhirpeer-writer") as pool:
            futures = [
                pool.submit(writer.write, part, self._record)
                for writer, part in zip(writers, partitions, strict=True)
                if part
            ]
            for f in futures:
                f.result()

    def _record(self, outcomes: list[WriteOutcome]) -> None:
        """Called after each server round trip: persist confirmed writes first, then count."""
        written = [
            Written(o.write.resource_type, o.write.key, o.write.hash, o.server_id, o.version_id)
            for o in outcomes
            if o.result in (Outcome.CREATED, Outcome.UPDATED)
        ]
        if written:
            self.ctx.state.record_written(written, self.ctx.run_id)
        with self._lock:
            for o in outcomes:
                w = o.write
                if o.result in (Outcome.CREATED, Outcome.UPDATED):
                    self.report.count(w.resource_type, o.result)
                    self.resolver.learn(w.resource_type, w.key, o.server_id)
                elif o.result is Outcome.CONFLICT:
                    self.report.conflicts.append(Conflict(w.resource_type, w.key, o.reason))
                    self.report.count(w.resource_type, Outcome.FAILED)
                    log.warning("conflict: %s left alone", w.resource_type,
                                extra={"resource_type": str(w.resource_type), "key": w.key})  # fmt: skip
                else:
                    self._reject_write(w, o.reason, Stage.SERVER)
        log.debug("round trip done", extra={"count": len(outcomes)})

    def _reject_write(self, w: PlannedWrite, reason: str, stage: Stage) -> None:
        src = w.item.sources[0]
        self._reject(Rejection(src.file, src.line, w.key, None, reason, w.resource_type, stage))

    def _reject(self, rejection: Rejection) -> None:
        with self._lock:
            self.report.reject_record(rejection)
        log.debug("rejected %s:%s", rejection.file, rejection.line,
                  extra={"file": rejection.file, "line": rejection.line, "key": rejection.id})  # fmt: skip


def _partition_key(w: PlannedWrite) -> str:
    """Writes of one patient go to one worker, so no two workers ever send the same match URL."""
    patient = next((r.key for r in w.item.refs if r.resource_type is ResourceType.PATIENT), None)
    return f"Patient/{patient}" if patient else f"{w.resource_type}/{w.key}"


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_sync(ctx: SyncContext) -> RunReport:
    """Run one sync (or dry run) and return its report; the caller owns lock, clients and state."""
    report = RunReport(command="sync --dry-run" if ctx.dry_run else "sync", run_id=ctx.run_id,
                       strategy=describe_strategies(ctx.strategies), server=ctx.settings.server)  # fmt: skip
    started = time.perf_counter()
    if not ctx.dry_run:
        report.started_at = ctx.state.begin_run(ctx.run_id, report.command, report.server)
    engine = SyncEngine(ctx, report)
    try:
        engine.run()
        engine.finish_export()
    except ServerError as exc:
        report.exit_code = exc.exit_code
        report.seconds = time.perf_counter() - started
        if not ctx.dry_run:
            _finish(ctx, report, status="aborted")
        raise
    report.exit_code = 1 if (report.rejected or report.conflicts or report.failed) else 0
    report.seconds = time.perf_counter() - started
    if not ctx.dry_run:
        ctx.state.replace_rejections(report.rejected, ctx.run_id)
        _finish(ctx, report, status="finished")
    return report


def describe_strategies(strategies: dict[ResourceType, WriteStrategy]) -> str:
    """`transaction`, or `transaction (CareTeam: client_id_put)` when some types fall back."""
    if not strategies:
        return ""
    counts: dict[WriteStrategy, int] = {}
    for s in strategies.values():
        counts[s] = counts.get(s, 0) + 1
    main = max(counts, key=lambda s: counts[s])
    others = ", ".join(f"{t}: {s}" for t, s in strategies.items() if s != main)
    return f"{main} ({others})" if others else str(main)


def _finish(ctx: SyncContext, report: RunReport, *, status: str) -> None:
    report.retries = int(ctx.lookup_client.stats().get("retries", 0) or 0)  # one budget shared by all clients
    report.finished_at = ctx.state.finish_run(
        ctx.run_id, status=status, exit_code=report.exit_code, counts=report.to_dict()["counts"],
        rejected=len(report.rejected), conflicts=len(report.conflicts),
    )  # fmt: skip
