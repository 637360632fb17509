"""`fhirpeer validate`: map and check a whole export offline; write nothing to any server."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from .config import Settings
from .export import RESOURCE_OF_KIND, Export, Skipped
from .mappers import MappedResource
from .mappings import Mappings
from .outputs import BundleFolderWriter, NdjsonWriter
from .readers import Rejection
from .report import RunReport
from .validation import check_resource


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
    export = Export(input_dir, mappings, settings)
    kinds = export.check()
    writers: list[NdjsonWriter | BundleFolderWriter] = []
    if ndjson_dir:
        writers.append(NdjsonWriter(ndjson_dir))
    if bundles_dir:
        writers.append(BundleFolderWriter(bundles_dir, mappings, settings.batch_size))
    roster_keys: dict[str, set[str]] = {"Patient": set(), "Practitioner": set(), "Organization": set()}
    present = {RESOURCE_OF_KIND[k.name] for k in kinds}
    dangling: Counter[str] = Counter()
    try:
        for kind in kinds:
            for item in export.mapped(kind):
                if isinstance(item, Rejection):
                    report.reject(item)
                    report.count(RESOURCE_OF_KIND[kind.name], "failed")
                elif isinstance(item, Skipped):
                    report.count(item.resource_type, "skipped")
                else:
                    _accept(item, report, writers, roster_keys, present, dangling, check_structure)
    finally:
        for writer in writers:
            writer.close()
    for where, n in sorted(dangling.items()):
        report.warnings.append(f"{where}: {n} reference(s) to keys not in this export (they must exist on the server)")
    report.seconds = time.perf_counter() - started
    report.exit_code = 1 if report.rejected else 0
    return report


def _accept(
    item: MappedResource,
    report: RunReport,
    writers: list[NdjsonWriter | BundleFolderWriter],
    roster_keys: dict[str, set[str]],
    present: set[str],
    dangling: Counter[str],
    check_structure: bool,
) -> None:
    problems = check_resource(item.resource) if check_structure else []
    if problems:
        src = item.sources[0]
        report.reject(Rejection(src.file, src.line, item.key, None, "; ".join(problems[:3]), stage="mapping"))
        report.count(item.resource_type, "failed")
        return
    if item.resource_type in roster_keys:
        roster_keys[item.resource_type].add(item.key)
    for ref in item.refs:
        if ref.resource_type in present and ref.key not in roster_keys[ref.resource_type]:
            dangling[f"{item.sources[0].file} {ref.column}"] += 1
    report.count(item.resource_type, "valid")
    for writer in writers:
        writer.write(item)
