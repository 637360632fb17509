"""The sync engine: export → plan against the state store and the server → write → record, one chunk at a time.

Data flows one way: `InputFolder.records` (read) → fingerprint check (unchanged records are not even mapped) →
`map_one` (map) → checks → reference resolution → `Planner` (state + server) → a write strategy (server) →
`StateStore` + `RunReport`. Kinds are synced in write order (rosters first); within a chunk, resource types are
written in write order too, so whatever a resource points at is on the server before it. Memory stays bounded:
records stream in chunks and what the run learns is kept in bounded caches backed by the state store.
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
from typing import cast

from ..checks.resource_checks import check_resource
from ..domain import InputKind, Outcome, Rejection, ResourceType, Skipped, Stage, WriteStrategy
from ..errors import AuthError, FhirpeerError, InternalError, RunAborted, ServerError
from ..input.folder import InputFolder
from ..input.row_skip import RowSkip, Unchanged
from ..mappers import MappedResource, Ref
from ..mapping_files import Mappings
from ..pipeline import (
    ExportLookups,
    MappingOptions,
    fingerprint,
    lookups_of,
    map_one,
    mapping_context,
    mapping_digest,
    record_key,
    row_digest,
)
from ..records import Accepted, TeamRows
from ..run_report import Conflict, RunReport
from ..settings import Settings
from ..transport.client import FhirClient
from .coverage import ExportCoverage
from .identity import owned_tag, run_source
from .outgoing import Outgoing
from .planner import Action, PlannedWrite, Planner, PlannerConfig
from .provenance import ProvenanceTarget, ProvenanceWriter
from .receiver import RECEIVER_KEPT, RECEIVER_OWNED_TYPES
from .resolver import CACHE_SIZE, ReferenceResolver
from .retraction import Retractor, settle_absent
from .server_lookup import ServerLookup
from .state import OWNER_EHR, OWNER_FHIRPEER, OWNER_RECEIVER, RecordSynced, StateStore, Written
from .strategies import STRATEGY_CLASSES, Strategy, WriteOutcome

log = logging.getLogger("fhirpeer.sync")

_Read = Accepted | Unchanged | TeamRows | Rejection  # what reading a kind yields


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
    """Everything one sync run works with. `lookup_client` serves the prepare thread (searches); each of
    `write_clients` serves one writer thread — one HTTP session per thread. `client_ids` says per type whether the
    server takes client-assigned ids."""

    folder: InputFolder
    settings: Settings
    mappings: Mappings
    state: StateStore
    lookup_client: FhirClient
    write_clients: list[FhirClient]
    strategies: dict[ResourceType, WriteStrategy]
    client_ids: dict[ResourceType, bool] = field(default_factory=dict)
    dry_run: bool = False
    on_progress: ProgressCallback | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    options: MappingOptions = field(init=False)

    def __post_init__(self) -> None:
        self.options = MappingOptions.of(self.settings)


@dataclass
class TypePlan:
    """One resource type's share of a prepared chunk; `failed`: (type, key) of what was stopped before writing."""

    resource_type: ResourceType
    writes: list[PlannedWrite]
    record: list[Written]
    failed: set[tuple[str, str]] = field(default_factory=set)
    skipped: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class PreparedChunk:
    """A chunk read, fingerprinted, mapped, checked and planned — ready to write, type by type."""

    rows: int
    types: list[TypePlan]
    records: dict[tuple[str, str], RecordSynced]  # (kind, key) → fingerprint, recorded once all its writes succeed
    items_of: dict[tuple[str, str], tuple[str, str]]  # (resource type, key) → its record (kind, key)


