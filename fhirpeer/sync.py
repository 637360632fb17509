"""The sync engine: export → plan against the state store → write → record, one chunk at a time.

Data flows one way: `Export` (read + map) → `plan_chunk` (state) → reference check and validation →
`Writer` (server) → `StateStore` + `RunReport`. Rosters are synced before the resources that point at
them. Memory stays bounded: contacts are streamed in chunks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .client import FhirClient
from .config import Settings
from .errors import ServerError
from .export import RESOURCE_OF_KIND, Export, Item, Skipped
from .mappers import MappedResource
from .mappings import Mappings
from .planner import PlannedWrite, plan_chunk
from .progress import Progress
from .readers import Rejection
from .report import Conflict, RunReport
from .resolver import ReferenceResolver
from .state import StateStore, Written
from .validation import check_resource
from .writer import WriteOutcome, Writer

log = logging.getLogger("fhirpeer.sync")


@dataclass
class SyncContext:
    """Everything one sync run works with."""

    export: Export
    settings: Settings
    mappings: Mappings
    state: StateStore
    clients: list[FhirClient]
    strategies: dict[str, str]  # resource type → write strategy
    dry_run: bool = False
    progress: Progress = field(default_factory=lambda: Progress(False))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class SyncEngine:
    def __init__(self, ctx: SyncContext, report: RunReport):
        self.ctx = ctx
        self.report = report
        self.resolver = ReferenceResolver(ctx.state, ctx.clients[0], ctx.mappings)
        self.writers = [
            Writer(
                c, ctx.mappings, self.resolver,
                batch_size=ctx.settings.batch_size, conflict_policy=ctx.settings.conflict_policy,
            )
            for c in ctx.clients
        ]  # fmt: skip
        self._lock = threading.RLock()  # report counts come from the prepare thread and writer threads

    def run(self) -> None:
        """Sync kind by kind (rosters first). Within a kind, the next chunk is read, mapped, planned and
        validated on a helper thread while the current one is on the server, so client CPU and server
        time overlap; a kind is finished before the next one starts, so dependants plan against
        rosters that are already written."""
        chunk_size = max(self.ctx.settings.batch_size * len(self.writers) * 2, 500)
        for kind in self.ctx.export.check():
            label = RESOURCE_OF_KIND[kind.name]
            chunks = _chunks(self.ctx.export.mapped(kind), chunk_size)
            # care_team rows are grouped into teams, so its row count is no total for a bar
            show_bar = self.ctx.progress.tty and kind.name != "care_team"
            total = self.ctx.export.count_rows(kind) if show_bar else None
            done = 0
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhirpeer-prepare") as prep:
                pending = prep.submit(self._prepare_next, chunks)
                while (prepared := pending.result()) is not None:
                    pending = prep.submit(self._prepare_next, chunks)
                    size, writes = prepared
                    self._dispatch(writes)
                    done += size
                    self.ctx.progress.update(label, done, self._detail(label), total)
            self.ctx.progress.done(label, done, self._detail(label))

    def _detail(self, resource_type: str) -> str:
        c = self.report.counts.get(resource_type, {})
        return " ".join(f"{o} {c.get(o, 0):,}" for o in ("created", "updated", "unchanged", "failed") if c.get(o))

    def _prepare_next(self, chunks: Iterator[list[Item]]) -> tuple[int, list[PlannedWrite]] | None:
        """Read the next chunk and turn it into the writes it needs (None when the kind is done)."""
        items = next(chunks, None)
        if items is None:
            return None
        resources: list[MappedResource] = []
        for item in items:
            if isinstance(item, Rejection):
                self._reject(item, self._type_of(item))
            elif isinstance(item, Skipped):
                self._count(item.resource_type, "skipped")
            else:
                resources.append(item)
        plan = plan_chunk(resources, self.ctx.state, conflict_policy=self.ctx.settings.conflict_policy)
        for item in plan.unchanged:
            self._count(item.resource_type, "unchanged")
        writes = self._check_references(plan.writes)
        return len(items), [w for w in writes if self._valid(w)]

    def _dispatch(self, writes: list[PlannedWrite]) -> None:
        if not writes:
            return
        if self.ctx.dry_run:
            self._count_dry_run(writes)
        else:
            self._write(writes)

    def _count(self, resource_type: str, outcome: str) -> None:
        with self._lock:
            self.report.count(resource_type, outcome)

    def _type_of(self, rejection: Rejection) -> str:
        for kind in self.ctx.export.present_kinds():
            if self.ctx.export.path(kind).name == rejection.file:
                return RESOURCE_OF_KIND[kind.name]
        return "unknown"

    def _check_references(self, writes: list[PlannedWrite]) -> list[PlannedWrite]:
        """Reject records pointing at keys that are neither synced nor on the server (one search per
        chunk of unknown keys), instead of letting one bad reference sink a whole transaction."""
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
                self._reject_write(w, reason, stage="reference")
            else:
                ok.append(w)
        return ok

    def _valid(self, w: PlannedWrite) -> bool:
        problems = check_resource(w.item.resource)
        if problems:
            self._reject_write(w, "; ".join(problems[:3]), stage="mapping")
        return not problems

    def _count_dry_run(self, writes: list[PlannedWrite]) -> None:
        creates = [(w.resource_type, w.key) for w in writes if w.action == "create"]
        self.resolver.prefetch(creates)  # a key already on the server would be updated, not created
        for w in writes:
            exists = w.action == "update" or self.resolver.known(w.resource_type, w.key)
            self._count(w.resource_type, "updated" if exists else "created")
            # dependants later in this dry run may point at it: it would exist by then
            self.resolver.learn(w.resource_type, w.key, w.server_id or "planned")

    def _write(self, writes: list[PlannedWrite]) -> None:
        by_type: dict[str, list[PlannedWrite]] = {}
        for w in writes:
            by_type.setdefault(w.resource_type, []).append(w)
        for resource_type, group in by_type.items():
            strategy = self.ctx.strategies.get(resource_type, "conditional_put")
            partitions: list[list[PlannedWrite]] = [[] for _ in self.writers]
            for w in group:
                partitions[_stable_hash(_partition_key(w)) % len(self.writers)].append(w)
            if len(self.writers) == 1:
                self.writers[0].write(partitions[0], self._record, strategy)
                continue
            with ThreadPoolExecutor(max_workers=len(self.writers), thread_name_prefix="fhirpeer-writer") as pool:
                futures = [
                    pool.submit(wr.write, part, self._record, strategy)
                    for wr, part in zip(self.writers, partitions, strict=True)
                    if part
                ]
                for f in futures:
                    f.result()

    def _record(self, outcomes: list[WriteOutcome]) -> None:
        """Called after each server round trip: persist confirmed writes first, then count."""
        written = [
            Written(o.write.resource_type, o.write.key, o.write.hash, o.server_id, o.version_id)
            for o in outcomes
            if o.result in ("created", "updated")
        ]
        if written:
            self.ctx.state.record_written(written, self.ctx.run_id)
        with self._lock:
            for o in outcomes:
                if o.result in ("created", "updated"):
                    self.report.count(o.write.resource_type, o.result)
                    self.resolver.learn(o.write.resource_type, o.write.key, o.server_id)
                elif o.result == "conflict":
                    self.report.conflicts.append(Conflict(o.write.resource_type, o.write.key, o.reason))
                    self.report.count(o.write.resource_type, "failed")
                    log.warning("conflict: %s left alone", o.write.resource_type,
                                extra={"resource_type": o.write.resource_type, "key": o.write.key})  # fmt: skip
                else:
                    self._reject_write(o.write, o.reason, stage="server")
        log.debug("round trip done", extra={"count": len(outcomes)})

    def _reject_write(self, w: PlannedWrite, reason: str, *, stage: str) -> None:
        src = w.item.sources[0]
        self._reject(Rejection(src.file, src.line, w.key, None, reason, stage=stage), w.resource_type)

    def _reject(self, rejection: Rejection, resource_type: str) -> None:
        with self._lock:
            self.report.reject(rejection)
            self.report.count(resource_type, "failed")
        log.debug("rejected %s:%s", rejection.file, rejection.line,
                  extra={"file": rejection.file, "line": rejection.line, "key": rejection.id})  # fmt: skip


def _partition_key(w: PlannedWrite) -> str:
    """Writes of one patient go to one worker, so no two workers ever send the same match URL."""
    patient = next((r.key for r in w.item.refs if r.resource_type == "Patient"), None)
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


def describe_strategies(strategies: dict[str, str]) -> str:
    """`transaction`, or `transaction (CareTeam: client_id_put)` when some types fall back."""
    if not strategies:
        return ""
    counts: dict[str, int] = {}
    for s in strategies.values():
        counts[s] = counts.get(s, 0) + 1
    main = max(counts, key=lambda s: counts[s])
    others = ", ".join(f"{t}: {s}" for t, s in strategies.items() if s != main)
    return f"{main} ({others})" if others else main


def _finish(ctx: SyncContext, report: RunReport, *, status: str) -> None:
    report.retries = int(ctx.clients[0].stats().get("retries", 0) or 0)  # one budget shared by all clients
    report.finished_at = ctx.state.finish_run(
        ctx.run_id, status=status, exit_code=report.exit_code, counts=report.to_dict()["counts"],
        rejected=len(report.rejected), conflicts=len(report.conflicts),
    )  # fmt: skip
