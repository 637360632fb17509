"""Peak RSS of `fhirpeer sync` (a subprocess, as a user runs it) for a large and a small export, and RSS over time
of a very large run, to show that memory does not grow with the export.

    .venv/bin/python benchmarks/bench_memory.py                                   # 20k vs 100k contacts, sekmet
    .venv/bin/python benchmarks/bench_memory.py --big 1000000 --big-command validate   # + 1M contacts, validate
    .venv/bin/python benchmarks/bench_memory.py --big 1000000 --big-command sync       # + 1M contacts, sync (long)

In one run, each sync against its own fresh embedded sekmet server with a fresh state store:

a. `fhirpeer sync` of the small export (--small contacts, default 20k) → peak RSS;
b. the same for the large export (--large, default 100k) → peak RSS and the ratio b / a (goal ≤ 1.2);
c. (--big N) `fhirpeer validate` or `sync` of an N-contact export, RSS sampled every second: the samples per tenth
   of the run are printed, with the growth from the first tenth's peak to the last tenth's (flat: ~0).

Peak RSS is the kernel's own figure for the child (`os.wait4` → ru_maxrss); the samples come from /proc/PID/status.
Nothing is asserted: the script measures and prints.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from _common import RssSampler, cached_export, command_line, fresh_server, machine

FHIRPEER = [sys.executable, "-m", "fhirpeer.cli"]


@dataclass
class Measured:
    label: str
    contacts: int
    seconds: float
    peak_kib: int
    samples: list[tuple[float, int]]
    exit_code: int


def measured(label: str, contacts: int, argv: list[str], interval: float) -> Measured:
    """Run `argv` as a child; its peak RSS from wait4, its RSS over time from /proc."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with RssSampler(child.pid, interval) as sampler:
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    return Measured(label, contacts, seconds, usage.ru_maxrss, sampler.samples, child.returncode)


def sync_argv(server_url: str, export: Path, state: Path) -> list[str]:
    ns = f"https://bench.fhirpeer.test/memory-{uuid.uuid4().hex[:8]}"
    return [*FHIRPEER, "sync", "--server", server_url, "--input", str(export), "--state", str(state),
            "--namespace", ns, "--no-progress"]  # fmt: skip


def timed_sync(label: str, contacts: int, seed: int, root: Path, interval: float) -> Measured:
    export, _, _ = cached_export(contacts, seed)
    name = f"{label[0]}-{contacts}"
    with fresh_server("sekmet", root / f"server-{name}") as server:
        return measured(label, contacts, sync_argv(server.base_url, export, root / f"{name}.sqlite"), interval)


def print_over_time(m: Measured) -> None:
    """Peak RSS per tenth of the run, and the growth from the first tenth to the last."""
    if not m.samples:
        print("   (no samples)")
        return
    end = m.samples[-1][0] or 1.0
    tenths = [max((k for t, k in m.samples if int(10 * t / end) == i or (i == 9 and t >= end)), default=0)
              for i in range(10)]  # fmt: skip
    print("   RSS per tenth of the run (MiB): " + " ".join(f"{k / 1024:.0f}" for k in tenths))
    first = next((k for k in tenths if k), 0)
    later = [k for k in tenths[1:] if k]
    if first and later:
        print(f"   growth, first tenth → last: {(later[-1] - first) / 1024:+.0f} MiB ({later[-1] / first - 1:+.1%});"
              f" from the 2nd tenth on: {(max(later) - later[0]) / 1024:+.0f} MiB")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=20_000, help="contacts of the small export (default 20000)")
    ap.add_argument("--large", type=int, default=100_000, help="contacts of the large export (default 100000)")
    ap.add_argument("--big", type=int, default=0, help="also run an export of this many contacts (e.g. 1000000)")
    ap.add_argument("--big-command", choices=["validate", "sync"], default="validate")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples (default 1)")
    args = ap.parse_args(argv)

    print(f"fhirpeer memory benchmark — {date.today()} — {machine()} — server sekmet")
    print(f"command: {command_line()}")
    root = Path(tempfile.mkdtemp(prefix="fhirpeer-bench-memory-"))
    try:
        runs = [
            timed_sync("a. sync, small", args.small, args.seed, root, args.interval),
            timed_sync("b. sync, large", args.large, args.seed, root, args.interval),
        ]
        big: Measured | None = None
        if args.big:
            export, _, _ = cached_export(args.big, args.seed)
            if args.big_command == "sync":
                big = timed_sync("c. sync, big", args.big, args.seed, root, args.interval)
            else:
                big = measured("c. validate, big", args.big, [*FHIRPEER, "validate", "--input", str(export)],
                               args.interval)  # fmt: skip
            runs.append(big)

        print(f"\n{'run':<22}{'contacts':>10}{'seconds':>9}{'peak RSS MiB':>14}{'exit':>6}")
        for m in runs:
            print(f"{m.label:<22}{m.contacts:>10,}{m.seconds:>9.1f}{m.peak_kib / 1024:>14.1f}{m.exit_code:>6}")
        small, large = runs[0], runs[1]
        ratio = large.peak_kib / small.peak_kib
        print(f"\ngoal: peak RSS {args.large:,} / {args.small:,} contacts   {ratio:.3f}   goal ≤ 1.2   "
              f"{'met' if ratio <= 1.2 else 'MISSED'}")  # fmt: skip
        for m in runs:
            print(f"\n{m.label} ({m.contacts:,} contacts):")
            print_over_time(m)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
