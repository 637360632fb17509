# ruff: noqa: E501  (report-formatting lines)
"""Throughput of `fhirpeer sync` against the embedded FHIR server, next to the server's raw upper bound.

    /tmp/v/bin/python benchmarks/bench_sync.py                     # 20k contacts (about 6-8 min)
    /tmp/v/bin/python benchmarks/bench_sync.py --contacts 2000     # quick run (under a minute)
    /tmp/v/bin/python benchmarks/bench_sync.py --profile           # + cProfile of a first sync

Everything below is measured in ONE run, on one seeded export (cached in the temp dir), each write run
against its own fresh embedded sekmet server (subprocess on 127.0.0.1, own temp data dir) so that every
run creates the same number of new resources on an empty server:

  a. first `fhirpeer sync` (fresh state store, fresh namespace) → resources/s
  b. no-op rerun (same state, same export) → seconds and its share of (a)
  c. raw upper bound, two variants, posted by a plain `requests` loop with one Session (no mapping,
     no validation, no state), bodies prepared before the clock starts:
       c1. replay: the exact transaction Bundles fhirpeer sent in (a), byte for byte
       c2. bundles-out: the Bundles of `fhirpeer validate --bundles-out` (conditional references
           `Patient?identifier=…` that the server resolves itself, one search per reference)
  d. first sync with `--workers 2`
  (e. with --profile: cProfile of another first sync, top functions by cumulative time)

For each run the script prints wall time, this process's CPU time (the client: mapping, validation,
JSON, HTTP client) and the server process's CPU time (read from /proc), so the time can be split into
client-side work and waiting on the server. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
from _common import Clock, cached_export, machine, print_profile, server_cpu_seconds

from fhirpeer.api import sync, validate
from fhirpeer.demo.embedded_server import EmbeddedServer
from fhirpeer.run_report import RunReport
from fhirpeer.settings import Settings, load_settings
from fhirpeer.transport.client import FHIR_JSON, FhirClient


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


@contextmanager
def fresh_server(root: Path, name: str) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(root / name) as server:
        yield server


def settings_for(server: EmbeddedServer, root: Path, name: str, namespace: str, args: argparse.Namespace,
                 **extra: Any) -> Settings:  # fmt: skip
    return load_settings(
        server=server.base_url, state=root / f"{name}.sqlite", namespace=namespace,
        batch_size=args.batch_size, **extra,
    )  # fmt: skip


def timed_sync(label: str, server: EmbeddedServer, export: Path, settings: Settings) -> tuple[Run, RunReport]:
    gc.collect()
    cpu0 = server_cpu_seconds(server.pid)
    with Clock() as c:
        report = sync(export, settings=settings, print_summary=False)
    run = Run(label, c.wall, c.cpu, server_cpu_seconds(server.pid) - cpu0, report.written)
    if report.exit_code:
        run.note = f"exit {report.exit_code}, {len(report.rejected)} rejected"
    return run, report


@contextmanager
def capture_bundles(into: list[bytes]) -> Iterator[None]:
    """Keep a reference to every request body fhirpeer POSTs (its transaction Bundles), at ~no cost."""
    original = FhirClient._send

    def send(self: FhirClient, method: str, url: str, params: Any, data: bytes | None, *rest: Any) -> Any:
        if method == "POST" and data is not None:
            into.append(data)
        return original(self, method, url, params, data, *rest)

    FhirClient._send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        FhirClient._send = original  # type: ignore[method-assign]


def raw_post(label: str, server: EmbeddedServer, bodies: list[bytes]) -> Run:
    """POST prepared transaction Bundles with one requests.Session; count the entries after the clock."""
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    replies: list[bytes] = []
    gc.collect()
    cpu0 = server_cpu_seconds(server.pid)
    with requests.Session() as session, Clock() as c:
        for body in bodies:
            r = session.post(server.base_url, data=body, headers=headers, timeout=600)
            if r.status_code != 200:
                raise SystemExit(f"{label}: HTTP {r.status_code}: {r.text[:300]}")
            replies.append(r.content)
    server_cpu = server_cpu_seconds(server.pid) - cpu0
    statuses: dict[str, int] = {}
    for reply in replies:
        for e in json.loads(reply).get("entry") or []:
            s = str(e.get("response", {}).get("status", "?")).split()[0]
            statuses[s] = statuses.get(s, 0) + 1
    created = statuses.get("201", 0)
    note = "" if set(statuses) == {"201"} else f"statuses {statuses}"
    return Run(label, c.wall, c.cpu, server_cpu, created, note)


def bundles_out(export: Path, folder: Path, namespace: str, batch_size: int) -> tuple[list[bytes], int]:
    """`fhirpeer validate --bundles-out` for another namespace, re-encoded compactly as fhirpeer sends."""
    validate(export, settings=load_settings(namespace=namespace, batch_size=batch_size), bundles_dir=folder)
    bodies, entries = [], 0
    for path in sorted(folder.glob("*.json")):
        b = json.loads(path.read_text(encoding="utf-8"))
        entries += len(b["entry"])
        bodies.append(json.dumps(b, ensure_ascii=False, separators=(",", ":")).encode())
    return bodies, entries


def namespace(tag: str) -> str:
    return f"https://bench.fhirpeer.test/{tag}-{uuid.uuid4().hex[:8]}"


def print_table(runs: list[Run]) -> None:
    print(f"\n{'run':<34}{'resources':>10}{'wall s':>9}{'res/s':>9}{'client CPU':>12}{'server CPU':>12}  note")
    for r in runs:
        rate = f"{r.rate:,.0f}" if r.resources else "—"
        print(f"{r.label:<34}{r.resources:>10,}{r.wall:>9.2f}{rate:>9}"
              f"{r.client_cpu:>8.1f}s{100 * r.client_cpu / r.wall:>3.0f}%"
              f"{r.server_cpu:>8.1f}s{100 * r.server_cpu / r.wall:>3.0f}%  {r.note}")  # fmt: skip
    print("(client/server CPU % = CPU seconds / wall seconds of that run; 2 cores = 200% at most)")


def profile_first_sync(root: Path, export: Path, args: argparse.Namespace) -> None:
    with fresh_server(root, "server-profile") as server:
        settings = settings_for(server, root, "state-profile", namespace("profile"), args)
        profile = cProfile.Profile()
        t = time.perf_counter()
        profile.enable()
        report = sync(export, settings=settings, print_summary=False)
        profile.disable()
        wall = time.perf_counter() - t
    print(
        f"\ne. cProfile of a first sync (fresh server; {report.written:,} resources, {wall:.1f}s under the "
        f"profiler), top {args.top} by cumulative time"
    )
    print_profile(profile, top=args.top)
    stats = pstats.Stats(profile)
    total = wall

    def cum(path_end: str, func: str) -> float:
        return sum(v[3] for k, v in stats.stats.items()  # type: ignore[attr-defined]
                   if k[0].endswith(path_end) and k[2] == func)  # fmt: skip

    def tot(func: str) -> float:
        return sum(v[2] for k, v in stats.stats.items() if k[2] == func)  # type: ignore[attr-defined]

    rows: list[tuple[str, float]] = [
        ("HTTP round trips (requests Session.request)", cum("requests/sessions.py", "request")),
        ("  of which blocked in socket recv (server working)", tot("<method 'recv_into' of '_socket.socket' objects>")),
        ("CSV read + pydantic records + mapping (Export.mapped)", cum("fhirpeer/export.py", "mapped")),
        ("R4B validation of writes (check_resource)", cum("fhirpeer/validation.py", "check_resource")),
        ("plan vs state store incl. content hash (plan_chunk)", cum("fhirpeer/planner.py", "plan_chunk")),
        ("  content_hash", cum("fhirpeer/state.py", "content_hash")),
        ("literal references (ReferenceResolver.literal)", cum("fhirpeer/resolver.py", "literal")),
        ("reference check / prefetch (_check_references)", cum("fhirpeer/sync.py", "_check_references")),
        ("request JSON encoding (FhirClient._request minus retry loop)",
         cum("fhirpeer/client.py", "_request") - cum("fhirpeer/client.py", "_with_retry")),
        ("response JSON decoding", cum("requests/models.py", "json")),
        ("state store writes (record_written)", cum("fhirpeer/state.py", "record_written")),
    ]  # fmt: skip
    print(f"\n   where the profiled first sync's {total:.1f}s go (cumulative; the profiler inflates client work)")
    for label, secs in rows:
        print(f"   {label:<58}{secs:7.2f}s {100 * secs / total:5.1f}%")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=20_000, help="contact rows to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch-size", type=int, default=200, help="entries per transaction Bundle (default 200)")
    ap.add_argument("--workers", type=int, default=2, help="workers of run (d); 0 skips it (default 2)")
    ap.add_argument("--profile", action="store_true", help="also cProfile a first sync on its own server")
    ap.add_argument("--top", type=int, default=25, help="profile lines to print")
    ap.add_argument("--keep", action="store_true", help="keep the servers' data dirs and state stores")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    export, rows, cached = cached_export(args.contacts, args.seed)
    print(f"fhirpeer sync benchmark — {date.today()} — {machine()}")
    print(
        f"export: {export} ({'cached' if cached else f'generated in {time.perf_counter() - t0:.1f}s'}); "
        + ", ".join(f"{k.removesuffix('.csv')} {v:,}" for k, v in rows.items())
    )
    root = Path(tempfile.mkdtemp(prefix="fhirpeer-bench-sync-"))
    print(f"work dir: {root}; batch size {args.batch_size}; every write run gets its own fresh embedded server")
    try:
        t = time.perf_counter()
        out_bodies, out_entries = bundles_out(export, root / "bundles-out", namespace("raw"), args.batch_size)
        print(
            f"prepared {len(out_bodies)} --bundles-out Bundles ({out_entries:,} entries) "
            f"in {time.perf_counter() - t:.1f}s (not timed below)"
        )

        runs: list[Run] = []
        sent: list[bytes] = []
        with fresh_server(root, "server-a") as server:
            settings = settings_for(server, root, "state-a", namespace("a"), args)
            with capture_bundles(sent):
                first, report = timed_sync("a. first sync", server, export, settings)
            runs.append(first)
            created = sum(c.get("created", 0) for c in report.counts.values())
            first.note = first.note or f"{created:,} created, {len(sent)} Bundles"
            rerun, report2 = timed_sync("b. no-op rerun", server, export, settings)
            unchanged = sum(c.get("unchanged", 0) for c in report2.counts.values())
            rerun.note = rerun.note or f"{unchanged:,} unchanged, {report2.written} written"
            runs.append(rerun)
        with fresh_server(root, "server-c1") as server:
            replay = raw_post("c1. raw: replay fhirpeer's Bundles", server, sent)
            runs.append(replay)
        del sent
        with fresh_server(root, "server-c2") as server:
            raw_out = raw_post("c2. raw: --bundles-out Bundles", server, out_bodies)
            runs.append(raw_out)
        del out_bodies
        if args.workers:
            with fresh_server(root, "server-d") as server:
                settings = settings_for(server, root, "state-d", namespace("d"), args, workers=args.workers)
                parallel, _ = timed_sync(f"d. first sync, --workers {args.workers}", server, export, settings)
                runs.append(parallel)

        print_table(runs)
        print("\nratios (same run):")
        print(
            f"  no-op rerun / first sync:           {rerun.wall:.2f}s / {first.wall:.2f}s = {rerun.wall / first.wall:.1%}"
        )
        print(
            f"  fhirpeer / raw replay (c1):         {first.rate:,.0f} / {replay.rate:,.0f} res/s = {first.rate / replay.rate:.2f}"
        )
        print(
            f"  fhirpeer / raw --bundles-out (c2):  {first.rate:,.0f} / {raw_out.rate:,.0f} res/s = {first.rate / raw_out.rate:.2f}"
        )
        if args.workers:
            print(
                f"  --workers {args.workers} / --workers 1:          {parallel.rate:,.0f} / {first.rate:,.0f} res/s = "
                f"{parallel.rate / first.rate:.2f}"
            )
        idle = max(first.wall - first.client_cpu, 0.0)
        print(
            f"  first sync: client CPU {first.client_cpu:.1f}s ({first.client_cpu / first.wall:.0%} of wall), "
            f"client idle (waiting on HTTP) ≈ {idle:.1f}s ({idle / first.wall:.0%}); "
            f"server CPU {first.server_cpu:.1f}s ({first.server_cpu / first.wall:.0%})"
        )

        if args.profile:
            profile_first_sync(root, export, args)
    finally:
        if args.keep:
            print(f"\nkept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
