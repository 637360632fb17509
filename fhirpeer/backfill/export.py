"""`fhirpeer export-bulk`: an export folder → NDJSON bulk files that a server's bulk import stores exactly as sync
would have written them.

Every record is read, mapped and checked as `sync` does it (`pipeline.map_one`, `checks.check_resource`); each
resource gets the deterministic id sync uses for what it owns (`identity.resource_id`), fhirpeer's `meta.tag` and a
`meta.source` naming this export, and every reference becomes literal (`Type/<deterministic id>`): bulk imports
resolve no conditional references. A required reference must therefore point at a record of the same export (a
Patient only on the server has an id fhirpeer cannot know offline): otherwise the record is rejected, naming the
column, as sync rejects a reference that is nowhere. Optional references to what is not in the export are dropped,
as sync drops those that point nowhere.

The key sidecar gets each resource's business key and content hash and — when every resource of its input record
made it into the export — the record's fingerprint, so that an import can leave the state store as a sync would
have (`backfill.import_state`). Memory: the keys of the types other records point at (rosters, handoffs, care
teams) are kept to check references; nothing is kept per contact.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..bulk import NdjsonExportWriter
from ..bulk.key_sidecar import RecordOrigin
from ..bulk.manifest import IMPORT_ORDER, Manifest
from ..bulk.ndjson_files import DEFAULT_MAX_BYTES_PER_PART, DEFAULT_MAX_RESOURCES_PER_PART
from ..checks.resource_checks import check_resource
from ..content_hash import content_hash
from ..domain import InputKind, Outcome, OwnershipPolicy, Rejection, ResourceType, Skipped, Stage
from ..errors import ConfigError
from ..input.folder import InputFolder
from ..mappers import MappedResource, match_url
from ..mapping_files import Mappings
from ..pipeline import MappingOptions, fingerprint, lookups_of, map_one, mapping_context, mapping_digest, record_key
from ..run_report import RunReport
from ..settings import Settings
from ..sync_engine.identity import owned_tag, resource_id, run_source
from ..sync_engine.resolver import rewrite_references

#: Types no other record points at; their keys are not kept (contacts are most of an export).
_NEVER_REFERENCED = frozenset({ResourceType.ENCOUNTER, ResourceType.APPOINTMENT, ResourceType.TASK})


@dataclass(frozen=True)
class BulkExportResult:
    """What `export_bulk` wrote: the folder, its manifest (files, counts per type) and the run report (counts per
    type and outcome, the rejected records)."""

    out_dir: Path
    manifest: Manifest
    report: RunReport

    @property
    def counts(self) -> dict[str, int]:
        """Resources written per type, in import order."""
        return self.manifest.counts()


@dataclass(frozen=True)
class PartLimits:
    """The most resources and bytes one NDJSON part holds."""

    resources: int = DEFAULT_MAX_RESOURCES_PER_PART
    bytes: int = DEFAULT_MAX_BYTES_PER_PART


def refuse_linked_rosters(settings: Settings, kinds: list[InputKind]) -> None:
    """Master data under ownership `link` is the EHR's: sync points at its resources, whose ids only the server
    knows. A bulk file cannot, so such an export is refused before anything is written."""
    linked = [
        str(k.resource_type)
        for k in kinds
        if k.resource_type.is_roster and settings.ownership_of(k.resource_type) is OwnershipPolicy.LINK
    ]
    if linked:
        raise ConfigError(
            f"ownership policy link for {', '.join(linked)}: fhirpeer points at the EHR's records, whose server ids "
            "a bulk file cannot know; nothing was written. Use `fhirpeer sync` for this export."
        )


def export_bulk_files(
    folder: InputFolder,
    settings: Settings,
    mappings: Mappings,
    out_dir: Path,
    *,
    limits: PartLimits = PartLimits(),
    overwrite: bool = False,
) -> BulkExportResult:
    """Map, check and write every record of `folder` into `out_dir` (see the module docstring)."""
    started = time.perf_counter()
    kinds = folder.check()
    refuse_linked_rosters(settings, kinds)
    export_id = uuid.uuid4().hex[:12]
    report = RunReport(command="export-bulk", run_id=export_id, record_keys=False)
    report.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    namespace = mappings.identifiers.namespace
    exporter = _Exporter(mappings, MappingOptions.of(settings), report, run_source(namespace, export_id))
    writer = NdjsonExportWriter(
        out_dir, namespace=namespace, max_resources_per_part=limits.resources, max_bytes_per_part=limits.bytes,
        overwrite=overwrite, type_order=IMPORT_ORDER,
    )  # fmt: skip
    with writer:
        for kind in kinds:
            exporter.export_kind(folder, kind, writer)
    assert writer.manifest is not None
    report.seconds = time.perf_counter() - started
    report.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report.exit_code = 1 if report.rejected else 0
    if settings.hash_keys_in_reports:
        report.key_salt = namespace
    return BulkExportResult(Path(out_dir), writer.manifest, report)


class _Exporter:
    def __init__(self, mappings: Mappings, options: MappingOptions, report: RunReport, source: str):
        self.mappings = mappings
        self.options = options
        self.report = report
        self.namespace = mappings.identifiers.namespace
        self.tag = owned_tag(mappings.identifiers.local_code_system_base)
        self.source = source
        self.exported: dict[ResourceType, set[str]] = {}  # keys of referenced types in the files
        self.rejected_roots: dict[tuple[ResourceType, str], str] = {}  # master data rejected → where, for dependants

    def export_kind(self, folder: InputFolder, kind: InputKind, writer: NdjsonExportWriter) -> None:
        digest = mapping_digest(self.mappings, self.options, kind)
        lookups = lookups_of(folder) if kind is InputKind.CONTACTS else None
        for row in folder.records(kind):
            if isinstance(row, Rejection):
                self._reject(row)
                continue
            mapped = map_one(row, self.mappings, self.options, lookups=lookups)
            if isinstance(mapped, Skipped):
                self.report.count(mapped.resource_type, Outcome.SKIPPED)
                continue
            record_print = fingerprint(row, digest, mapping_context(row, lookups))
            self._export_record(mapped, RecordOrigin(kind.value, record_key(row), record_print), writer)

    def _export_record(self, mapped: list[MappedResource], origin: RecordOrigin, writer: NdjsonExportWriter) -> None:
        """Write a record's resources; its fingerprint goes with them only when none of them was rejected."""
        passed: list[MappedResource] = []
        for item in mapped:
            if item.only_if_exists:  # an update of what a sync sent before: a bulk file only creates
                self.report.count(item.resource_type, Outcome.ONLY_IF_EXISTS)
                continue
            reason, stage = self._problem(item)
            if reason:
                src = item.sources[0]
                self._reject(Rejection(src.file, src.line, item.key, None, reason, item.resource_type, stage))
            else:
                passed.append(item)
                if item.resource_type not in _NEVER_REFERENCED:  # a later resource of the record may point at it
                    self.exported.setdefault(item.resource_type, set()).add(item.key)
        complete = len(passed) == sum(1 for i in mapped if not i.only_if_exists)
        for item in passed:
            writer.add(
                self.bulk_form(item), key=item.key, content_hash=content_hash(item.resource),
                record=origin if complete else None,
            )  # fmt: skip
            self.report.count(item.resource_type, Outcome.VALID)

    def _problem(self, item: MappedResource) -> tuple[str, Stage]:
        problems = check_resource(item.resource)
        if problems:
            return "; ".join(problems[:3]), Stage.MAPPING
        missing = [r for r in item.refs if not r.optional and r.key not in self.exported.get(r.resource_type, ())]
        if missing:
            return "; ".join(self._missing_reason(r.resource_type, r.key, r.column) for r in missing), Stage.REFERENCE
        return "", Stage.MAPPING

    def _missing_reason(self, rtype: ResourceType, key: str, column: str) -> str:
        root = self.rejected_roots.get((rtype, key))
        if root:
            return f"{column}: {rtype} {key} {root}"
        return (
            f"{column}: no {rtype} with this key in the export (a bulk file can only point at records of the same "
            "export; `fhirpeer sync` finds those already on the server)"
        )

    def bulk_form(self, item: MappedResource) -> dict[str, object]:
        """The resource as a bulk file holds it: what sync would send to `Type/<deterministic id>`."""
        replace: dict[str, str | None] = {}
        for ref in item.refs:
            url = match_url(self.mappings, ref.resource_type, ref.key)
            if ref.key in self.exported.get(ref.resource_type, ()):
                replace[url] = f"{ref.resource_type}/{resource_id(self.namespace, ref.resource_type, ref.key)}"
            else:  # only optional references get here (the others were rejected)
                replace[url] = None
        resource = rewrite_references(item.resource, replace) if replace else dict(item.resource)
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), self.tag]
        meta["source"] = self.source
        return {
            "resourceType": resource["resourceType"],
            "id": resource_id(self.namespace, item.resource_type, item.key),
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id")},
            "meta": meta,
        }

    def _reject(self, rejection: Rejection) -> None:
        self.report.reject(rejection)
        self.report.count(rejection.resource_type, Outcome.FAILED)
        if rejection.resource_type.is_roster and rejection.id:
            cause = f" ({rejection.column})" if rejection.column else ""
            self.rejected_roots[(rejection.resource_type, rejection.id)] = f"rejected at {rejection.where}{cause}"
