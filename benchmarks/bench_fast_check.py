"""Structure check + serialisation per emitted resource: fhir.resources models vs. fhirpeer.checks (issue 15).

    .venv/bin/python benchmarks/bench_fast_check.py                   # ~20k contacts (about 30 s)
    .venv/bin/python benchmarks/bench_fast_check.py --contacts 5000   # quick look

On the resources fhirpeer's mappers emit for a seeded export (cached, see _common.py; mostly Encounters), in one
run and on the same list of dicts:

a. the naive loop: `Model.model_validate(d)` + `model.model_dump_json()` per resource (fhir.resources R4B);
b. the fast path: `fhirpeer.checks.check_structure(d)` + `json.dumps(d)` per resource;
b'. the same with `orjson.dumps` (a fhirpeer dependency for this reason);

and the ratios b/a (b'/a), plus the check and each serialiser alone. Every resource must be accepted by both
(they are fhirpeer's own output); the script says so. Nothing is asserted about speed: it measures and prints.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson
from _common import cached_export, machine

from fhirpeer.checks.r4_structure import check_structure, model_class
from fhirpeer.input.folder import InputFolder
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import load_mappings
from fhirpeer.pipeline import MappingOptions, mapped_items
from fhirpeer.settings import load_settings


def emitted(contacts: int, seed: int) -> list[dict[str, Any]]:
    export_dir, _, _ = cached_export(contacts, seed)
    settings = load_settings(send_text_contacts=True)
    mappings = load_mappings(settings.mappings, namespace=settings.namespace)
    folder = InputFolder(export_dir, mappings, mappings.vocabulary(settings.tz))
    options = MappingOptions(settings.part2_labels, settings.send_text_contacts)
    return [
        item.resource
        for kind in folder.check()
        for item in mapped_items(folder, kind, mappings, options)
        if isinstance(item, MappedResource)
    ]


def naive(resources: list[dict[str, Any]]) -> int:
    size = 0
    for d in resources:
        size += len(model_class(d["resourceType"]).model_validate(d).model_dump_json())
    return size


def fast_json(resources: list[dict[str, Any]]) -> int:
    size = 0
    for d in resources:
        if check_structure(d):
            raise ValueError("an emitted resource failed the fast check")
        size += len(json.dumps(d, ensure_ascii=False, separators=(",", ":")))
    return size


def fast_orjson(resources: list[dict[str, Any]]) -> int:
    size = 0
    for d in resources:
        if check_structure(d):
            raise ValueError("an emitted resource failed the fast check")
        size += len(orjson.dumps(d))
    return size


def check_only(resources: list[dict[str, Any]]) -> int:
    return sum(1 for d in resources if check_structure(d))


def json_only(resources: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(d, ensure_ascii=False, separators=(",", ":"))) for d in resources)


def orjson_only(resources: list[dict[str, Any]]) -> int:
    return sum(len(orjson.dumps(d)) for d in resources)


def timed(run: Callable[[list[dict[str, Any]]], int], resources: list[dict[str, Any]]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    result = run(resources)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=20_000, help="contact rows to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    resources = emitted(args.contacts, args.seed)
    mix = Counter(d["resourceType"] for d in resources)
    print(f"fhirpeer fast structure check benchmark — {date.today()} — {machine()}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{len(resources):,} emitted resources: " + ", ".join(f"{t} {n:,}" for t, n in mix.most_common()))
    warm = resources[:300]  # build pydantic's and the fast check's per-type schemas outside the timings
    naive(warm)
    fast_json(warm)

    runs: list[tuple[str, Callable[[list[dict[str, Any]]], int]]] = [
        ("a. model_validate + model_dump_json", naive),
        ("b. check_structure + json.dumps", fast_json),
        ("b'. check_structure + orjson.dumps", fast_orjson),
        ("   check_structure alone", check_only),
        ("   json.dumps alone", json_only),
        ("   orjson.dumps alone", orjson_only),
    ]
    seconds: dict[str, float] = {}
    print(f"\n   {'loop':<40}{'seconds':>9}{'resources/s':>14}")
    for label, run in runs:
        secs, _ = timed(run, resources)
        seconds[label] = secs
        print(f"   {label:<40}{secs:9.2f}{len(resources) / secs:>14,.0f}")
    base = seconds["a. model_validate + model_dump_json"]
    print(f"\n   ratio b / a (json.dumps):   {base / seconds['b. check_structure + json.dumps']:.1f}×")
    print(f"   ratio b' / a (orjson):      {base / seconds[runs[2][0]]:.1f}×")
    print(f"   every resource accepted by both: yes ({len(resources):,}; a and b raise otherwise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
