# ruff: noqa: E501  (report-formatting lines)
"""`fhirpeer sync` against a fresh server next to that server's raw upper bound, reruns, and (HAPI) bulk import.

    .venv/bin/python benchmarks/bench_sync.py --server-kind sekmet                  # 20k contacts
    .venv/bin/python benchmarks/bench_sync.py --server-kind hapi                    # 20k contacts, + $import
    .venv/bin/python benchmarks/bench_sync.py --server-kind sekmet --contacts 2000  # quick look
    .venv/bin/python benchmarks/bench_sync.py --server-kind sekmet --profile        # + cProfile of a first sync

Everything is measured in ONE run on one seeded export (cached in the temp dir); every write run gets its own
fresh, empty server (sekmet: the embedded server; hapi: tools/hapi-server, file H2), stopped afterwards:

  a. raw upper bound: the resources fhirpeer would write (`fhirpeer export-bulk` of the export: deterministic ids,
     literal references, Part 2 labels, fhirpeer's meta.tag) as pre-built transaction Bundles of `PUT Type/id`
     (`POST` when the server takes no client ids), --batch-size entries each, sent by a plain `requests` loop
     with one Session; bodies are encoded before the clock starts.
  b. fhirpeer's first sync of the same export, same namespace (so the same ids) → ratio b/a (goal ≥ 0.9).
  c. a no-op rerun → share of (b) (goal ≤ 2 %).
  d. a rerun after 1 % of the contact rows changed → share of (b) (goal ≤ 5 %).
  e. (hapi) `fhirpeer import` of the export-bulk files ($import, files served over loopback), then a sync of the
     same export that must send nothing → import time vs (b).
  (f. with --profile: cProfile of another first sync, top functions by cumulative time.)

Rates count the export's resources (fhirpeer also writes its Device and a Provenance per Bundle; they are extra
work for fhirpeer, not counted). Wall time, this process's CPU (the client) and the server process's CPU are
printed for each run. Nothing is asserted: the script measures and prints.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import json
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import requests
from _common import (
    Clock,
    Server,
    cached_export,
    command_line,
    fresh_server,
    machine,
    print_profile,
    server_cpu_seconds,
)

from fhirpeer.api import check_server, client_ids_of, export_bulk, import_bulk, sync
from fhirpeer.bulk.key_sidecar import read_key_lines
from fhirpeer.bulk.manifest import read_manifest
from fhirpeer.errors import FhirpeerError
from fhirpeer.mappers import match_url
from fhirpeer.mapping_files import load_mappings
from fhirpeer.run_report import RunReport
from fhirpeer.settings import Settings, load_settings

FHIR_JSON = "application/fhir+json"


@dataclass
class Run:
    label: str
    wall: float
    client_cpu: float
    server_cpu: float
    resources: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.resources / self.wall if self.wall else 0.0


def settings_for(server: Server, state: Path, namespace: str, batch_size: int) -> Settings:
    return load_settings(server=server.base_url, state=state, namespace=namespace, batch_size=batch_size)


def timed_sync(label: str, server: Server, export: Path, settings: Settings) -> tuple[Run, RunReport]:
    gc.collect()
    cpu0 = server_cpu_seconds(server.pid)
    with Clock() as c:
        report = sync(export, settings=settings)
    run = Run(label, c.wall, c.cpu, server_cpu_seconds(server.pid) - cpu0, report.written)
    unchanged = sum(v.get("unchanged", 0) for v in report.counts.values())
    run.note = f"{report.written:,} written, {unchanged:,} unchanged, exit {report.exit_code}"
    if report.rejected:
        run.note += f", {len(report.rejected)} rejected"
    return run, report


def raw_bodies(bulk_dir: Path, namespace: str, batch_size: int, client_ids: bool) -> tuple[list[bytes], int]:
    """Transaction Bundles of the export-bulk resources, in import order: `PUT Type/id` (client ids), else `POST Type`
    with the references as conditional references (`Type?identifier=…`) that the server resolves in the transaction."""
    manifest = read_manifest(bulk_dir)
    mappings = load_mappings(None, namespace=namespace)
    conditional: dict[str, str] = {}
    if not client_ids:
        conditional = {f"{k.resource_type}/{k.id}": match_url(mappings, k.resource_type, k.key)
                       for k in read_key_lines(bulk_dir, manifest)}  # fmt: skip
    entries: list[dict[str, Any]] = []
    for output in manifest.outputs:
        with (bulk_dir / output.url).open("rb") as handle:
            for line in handle:
                resource = orjson.loads(line)
                if client_ids:
                    request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
                else:
                    resource = _with_conditional_references(resource, conditional)
                    resource.pop("id")
                    request = {"method": "POST", "url": resource["resourceType"]}
                entries.append({"resource": resource, "request": request})
    bodies = [
        orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries[i : i + batch_size]})
        for i in range(0, len(entries), batch_size)
    ]
    return bodies, len(entries)


def _with_conditional_references(node: Any, conditional: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _with_conditional_references(v, conditional) for k, v in node.items()}
        if isinstance(out.get("reference"), str) and out["reference"] in conditional:
            out["reference"] = conditional[out["reference"]]
        return out
    if isinstance(node, list):
        return [_with_conditional_references(v, conditional) for v in node]
    return node


def raw_post(label: str, server: Server, bodies: list[bytes]) -> Run:
    """POST prepared transaction Bundles with one requests.Session; count the entries' statuses after the clock."""
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    replies: list[bytes] = []
    gc.collect()
    cpu0 = server_cpu_seconds(server.pid)
    with requests.Session() as session, Clock() as c:
        for body in bodies:
            r = session.post(server.base_url, data=body, headers=headers, timeout=900)
            if r.status_code != 200:
                raise SystemExit(f"{label}: HTTP {r.status_code}: {r.text[:300]}")
            replies.append(r.content)
    server_cpu = server_cpu_seconds(server.pid) - cpu0
    statuses: dict[str, int] = {}
    for reply in replies:
        for e in json.loads(reply).get("entry") or []:
            s = str(e.get("response", {}).get("status", "?")).split()[0]
            statuses[s] = statuses.get(s, 0) + 1
    written = statuses.get("201", 0) + statuses.get("200", 0)
    return Run(label, c.wall, c.cpu, server_cpu, written, f"statuses {statuses}, {len(bodies)} Bundles")