class SyncEngine:
    def __init__(self, ctx: SyncContext, report: RunReport):
        self.ctx = ctx
        self.report = report
        m, settings = ctx.mappings, ctx.settings
        self.lookup = ServerLookup(ctx.lookup_client)
        # a key the state store lacks is searched on the server only when the server may hold it (the planner's
        # count per type): a first sync does not search for the Appointment of every completed contact
        # the cache holds the chunk being written and the one being prepared, with their references, many times over
        cache_size = max(CACHE_SIZE, 16 * self._chunk_size())
        self.resolver = ReferenceResolver(
            ctx.state, self.lookup, m, cache_size=cache_size, search_needed=self._search_needed
        )
        self.tag = owned_tag(m.identifiers.local_code_system_base)
        self.outgoing = Outgoing(self.resolver, self.tag, run_source(m.identifiers.namespace, ctx.run_id))
        config = PlannerConfig(
            ownership={t: settings.ownership_of(t) for t in ResourceType if t.is_roster},
            addressing={t: self._strategy_class(t).addressing(ctx.client_ids.get(t, False)) for t in ResourceType},
            conflict_policy=settings.conflict_policy,
            owned_tag=self.tag,
        )
        self.planner = Planner(ctx.state, self.lookup, m, config, self.outgoing.resource)
        self._lookups: ExportLookups | None = None  # read when contacts come (after sites and enrollments)
        self._digests: dict[InputKind, str] = {}  # mapping_digest per kind, for the fingerprints of care teams
        self.coverage = ExportCoverage(ctx.state, keep_keys=settings.full_export)
        self.provenance: ProvenanceWriter | None = None
        has_provenance = {ResourceType.DEVICE, ResourceType.PROVENANCE} <= set(ctx.strategies)
        if settings.provenance and has_provenance and not ctx.dry_run:
            target = ProvenanceTarget(ctx.write_clients[0], m, ctx.state, ctx.run_id, settings.part2_labels,
                                      ctx.client_ids)  # fmt: skip
            self.provenance = ProvenanceWriter(target, self.outgoing)
        self._lock = threading.RLock()  # report counts come from the prepare thread and writer threads
        self._failed: set[tuple[str, str]] = set()  # (type, key) of this chunk's writes that did not land
        self._rejected_roots: dict[tuple[str, str], str] = {}  # master data rejected this run → why, for dependants

    def _chunk_size(self) -> int:
        """Records read, mapped and planned at a time: two batches per writer."""
        return max(self.ctx.settings.bundle_entries() * len(self.ctx.write_clients) * 2, 500)

    def _search_needed(self, resource_type: ResourceType) -> bool:
        return self.planner.search_needed(resource_type)

    def _strategy_class(self, resource_type: ResourceType) -> type[Strategy]:
        return STRATEGY_CLASSES[self.ctx.strategies.get(resource_type, WriteStrategy.CONDITIONAL_PUT)]

    def run(self) -> None:
        """Sync kind by kind (rosters first). The next chunk is read, mapped, planned and checked on a helper
        thread while the current one is on the server, so client CPU and server time overlap — across kinds too:
        the first chunk of a kind is prepared while the last one of the kind before is written. Dependants still
        plan against rosters that are written or planned: every earlier chunk is written and recorded by then, and
        what the last one writes the resolver already expects (its ids, where they are client ids)."""
        chunk_size = self._chunk_size()
        kinds = list(self.ctx.folder.check())
        steps = self._prepared_steps(kinds, chunk_size)
        current: InputKind | None = None
        done = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhirpeer-prepare") as prep:
            pending = prep.submit(next, steps, None)
            while (step := pending.result()) is not None:
                pending = prep.submit(next, steps, None)
                kind, prepared = step
                if kind is not current:  # the kind before is written
                    if current is not None:
                        self._progress(current.resource_type, done, self._total(current), finished=True)
                    current, done = kind, 0
                if prepared is not None:
                    self._dispatch(prepared)
                    done += prepared.rows
                    self._progress(kind.resource_type, done, self._total(kind), finished=False)
        if current is not None:
            self._progress(current.resource_type, done, self._total(current), finished=True)
        if self.provenance is not None:
            self.provenance.flush()
            for warning in self.provenance.warnings:
                self.report.warn(warning)

    def _total(self, kind: InputKind) -> int | None:
        """Rows of a kind, for a progress bar (care_team rows are grouped into teams: no total)."""
        return None if kind is InputKind.CARE_TEAM else self.ctx.folder.count_rows(kind)

    def _row_skip(self, kind: InputKind) -> RowSkip | None:
        """How the reader skips `kind`'s unchanged rows before parsing them (care teams are grouped first: their
        teams are fingerprinted once parsed). A dry run skips nothing, as before."""
        if kind is InputKind.CARE_TEAM:
            return None
        digest = row_digest(self.ctx.mappings, self.ctx.options, kind, self.ctx.folder.vocab)
        if self.ctx.dry_run:
            return RowSkip(digest, lambda keys: {})
        context = self._contact_lookups().row_context if kind is InputKind.CONTACTS else None
        return RowSkip(digest, lambda keys: self.ctx.state.record_fingerprints(kind.value, keys), context)

    def _contact_lookups(self) -> ExportLookups:
        """Read once, when contacts come (sites and enrollments were read by then)."""
        if self._lookups is None:
            self._lookups = lookups_of(self.ctx.folder)
        return self._lookups

    def _progress(self, resource_type: ResourceType, done: int, total: int | None, *, finished: bool) -> None:
        if self.ctx.on_progress is None:
            return
        with self._lock:
            counts = dict(self.report.counts.get(resource_type, {}))
        self.ctx.on_progress(SyncProgress(resource_type, done, total, finished, counts))

    # --- prepare (helper thread) -----------------------------------------------------------------------------
    def _prepared_steps(
        self, kinds: list[InputKind], chunk_size: int
    ) -> Iterator[tuple[InputKind, PreparedChunk | None]]:
        """Every kind's prepared chunks in write order (`(kind, None)` for a kind without rows); advanced only on
        the prepare thread."""
        for kind in kinds:
            chunks = _chunks(self.ctx.folder.records(kind, self._row_skip(kind)), chunk_size)
            empty = True
            while (prepared := self._prepare(kind, chunks)) is not None:
                empty = False
                yield kind, prepared
            if empty:
                yield kind, None

    def _prepare(self, kind: InputKind, chunks: Iterator[list[_Read]]) -> PreparedChunk | None:
        """Read the next chunk and turn it into the writes it needs (None when the kind is done)."""
        rows = next(chunks, None)
        if rows is None:
            return None
        self.coverage.note(kind, rows)  # type: ignore[arg-type]  # an Unchanged row has record.key too
        records: list[Accepted | TeamRows] = []
        unchanged: list[RecordSynced] = []
        for row in rows:
            if isinstance(row, Rejection):
                self._reject(row)
            elif isinstance(row, Unchanged):  # not even parsed
                unchanged.append(cast(RecordSynced, row.known))
            else:
                records.append(row)
        lookups = self._contact_lookups() if kind is InputKind.CONTACTS else None
        fingerprints = {record_key(r): self._fingerprint(kind, r, lookups) for r in records}
        synced = {} if self.ctx.dry_run else self.ctx.state.record_fingerprints(kind.value, fingerprints)
        by_type: dict[ResourceType, list[MappedResource]] = {}
        pending: dict[tuple[str, str], RecordSynced] = {}
        items_of: dict[tuple[str, str], tuple[str, str]] = {}
        for record in records:
            key = record_key(record)
            known = synced.get(key)
            if known is not None and known.fingerprint == fingerprints[key]:
                unchanged.append(known)
                continue
            mapped = map_one(record, self.ctx.mappings, self.ctx.options, lookups=lookups)
            if isinstance(mapped, Skipped):
                self._skip(mapped)
                continue
            pending[(kind.value, key)] = RecordSynced(
                kind.value, key, fingerprints[key], tuple(i.resource_type for i in mapped)
            )
            for item in mapped:
                by_type.setdefault(item.resource_type, []).append(item)
                items_of[(str(item.resource_type), item.key)] = (kind.value, key)
        self._count_unchanged(unchanged)
        plans = [self._plan_type(rtype, by_type[rtype]) for rtype in ResourceType if rtype in by_type]
        self._prepare_bodies(plans)
        for type_plan in plans:  # a record that did not get through is mapped again next time
            for failed in type_plan.failed:
                pending.pop(items_of[failed], None)
            for skipped in type_plan.skipped:  # nothing was sent for it: not counted on a skipping rerun
                record = pending.get(items_of[skipped])
                if record is not None:
                    types = tuple(t for t in record.types if t != skipped[0])
                    pending[items_of[skipped]] = RecordSynced(record.kind, record.key, record.fingerprint, types)
                    if not types and type_plan.resource_type in self.ctx.strategies:
                        # update-only resources, none of them on the server (a contact entered in error that
                        # was never sent): the record is skipped, under its last type (write order: the main one)
                        self._count(type_plan.resource_type, Outcome.SKIPPED)
        return PreparedChunk(len(rows), plans, pending, items_of)

    def _fingerprint(self, kind: InputKind, record: Accepted | TeamRows, lookups: ExportLookups | None) -> str:
        """The fingerprint to record: the row's, as the reader took it; a care team's, of its parsed rows."""
        if isinstance(record, Accepted) and record.fingerprint is not None:
            return record.fingerprint
        digest = self._digests.get(kind)
        if digest is None:
            digest = self._digests[kind] = mapping_digest(self.ctx.mappings, self.ctx.options, kind)
        return fingerprint(record, digest, mapping_context(record, lookups))

    def _prepare_bodies(self, plans: list[TypePlan]) -> None:
        """Build here, while the previous chunk is on the server, what each write sends — when its references
        already resolve (client ids, rosters written before). The rest (a reference to a resource this chunk creates
        by conditional create) is built by the writer once that id is known."""
        for type_plan in plans:
            for w in type_plan.writes:
                if w.body is None and self.resolver.resolved(w.item):
                    body_id = w.server_id if w.by_id else None
                    w.prepared = self.outgoing.resource(w.item, require_all=True, body_id=body_id)

    def _count_unchanged(self, records: list[RecordSynced]) -> None:
        """Records not even mapped: their resources stand as fhirpeer last wrote them — or as their receiver moved
        them on, which is reported as such (the state store knows it from a sync or `fhirpeer outcomes`)."""
        moved: set[tuple[str, str]] = set()
        for rtype in RECEIVER_OWNED_TYPES:
            keys = [r.key for r in records if rtype in r.types]
            rows = self.ctx.state.lookup(rtype, keys) if keys else {}
            moved |= {(str(rtype), k) for k, row in rows.items() if row.owner == OWNER_RECEIVER}
        for record in records:
            for rtype in record.types:
                if (rtype, record.key) in moved:
                    self._kept_by_receiver(ResourceType(rtype), record.key, RECEIVER_KEPT)
                else:
                    self._count(rtype, Outcome.UNCHANGED)

    def _plan_type(self, rtype: ResourceType, items: list[MappedResource]) -> TypePlan:
        """Check, resolve and plan one type's resources of a chunk; count what needs no write."""
        if rtype not in self.ctx.strategies:  # an optional type the server cannot take (check-server warned)
            self._count(rtype, Outcome.SKIPPED, len(items))
            return TypePlan(rtype, [], [], skipped={(str(i.resource_type), i.key) for i in items})
        valid = [i for i in items if self._valid(i)]
        resolvable = self._check_references(valid)
        plan = self.planner.plan(resolvable, always_search=self._strategy_class(rtype).always_search)
        passed = {id(i) for i in resolvable}
        stopped = [
            *(i for i in items if id(i) not in passed),
            *(i for i, _ in plan.conflicts),
            *(i for i, _ in plan.rejected),
        ]
        self._count(rtype, Outcome.UNCHANGED, len(plan.unchanged))
        self._count(rtype, Outcome.LINKED, len(plan.linked))
        for item, reason in plan.conflicts:
            self._conflict(rtype, item.key, reason, item)
        for item, reason in plan.rejected:
            self._reject_item(item, reason, Stage.SERVER)
        for item, reason in plan.kept_by_receiver:
            self._kept_by_receiver(rtype, item.key, reason)
        for item, reason in plan.skipped:  # update-only, nothing to update: counted once for its whole record
            log.debug("skipped %s: %s", rtype, reason, extra={"resource_type": str(rtype), "key": item.key})
        for written in plan.record:
            self.resolver.learn(written.resource_type, written.key, written.server_id)
        for w in plan.writes:  # later types of this chunk may point at these
            self.resolver.expect(w.resource_type, w.key, w.server_id)
        failed = {(str(i.resource_type), i.key) for i in stopped}
        skipped = {(str(i.resource_type), i.key) for i, _ in plan.skipped}
        if self.ctx.dry_run:
            for w in plan.writes:
                self._count(rtype, Outcome.CREATED if w.action is Action.CREATE else Outcome.UPDATED)
            return TypePlan(rtype, [], [], failed, skipped)
        return TypePlan(rtype, plan.writes, plan.record, failed, skipped)

    def _valid(self, item: MappedResource) -> bool:
        problems = check_resource(item.resource)
        if problems:
            self._reject_item(item, "; ".join(problems[:3]), Stage.MAPPING)
        return not problems

    def _check_references(self, items: list[MappedResource]) -> list[MappedResource]:
        """Reject records pointing at keys that are neither synced nor on the server (one search per chunk of
        unknown keys), instead of letting one bad reference sink a whole transaction. A reference to master data
        rejected earlier in this run names that root cause."""
        refs = {(r.resource_type, r.key) for i in items for r in i.refs}
        if not refs:
            return items
        self.resolver.prefetch(refs)
        ok: list[MappedResource] = []
        for item in items:
            missing = [r for r in item.refs if not self.resolver.known(r.resource_type, r.key) and not r.optional]
            if missing:
                self._reject_item(item, "; ".join(self._missing_reason(r) for r in missing), Stage.REFERENCE)
            else:
                ok.append(item)
        return ok

    def _missing_reason(self, ref: Ref) -> str:
        root = self._rejected_roots.get((str(ref.resource_type), ref.key))
        if root:
            return f"{ref.column}: {ref.resource_type} {ref.key} {root}"
        return f"{ref.column}: no {ref.resource_type} with this key in the export or on the server"

    # --- write (main thread) -------------------------------------------------------------------------------
    def _dispatch(self, prepared: PreparedChunk) -> None:
        if self.ctx.dry_run:
            return
        self._failed = set()
        if self.provenance is not None and any(t.writes for t in prepared.types):
            self.provenance.ensure_device()
        for group in self._write_groups(prepared.types):
            for type_plan in group:
                if type_plan.record:
                    self.ctx.state.record_written(type_plan.record, self.ctx.run_id)
            writes = [w for type_plan in group for w in type_plan.writes]
            if writes:
                self._write(writes, self._writers(group[0].resource_type))
                if self.provenance is not None:
                    self.provenance.flush()
        failed_records = {prepared.items_of.get(item) for item in self._failed}
        done = [r for key, r in prepared.records.items() if key not in failed_records]
        if done:
            self.ctx.state.record_records(done, self.ctx.run_id)

    def _write_groups(self, plans: list[TypePlan]) -> Iterator[list[TypePlan]]:
        """A chunk's types, in write order, grouped into what is written together: consecutive types whose
        strategy puts several types in one Bundle share full Bundles, as long as every body of the later types is
        built already (its references resolved). A type that points at what an earlier type of the chunk creates
        by conditional create waits until those ids are known: it starts a group of its own."""
        group: list[TypePlan] = []
        for plan in plans:
            cls = self._strategy_class(plan.resource_type)
            joins = (
                group
                and cls.mixes_types
                and cls is self._strategy_class(group[0].resource_type)
                and all(w.prepared is not None or w.body is not None for w in plan.writes)
            )
            if group and not joins:
                yield group
                group = []
            group.append(plan)
        if group:
            yield group

    def _writers(self, resource_type: ResourceType) -> list[Strategy]:
        cls = self._strategy_class(resource_type)
        provenance = self.provenance if cls.mixes_types else None  # else sent after the writes, by `flush`
        return [
            cls(c, self.ctx.mappings, self.resolver, self.outgoing, batch_size=self.ctx.settings.bundle_entries(),
                provenance=provenance)
            for c in self.ctx.write_clients
        ]  # fmt: skip

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
        landed = [o for o in outcomes if o.result in (Outcome.CREATED, Outcome.UPDATED, Outcome.LINKED)]
        kept = [o for o in outcomes if o.result is Outcome.CHANGED_BY_RECEIVER]
        if landed or kept:
            self.ctx.state.record_written(
                [Written(o.write.resource_type, o.write.key, o.write.hash, o.server_id, o.version_id, _owner(o))
                 for o in (*landed, *kept)],
                self.ctx.run_id,
            )  # fmt: skip
        with self._lock:
            for o in outcomes:
                w = o.write
                if o.result in (Outcome.CREATED, Outcome.UPDATED, Outcome.LINKED):
                    self.report.count(w.resource_type, o.result, key=w.key)
                    self.resolver.learn(w.resource_type, w.key, o.server_id)
                elif o.result is Outcome.CHANGED_BY_RECEIVER:
                    self._kept_by_receiver(w.resource_type, w.key, o.reason)
                elif o.result is Outcome.CONFLICT:
                    self._failed.add((str(w.resource_type), w.key))
                    self._conflict(w.resource_type, w.key, o.reason, w.item)
                else:
                    self._failed.add((str(w.resource_type), w.key))
                    self._reject_item(w.item, o.reason, Stage.SERVER)
        if self.provenance is not None:
            self.provenance.add([o for o in landed if not o.provenance_recorded])
        log.debug("round trip done", extra={"count": len(outcomes)})

    # --- counting --------------------------------------------------------------------------------------------
    def _count(self, resource_type: str, outcome: Outcome, n: int = 1) -> None:
        if n:
            with self._lock:
                self.report.count(resource_type, outcome, n)

    def _skip(self, skipped: Skipped) -> None:
        with self._lock:
            self.report.skip(skipped)

    def _conflict(self, resource_type: ResourceType, key: str, reason: str, item: MappedResource) -> None:
        with self._lock:
            self.report.conflicts.append(Conflict(resource_type, key, reason))
            self.report.count(resource_type, Outcome.CONFLICT)
        log.warning("conflict: %s left alone", resource_type, extra={"resource_type": str(resource_type), "key": key})

    def _kept_by_receiver(self, resource_type: ResourceType, key: str, reason: str) -> None:
        with self._lock:
            self.report.kept_by_receiver.append(Conflict(resource_type, key, reason))
            self.report.count(resource_type, Outcome.CHANGED_BY_RECEIVER)

    def _reject_item(self, item: MappedResource, reason: str, stage: Stage) -> None:
        src = item.sources[0]
        self._reject(Rejection(src.file, src.line, item.key, None, reason, item.resource_type, stage))

    def _reject(self, rejection: Rejection) -> None:
        with self._lock:
            self.report.reject_record(rejection)
            if rejection.resource_type.is_roster and rejection.id:
                cause = f" ({rejection.column})" if rejection.column else ""
                self._rejected_roots[(str(rejection.resource_type), rejection.id)] = (
                    f"rejected at {rejection.where}{cause}"
                )
        log.debug("rejected %s:%s", rejection.file, rejection.line,
                  extra={"file": rejection.file, "line": rejection.line, "key": rejection.id})  # fmt: skip

    # --- after the last kind ------------------------------------------------------------------------------------
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


