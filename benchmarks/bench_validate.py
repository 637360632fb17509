"""`fhirpeer validate` (read + map + every check, offline) next to a naive loop of fhir.resources per resource.

    .venv/bin/python benchmarks/bench_validate.py                   # 20k contacts
    .venv/bin/python benchmarks/bench_validate.py --contacts 5000   # quick look
    .venv/bin/python benchmarks/bench_validate.py --profile         # + cProfile of the validate run

In one run, on one seeded export (cached, see _common.py):

a. `fhirpeer.api.validate` end to end, in-process: CSV reading, pydantic records, mapping, `check_resource` on every
   resource (required bindings, R4 invariants, US Core must-haves and the fast R4 structure check that
   tests/unit/test_fast_check_equivalence.py proves equal to fhir.resources) → records/s and resources/s;
b. the naive loop on the same emitted resources (mapped before the clock starts, so it gets the mapping for free):
   `Model.model_validate(d)` + `model.model_dump_json()` per resource (fhir.resources R4B);

and the ratio b / a (goal ≥ 5). Nothing is asserted: the script measures and prints.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import sys
from datetime import date
from typing import Any

from _common import Clock, cached_export, command_line, machine, print_profile

from fhirpeer.api import validate
from fhirpeer.checks.r4_structure import model_class
from fhirpeer.input.folder import InputFolder
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.pipeline import MappingOptions, mapped_items
from fhirpeer.settings import load_settings


def emitted(export_dir: Any) -> list[dict[str, Any]]:
    settings = load_settings()
    mappings = load_mappings(settings.mappings, namespace=settings.namespace)
    folder = InputFolder(export_dir, mappings, mappings.vocabulary(settings.tz))
    options = MappingOptions.of(settings)
    return [
        item.resource
        for kind in folder.check()
        for item in mapped_items(folder, kind, mappings, options)
        if isinstance(item, MappedResource)
    ]


def naive(resources: list[dict[str, Any]]) -> Clock:
    """Wall and CPU time of model_validate + model_dump_json of every resource (GC paused, as in a)."""
    classes = {t: model_class(t) for t in {r["resourceType"] for r in resources}}
    gc.collect()
    gc.disable()
    try:
        with Clock() as clock:
            for resource in resources:
                classes[resource["resourceType"]].model_validate(resource).model_dump_json()
        return clock
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=20_000, help="contact rows to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="also cProfile a validate run")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)

    export_dir, rows, cached = cached_export(args.contacts, args.seed)
    print(f"fhirpeer validate benchmark — {date.today()} — {machine()}")
    print(f"command: {command_line()}")
    print(
        f"export: {export_dir} ({'cached' if cached else 'generated'}); "
        + ", ".join(f"{k} {v:,}" for k, v in rows.items())
    )

    settings = load_settings()
    gc.collect()
    gc.disable()
    try:
        with Clock() as a:
            report = validate(export_dir, settings=settings)
    finally:
        gc.enable()
    resources = emitted(export_dir)
    b = naive(resources)
    n, records = len(resources), report.records
    print(f"\n{'run':<62}{'seconds':>9}{'resources/s':>13}{'CPU s':>9}")
    for label, clock in (
        ("a. fhirpeer validate (read + map + check_resource), in-process", a),
        ("b. naive: model_validate + model_dump_json per resource", b),
    ):
        print(f"{label:<62}{clock.wall:>9.2f}{n / clock.wall:>13,.0f}{clock.cpu:>9.2f}")
    print(f"\n{records:,} records, {n:,} resources, exit code {report.exit_code}, {len(report.rejected)} rejected")
    ratio = b.wall / a.wall
    verdict = "met" if ratio >= 5 else "MISSED"
    print(f"goal: offline map + validate / naive loop (speed)      {ratio:6.1f}×   goal ≥ 5×   {verdict}")
    # both runs are single-threaded: the CPU ratio is the same comparison without the other users of the machine
    print(f"      the same on CPU seconds (less noisy when shared)  {b.cpu / a.cpu:6.1f}×")

    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        validate(export_dir, settings=settings)
        profile.disable()
        print(f"\ncProfile of a validate run, top {args.top} by cumulative time")
        print_profile(profile, top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