def changed_copy(export: Path, into: Path, share: float) -> int:
    """A copy of the export with `share` of the contact rows changed (duration_min + 1); returns how many."""
    shutil.copytree(export, into)
    path = into / "peer_contacts.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    step = max(1, round(1 / share))
    changed = 0
    for n, row in enumerate(rows):
        if n % step == 0:
            row["duration_min"] = str(int(row["duration_min"] or 0) % 1440 + 1)
            changed += 1
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return changed


def namespace(tag: str) -> str:
    return f"https://bench.fhirpeer.test/{tag}-{uuid.uuid4().hex[:8]}"


def print_table(runs: list[Run]) -> None:
    print(f"\n{'run':<40}{'resources':>10}{'wall s':>9}{'res/s':>9}{'client CPU':>12}{'server CPU':>12}  note")
    for r in runs:
        rate = f"{r.rate:,.0f}" if r.resources else "—"
        print(f"{r.label:<40}{r.resources:>10,}{r.wall:>9.2f}{rate:>9}"
              f"{r.client_cpu:>8.1f}s{100 * r.client_cpu / r.wall:>3.0f}%"
              f"{r.server_cpu:>8.1f}s{100 * r.server_cpu / r.wall:>3.0f}%  {r.note}")  # fmt: skip
    print("(client/server CPU % = CPU seconds / wall seconds of that run; 2 cores = 200% at most)")


