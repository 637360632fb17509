"""Helpers shared by the benchmarks: a cached seeded export, fresh servers of either kind, compact cProfile
output, CPU clocks, RSS sampling.

Nothing here asserts anything about speed: the benchmarks measure and print, they never pass or fail
on a figure.
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fhirpeer.demo.sample as sample
from fhirpeer.demo.sample import generate_program, patients_for_contacts

CACHE_ROOT = Path(tempfile.gettempdir()) / "fhirpeer-bench"


def cached_export(contacts: int, seed: int = 7, cache_root: Path = CACHE_ROOT) -> tuple[Path, dict[str, int], bool]:
    """A seeded sample export with about `contacts` contact rows, generated once and kept in a temp dir.

    The cache key includes the generator's source hash, so an edited `fhirpeer/sample.py` gives a new
    export. Returns (folder, row counts per file, whether it came from the cache)."""
    src = hashlib.sha256(Path(sample.__file__).read_bytes()).hexdigest()[:10]
    out = cache_root / f"export-c{contacts}-s{seed}-{src}"
    marker = out / ".complete.json"
    if marker.is_file():
        return out, json.loads(marker.read_text()), True
    summary = generate_program(out, patients=patients_for_contacts(contacts), seed=seed, target_contacts=contacts)
    marker.write_text(json.dumps(summary.counts))
    return out, dict(summary.counts), False


REPO = Path(__file__).resolve().parents[1]
HAPI_TOOL = REPO / "tools" / "hapi-server" / "hapi-server"


def command_line() -> str:
    """The command that is running, as a user would type it (printed at the top of every benchmark)."""
    return " ".join([sys.executable, *sys.argv])


@dataclass(frozen=True)
class Server:
    """A fresh FHIR server: its base URL and the process that does its work (for CPU readings)."""

    kind: str
    base_url: str
    pid: int | None


@contextmanager
def fresh_server(kind: str, data_dir: Path) -> Iterator[Server]:
    """A new, empty server of `kind` (sekmet: the embedded server; hapi: tools/hapi-server with a file H2 database in
    `data_dir`), stopped (by its pid) at the end."""
    if kind == "sekmet":
        from fhirpeer.demo.embedded_server import EmbeddedServer

        with EmbeddedServer(data_dir) as server:
            yield Server(kind, server.base_url, server.pid)
        return
    if kind != "hapi":
        raise ValueError(f"unknown server kind {kind!r}")
    from fhirpeer.demo.embedded_server import free_port

    started = subprocess.run(
        [str(HAPI_TOOL), "start", "--port", str(free_port()), "--data", str(data_dir)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if started.returncode != 0:
        raise SystemExit(f"hapi-server start failed:\n{started.stderr[-3000:]}")
    try:
        pid_file = data_dir / "hapi.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
        yield Server(kind, started.stdout.strip().splitlines()[-1].rstrip("/"), pid)
    finally:
        subprocess.run([str(HAPI_TOOL), "stop", "--data", str(data_dir)], capture_output=True, timeout=180, check=False)


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (Linux /proc; 0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's RSS every `interval` seconds on a thread: (seconds since start, KiB) pairs."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            kib = rss_kib(self.pid)
            if kib:
                self.samples.append((time.perf_counter() - start, kib))
            self._stop.wait(self.interval)

    @property
    def peak(self) -> int:
        return max((k for _, k in self.samples), default=0)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def server_cpu_seconds(pid: int | None) -> float:
    """user+system CPU seconds of another process (Linux /proc; 0.0 when unavailable)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # after the ')' of comm: field 3 is state, so utime (14) and stime (15) are at indices 11 and 12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """Wall time and this process's CPU time (all threads) over a block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def _short(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name  # a built-in
    parts = Path(path).parts
    where = "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else "/".join(parts[-2:])
    return f"{where}:{line}({name})"


def print_profile(profile: cProfile.Profile, top: int = 25, sort: str = "cumulative", width: int = 110) -> None:
    """The top functions of a profile, one short line each."""
    stats = pstats.Stats(profile)
    stats.sort_stats(sort)
    total = max(v[3] for v in stats.stats.values()) or 1.0  # type: ignore[attr-defined]
    print(f"  {'ncalls':>10} {'tottime':>8} {'cumtime':>8} {'cum%':>5}  function")
    shown = 0
    for func in stats.fcn_list:  # type: ignore[attr-defined]
        cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        name = _short(func)
        if name.startswith("<") or "cProfile" in name or "_common.py" in name:
            continue
        calls = str(nc) if nc == cc else f"{nc}/{cc}"
        line = f"  {calls:>10} {tt:8.2f} {ct:8.2f} {100 * ct / total:5.1f}  {name}"
        print(line[:width])
        shown += 1
        if shown >= top:
            break