def _owner(outcome: WriteOutcome) -> str:
    """Who owns a resource after a write's outcome (`synced.owner`)."""
    if outcome.result is Outcome.LINKED:
        return OWNER_EHR
    if outcome.result is Outcome.CHANGED_BY_RECEIVER or outcome.write.body is not None or outcome.receiver:
        return OWNER_RECEIVER
    return OWNER_FHIRPEER


def _root_cause(rejection: Rejection) -> str:
    """How a dependant names the master-data record that took it down: where it is and, briefly, why."""
    why = rejection.column or rejection.reason.split(";")[0].split(" (")[0][:100]
    return f"rejected at {rejection.where} ({why})"


def _partition_key(w: PlannedWrite) -> str:
    """Writes of one patient go to one worker, so no two workers ever send the same match URL."""
    patient = next((r.key for r in w.item.refs if r.resource_type is ResourceType.PATIENT), None)
    return f"Patient/{patient}" if patient else f"{w.resource_type}/{w.key}"


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def _chunks(items: Iterable[_Read], size: int) -> Iterator[list[_Read]]:
    chunk: list[_Read] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_sync(ctx: SyncContext) -> RunReport:
    """Run one sync (or dry run) and return its report — exit code 0, 1 or 6 (more rejected than
    `max_rejected` allows; the caller raises). A run that fails part-way raises a `FhirpeerError` carrying the
    partial report, after recording how it ended. The caller owns lock, clients and state."""
    report = RunReport(
        command="sync --dry-run" if ctx.dry_run else "sync", run_id=ctx.run_id,
        strategy=describe_strategies(ctx.strategies), server=ctx.settings.server,
        record_keys=ctx.settings.report_keys,
        key_salt=ctx.mappings.identifiers.namespace if ctx.settings.hash_keys_in_reports else None,
    )  # fmt: skip
    started = time.perf_counter()
    report.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not ctx.dry_run:
        report.started_at = ctx.state.begin_run(ctx.run_id, report.command, report.server)
    try:
        engine = SyncEngine(ctx, report)
        engine.run()
        engine.finish_export()
    except ServerError as exc:
        error = _server_failure(exc, report)
        _stop(ctx, report, started, error, status="aborted" if error.exit_code == 5 else "failed")
        if error is exc:
            raise
        raise error from exc
    except FhirpeerError as exc:
        _stop(ctx, report, started, exc, status="failed")
        raise
    except Exception as exc:
        error = InternalError(f"internal error: {type(exc).__name__}", report=report)
        _stop(ctx, report, started, error, status="failed")
        raise error from exc
    except KeyboardInterrupt:
        report.exit_code = 130
        report.fail("interrupted", "interrupted; every write the server confirmed is recorded, a rerun finishes")
        report.seconds = time.perf_counter() - started
        if not ctx.dry_run:
            _finish(ctx, report, status="interrupted")
        raise
    report.exit_code = 1 if (report.rejected or report.conflicts or report.failed) else 0
    report.check_rejection_limit(ctx.settings.rejection_limit)
    report.seconds = time.perf_counter() - started
    if not ctx.dry_run:
        ctx.state.replace_rejections(report.rejected, ctx.run_id)
        ctx.state.replace_conflicts(((str(c.resource_type), c.key, c.reason) for c in report.conflicts), ctx.run_id)
        _finish(ctx, report, status="finished")
    return report