def goal(label: str, value: float, target: str, met: bool, detail: str) -> None:
    print(f"  {label:<44}{value:>8.3f}   goal {target:<7} {'met' if met else 'MISSED':<7} {detail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-kind", choices=["sekmet", "hapi"], default="sekmet")
    ap.add_argument("--contacts", type=int, default=20_000, help="contact rows to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=500, help="entries per transaction Bundle (default 500)")
    ap.add_argument("--changed", type=float, default=0.01, help="share of contact rows changed for (d)")
    ap.add_argument("--no-import", action="store_true", help="(hapi) skip the $import run (e)")
    ap.add_argument("--profile", action="store_true", help="also cProfile a first sync on its own server")
    ap.add_argument("--top", type=int, default=30, help="profile lines to print")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data dirs and state stores")
    args = ap.parse_args(argv)
    kind = args.server_kind

    t0 = time.perf_counter()
    export, rows, cached = cached_export(args.contacts, args.seed)
    print(f"fhirpeer sync benchmark — {date.today()} — {machine()} — server {kind}")
    print(f"command: {command_line()}")
    print(
        f"export: {export} ({'cached' if cached else f'generated in {time.perf_counter() - t0:.1f}s'}); "
        + ", ".join(f"{k.removesuffix('.csv')} {v:,}" for k, v in rows.items())
    )
    root = Path(tempfile.mkdtemp(prefix=f"fhirpeer-bench-sync-{kind}-"))
    ns = namespace("bench")
    print(f"work dir: {root}; batch size {args.batch_size}; namespace {ns}")
    runs: list[Run] = []
    try:
        t = time.perf_counter()
        bulk_dir = root / "bulk"
        exported = export_bulk(load_settings(namespace=ns), export, bulk_dir)
        print(f"export-bulk: {exported.manifest.total:,} resources in {time.perf_counter() - t:.1f}s (not timed below)")

        with fresh_server(kind, root / "server-raw") as server:
            probe = load_settings(server=server.base_url, namespace=ns)
            client_ids = all(client_ids_of(check_server(probe).capabilities, probe).values())
            bodies, _ = raw_bodies(bulk_dir, ns, args.batch_size, client_ids)
            method = "PUT Type/id" if client_ids else "POST Type"
            raw = raw_post(f"a. raw: {args.batch_size}-entry Bundles of {method}", server, bodies)
            runs.append(raw)
        del bodies

        changed_dir = root / "export-changed"
        changed = changed_copy(export, changed_dir, args.changed)
        with fresh_server(kind, root / "server-sync") as server:
            settings = settings_for(server, root / "state-sync.sqlite", ns, args.batch_size)
            first, _ = timed_sync("b. first sync", server, export, settings)
            runs.append(first)
            rerun, _ = timed_sync("c. no-op rerun", server, export, settings)
            runs.append(rerun)
            partial, _ = timed_sync(f"d. rerun, {changed:,} contact rows changed", server, changed_dir, settings)
            runs.append(partial)

        imported: Run | None = None
        after_import: Run | None = None
        if kind == "hapi" and not args.no_import:
            with fresh_server(kind, root / "server-import") as server:
                settings = settings_for(server, root / "state-import.sqlite", ns, args.batch_size)
                gc.collect()
                cpu0 = server_cpu_seconds(server.pid)
                with Clock() as c:
                    try:
                        report = import_bulk(settings, bulk_dir, kind="hapi", poll_interval=2.0, timeout=3600)
                    except FhirpeerError as exc:  # say so and keep the other runs' figures
                        report = exc.report or RunReport(command="import", run_id="-")
                        report.exit_code = exc.exit_code
                        print(f"import failed: {exc}")
                imported = Run("e. fhirpeer import ($import)", c.wall, c.cpu, server_cpu_seconds(server.pid) - cpu0,
                               sum(v.get("created", 0) + v.get("updated", 0) + v.get("unchanged", 0)
                                   for v in report.counts.values()),
                               f"exit {report.exit_code}")  # fmt: skip
                runs.append(imported)
                after_import, _ = timed_sync("e'. sync after the import", server, export, settings)
                runs.append(after_import)

        print_table(runs)
        print(
            f"\ngoals (all from this run; {exported.manifest.total:,} resources, {args.contacts:,} contacts, {kind}):"
        )
        ratio = first.rate / raw.rate
        goal("first sync / raw upper bound (throughput)", ratio, "≥ 0.9", ratio >= 0.9,
             f"{first.rate:,.0f} / {raw.rate:,.0f} resources/s")  # fmt: skip
        share = rerun.wall / first.wall
        goal("no-op rerun / first sync (wall time)", share, "≤ 0.02", share <= 0.02,
             f"{rerun.wall:.2f}s / {first.wall:.2f}s")  # fmt: skip
        share = partial.wall / first.wall
        goal("1 % changed rerun / first sync (wall time)", share, "≤ 0.05", share <= 0.05,
             f"{partial.wall:.2f}s / {first.wall:.2f}s")  # fmt: skip
        if imported is not None and after_import is not None:
            print(f"  import / first sync (wall time)             {imported.wall / first.wall:>8.3f}   "
                  f"{imported.wall:.1f}s / {first.wall:.1f}s; the sync after it wrote {after_import.resources}")  # fmt: skip
        if raw.server_cpu > 0:  # the server's own work, less sensitive than wall time to others on the machine
            print(f"  server CPU, first sync / raw                {first.server_cpu / raw.server_cpu:>8.3f}   "
                  f"{first.server_cpu:.1f}s / {raw.server_cpu:.1f}s (lower is less server work per export)")  # fmt: skip
        idle = max(first.wall - first.client_cpu, 0.0)
        print(
            f"  first sync: client CPU {first.client_cpu:.1f}s ({first.client_cpu / first.wall:.0%} of wall), "
            f"server CPU {first.server_cpu:.1f}s ({first.server_cpu / first.wall:.0%}); client not on CPU ≈ {idle:.1f}s"
        )

        if args.profile:
            with fresh_server(kind, root / "server-profile") as server:
                settings = settings_for(server, root / "state-profile.sqlite", namespace("profile"), args.batch_size)
                profile = cProfile.Profile()
                with Clock() as c:
                    profile.enable()
                    sync(export, settings=settings)
                    profile.disable()
            print(
                f"\nf. cProfile of a first sync ({c.wall:.1f}s under the profiler), top {args.top} by cumulative time"
            )
            print_profile(profile, top=args.top)
    finally:
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
