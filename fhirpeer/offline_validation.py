"""`fhirpeer validate`: map and check a whole export offline; write nothing to any server."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

from .checks.resource_checks import check_resource
from .domain import Outcome, Rejection, ResourceType, Skipped, Stage
from .input.folder import InputFolder
from .mappers import MappedResource
from .mapping_files import Mappings
from .pipeline import MappingOptions, mapped_items
from .preview_files import BundleFolderWriter, NdjsonWriter
from .run_report import RunReport
from .settings import Settings


def validate_export(
    input_dir: Path,
    settings: Settings,
    mappings: Mappings,
    *,
    ndjson_dir: Path | None = None,
    bundles_dir: Path | None = None,
    check_structure: bool = True,
) -> RunReport:
    """Map every record, check every resource, count; optionally write what would be sent."""
    started = time.perf_counter()
    report = RunReport(command="validate")
    folder = InputFolder.for_settings(input_dir, mappings, settings)
    kinds = folder.check()
    options = MappingOptions.of(settings)
    writers: list[NdjsonWriter | BundleFolderWriter] = []
    if ndjson_dir:
        writers.append(NdjsonWriter(ndjson_dir))
    if bundles_dir:
        writers.append(BundleFolderWriter(bundles_dir, mappings, settings.bundle_entries()))
    keys: defaultdict[ResourceType, set[str]] = defaultdict(set)  # what this export would create, per type
    present = {t for k in kinds for t in k.resource_types}
    dangling: Counter[tuple[str, str]] = Counter()
    try:
        for kind in kinds:
            for item in mapped_items(folder, kind, mappings, options):
                if isinstance(item, Rejection):
                    report.reject_record(item)
                elif isinstance(item, Skipped):
                    report.skip(item)
                else:
                    _accept(item, report, writers, keys, present, dangling, check_structure)
    finally:
        for writer in writers:
            writer.close()
    report.warnings.extend(folder.warnings)
    report.files = folder.summaries()
    for (file, column), n in sorted(dangling.items()):
        report.warn(f"{n} reference(s) to keys not in this export (they must exist on the server)", file, None, column)
    report.seconds = time.perf_counter() - started
    report.exit_code = 1 if report.rejected else 0
    return report


def _accept(
    item: MappedResource,
    report: RunReport,
    writers: list[NdjsonWriter | BundleFolderWriter],
    keys: defaultdict[ResourceType, set[str]],
    present: set[ResourceType],
    dangling: Counter[tuple[str, str]],
    check_structure: bool,
) -> None:
    problems = check_resource(item.resource) if check_structure else []
    if problems:
        src = item.sources[0]
        report.reject(
            Rejection(src.file, src.line, item.key, None, "; ".join(problems[:3]), item.resource_type, Stage.MAPPING)
        )
        report.count(item.resource_type, Outcome.FAILED)
        return
    if item.only_if_exists:  # offline nobody knows whether the server holds the key: counted, never previewed
        report.count(item.resource_type, Outcome.ONLY_IF_EXISTS)
        return
    for ref in item.refs:  # an optional reference is dropped when its target is nowhere: it never dangles
        if not ref.optional and ref.resource_type in present and ref.key not in keys[ref.resource_type]:
            dangling[(item.sources[0].file, ref.column)] += 1
    keys[item.resource_type].add(item.key)
    report.count(item.resource_type, Outcome.VALID)
    for writer in writers:
        writer.write(item)