def _server_failure(exc: ServerError, report: RunReport) -> FhirpeerError:
    """What a server failure part-way means: refused credentials stay exit 3 (a rerun will not help); any
    other failure after confirmed writes aborts the run (exit 5, a rerun finishes the job); before any write
    it is the server failure itself (exit 3, nothing written)."""
    if isinstance(exc, AuthError) or report.written == 0:
        exc.report = report
        return exc
    return RunAborted(
        f"aborted part-way by the server: {exc}; {report.written} record(s) were confirmed and recorded",
        cause=exc, report=report,
    )  # fmt: skip


def _stop(ctx: SyncContext, report: RunReport, started: float, error: FhirpeerError, *, status: str) -> None:
    """Record how a failed run ended, in the report (attached to `error`) and in the state store."""
    error.report = report
    report.exit_code = error.exit_code
    report.fail(error.category, str(error))
    report.seconds = time.perf_counter() - started
    if ctx.dry_run:
        return
    try:
        _finish(ctx, report, status=status)
    except Exception as exc:  # the state store may be what failed; the original error is what matters
        log.warning("could not record the end of run %s in the state store: %s", ctx.run_id, type(exc).__name__)


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
        ctx.run_id, status=status, exit_code=report.exit_code, counts=report.counts_dict(),
        rejected=len(report.rejected), conflicts=len(report.conflicts),
        error=(report.error.category, report.error.message) if report.error else None,
    )  # fmt: skip
