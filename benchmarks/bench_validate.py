"""Throughput of `fhirpeer validate` on a seeded ~100k-contact export, and where its time goes.

    /tmp/v/bin/python benchmarks/bench_validate.py                  # 100k contacts (about 4-5 min)
    /tmp/v/bin/python benchmarks/bench_validate.py --contacts 5000  # quick look

Measured in one run, on the same export (generated once, then cached in the temp dir):

1. `fhirpeer.api.validate` end to end (the CLI's code path, in-process) → records/s and resources/s.
2. A stage split, each stage timed on its own over the same records: CSV reading + pydantic records;
   mapping to FHIR dicts; R4B model validation (`fhirpeer.validation.check_resource`); the content hash
   the sync planner computes (`fhirpeer.state.content_hash`; validate itself does not hash).
3. Pure upper bounds: `csv.reader` alone over the files; `json.dumps` of the mapped dicts.
4. cProfile of the end-to-end run (a second pass; profiling slows it down), top functions by cumulative time.

Nothing is asserted: the script prints figures and ratios measured in this run.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import json
import sys
import time
from datetime import date
from itertools import islice

from _common import Clock, cached_export, machine, print_profile
from fhirpeer.export import Export
from fhirpeer.readers import Accepted, file_columns, read_records

from fhirpeer.api import validate
from fhirpeer.checks.resource_checks import check_resource
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.settings import load_settings
from fhirpeer.sync_engine.state import content_hash

CHUNK = 2000  # records per chunk in the stage split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000, help="contact rows to generate (default 100000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile pass")
    ap.add_argument("--top", type=int, default=25, help="profile lines to print")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    export_dir, rows, cached = cached_export(args.contacts, args.seed)
    total_rows = sum(rows.values())
    print(f"fhirpeer validate benchmark — {date.today()} — {machine()}")
    print(
        f"export: {export_dir} ({'cached' if cached else f'generated in {time.perf_counter() - t0:.1f}s'}); "
        f"{total_rows:,} data rows: " + ", ".join(f"{k.removesuffix('.csv')} {v:,}" for k, v in rows.items())
    )

    settings = load_settings()
    # --- 1. end to end -----------------------------------------------------------------------------
    gc.collect()
    with Clock() as e2e:
        report = validate(export_dir, settings=settings)
    valid = sum(c.get("valid", 0) for c in report.counts.values())
    skipped = sum(c.get("skipped", 0) for c in report.counts.values())
    print(f"\n1. fhirpeer validate (fhirpeer.api.validate, in-process): {e2e.wall:.1f}s wall, {e2e.cpu:.1f}s CPU")
    print(
        f"   {total_rows / e2e.wall:,.0f} records/s (data rows read); {valid / e2e.wall:,.0f} resources/s "
        f"({valid:,} valid, {skipped:,} skipped, {len(report.rejected):,} rejected)"
    )

    # --- 2. stage split on the same records, chunk by chunk (streaming, as validate does) -----------
    mappings = load_mappings(settings.mappings, namespace=settings.namespace)
    export = Export(export_dir, mappings, settings)
    kinds = export.check()
    t_read = t_map = t_check = t_hash = t_json = 0.0
    n_records = n = problems = size = 0
    # GC is paused while stages are timed: chunk buffers kept alive between stages would otherwise
    # trigger collections that the streamed pipeline (objects die young) does not pay
    gc.collect()
    gc.disable()
    for kind in kinds:
        gc.collect()
        reader = read_records(export.path(kind), kind, file_columns(mappings, kind), export.vocab)
        # care teams are grouped by team over the whole (small) file, as Export.mapped does
        chunk_size = 10**9 if kind.name == "care_team" else CHUNK
        while True:
            t = time.perf_counter()
            accepted = list(islice(reader, chunk_size))
            t_read += time.perf_counter() - t
            if not accepted:
                break
            n_records += len(accepted)
            t = time.perf_counter()
            if kind.name == "care_team":
                mapped = list(export._care_teams(iter(accepted)))
            else:
                mapped = [export._map_one(a) if isinstance(a, Accepted) else a for a in accepted]
            t_map += time.perf_counter() - t
            dicts = [m.resource for m in mapped if isinstance(m, MappedResource)]
            n += len(dicts)
            t = time.perf_counter()
            problems += sum(1 for d in dicts if check_resource(d))
            t_check += time.perf_counter() - t
            t = time.perf_counter()
            for d in dicts:
                content_hash(d)
            t_hash += time.perf_counter() - t
            t = time.perf_counter()  # pure upper bound: plain compact json.dumps
            for d in dicts:
                size += len(json.dumps(d, ensure_ascii=False, separators=(",", ":")))
            t_json += time.perf_counter() - t
    gc.enable()

    # --- 3. pure upper bound: csv.reader alone ---------------------------------------------------------
    t = time.perf_counter()
    raw_rows = 0
    for kind in kinds:
        with export.path(kind).open(encoding="utf-8-sig", newline="") as handle:
            for _ in csv.reader(handle):
                raw_rows += 1
    t_csv = time.perf_counter() - t

    pipeline = t_read + t_map + t_check
    print(
        f"\n2. stage split (each stage timed alone, chunks of {CHUNK:,}, same {n_records:,} records → {n:,} resources; "
        f"{problems} with problems)"
    )
    print(f"   {'stage':<44}{'seconds':>8}{'share':>8}{'per second':>14}")
    for label, secs, count, unit in (
        ("CSV reading + pydantic records", t_read, n_records, "records"),
        ("mapping to FHIR dicts", t_map, n, "resources"),
        ("R4B model validation (check_resource)", t_check, n, "resources"),
    ):
        print(f"   {label:<44}{secs:8.2f}{100 * secs / pipeline:7.1f}%{count / secs:>11,.0f} {unit[:3]}")
    print(f"   {'= validate pipeline (sum of the above)':<44}{pipeline:8.2f}{100.0:7.1f}%{n / pipeline:>11,.0f} res")
    print(
        f"   {'content hash (sync planner only)':<44}{t_hash:8.2f}{100 * t_hash / pipeline:7.1f}%"
        f"{n / t_hash:>11,.0f} res"
    )
    print(f"   sum of stages / end-to-end validate: {pipeline / e2e.wall:.2f} (stages timed with GC paused)")
    print("\n3. pure upper bounds (same run)")
    print(
        f"   csv.reader alone over the files: {t_csv:.2f}s → {raw_rows / t_csv:,.0f} rows/s "
        f"({t_csv / e2e.wall:.1%} of validate's time)"
    )
    print(
        f"   json.dumps of the mapped dicts:  {t_json:.2f}s → {n / t_json:,.0f} resources/s "
        f"({size / 1e6:.0f} MB; {t_json / e2e.wall:.1%} of validate)"
    )

    # --- 4. profile -----------------------------------------------------------------------------------
    if not args.no_profile:
        gc.collect()
        profile = cProfile.Profile()
        with Clock() as prof:
            profile.enable()
            validate(export_dir, settings=settings)
            profile.disable()
        print(
            f"\n4. cProfile of validate (a second pass: {prof.wall:.1f}s under the profiler), "
            f"top {args.top} by cumulative time"
        )
        print_profile(profile, top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
