"""`fhirpeer demo`: the whole product on an embedded FHIR R4 server, end to end, in one command.

Starts the real embedded server on a free loopback port, generates a sample program export, syncs it,
syncs again to show nothing is re-sent, changes a few records and syncs to show just those updates, then
says how to look at the result. Everything lives in one folder the user can look at and delete (by default
`./fhirpeer-demo/`, which the repository's .gitignore lists, so a demo run from a clone leaves `git status`
clean). With `--keep-running` the server stays up, and the demo prints `curl` lines for it and stops with exit
code 3 if the server dies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..api import sync, write_program_report
from ..errors import ConfigError
from ..run_report import RunReport
from ..settings import Settings
from .embedded_server import EmbeddedServer
from .sample import apply_changes, generate_program

_MARKER = ".fhirpeer-demo"
_NAMESPACE = "https://demo.fhirpeer.example"
#: How often `--keep-running` checks that the server is still alive (seconds).
POLL_INTERVAL = 2.0
SERVER_DIED = 3


def _prepare(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        if not (folder / _MARKER).exists():
            raise ConfigError(f"{folder} exists and is not a demo folder; use --dir to pick another")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).write_text("created by `fhirpeer demo`; safe to delete\n", encoding="utf-8")


def _line(report: RunReport) -> str:
    totals = {o: sum(c[o] for c in report.counts.values()) for o in ("created", "updated", "unchanged", "failed")}
    return (
        f"created {totals['created']:>5}  updated {totals['updated']:>4}  unchanged {totals['unchanged']:>5}  "
        f"rejected {len(report.rejected):>3}   ({report.seconds:.1f}s, exit {report.exit_code})"
    )


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it (what a user types), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fhirpeer_command() -> str:
    """The `fhirpeer` the user can run next: the one beside this Python (the venv's, after the Quickstart),
    else the one on PATH."""
    beside = Path(sys.executable).parent / "fhirpeer"
    if beside.is_file() and os.access(beside, os.X_OK):
        return shown_path(beside)
    return shutil.which("fhirpeer") or f"{sys.executable} -m fhirpeer.cli"


def run_demo(folder: Path, *, patients: int = 40, keep_running: bool = False, server_url: str | None = None) -> int:
    """The walkthrough; `server_url` runs it against that FHIR server instead of the embedded one (synthetic
    data only — never a server that holds real patients)."""
    folder = Path(folder).resolve()
    _prepare(folder)
    export, state = folder / "export", folder / "state.sqlite"
    print(f"fhirpeer demo — everything lives in {shown_path(folder)}\n")
    summary = generate_program(export, patients=patients, seed=7)
    print("1. sample peer recovery program (fhirpeer sample):")
    print("   " + "\n   ".join(summary.format().splitlines()[:5]) + "\n")
    demo = _DemoFiles(folder, export, state, summary.as_of)
    if server_url is not None:
        return _walk(demo, server_url, f"FHIR R4 server at {server_url}", None)
    with EmbeddedServer(folder / "server") as server:
        line = f"embedded FHIR R4 server (sekmet-fhir) running at {server.base_url}"
        return _walk(demo, server.base_url, line, server if keep_running else None)


@dataclass(frozen=True)
class _DemoFiles:
    """The demo folder, its export and state store, and the sample's export date (the report's as-of)."""

    folder: Path
    export: Path
    state: Path
    as_of: date


def _walk(demo: _DemoFiles, base: str, server_line: str, keep: EmbeddedServer | None) -> int:
    """Steps 2–7 against the server at `base`; `keep`: the embedded server to keep running afterwards."""
    folder, export, state = demo.folder, demo.export, demo.state
    fhirpeer = fhirpeer_command()
    print(f"2. {server_line}\n")
    settings = Settings(server=base, state=state, namespace=_NAMESPACE)
    first = sync(export, settings=settings)
    print(f"3. first sync ({first.strategy}):   {_line(first)}")
    cells = [f"{rtype:<17}{c['created']:>5}" for rtype, c in first.counts.items()]
    for row in range(0, len(cells), 3):
        print("     " + "    ".join(cells[row : row + 3]))
    second = sync(export, settings=settings)
    print(f"4. rerun, same export:      {_line(second)}")
    changed = apply_changes(export, count=5, seed=11)
    print(f"5. {len(changed)} records changed in the export: " + ", ".join(k for _, k in changed))
    third = sync(export, settings=settings)
    print(f"   incremental sync:        {_line(third)}\n")
    ok = first.exit_code == 0 and second.written == 0 and third.exit_code == 0
    print("6. what the runs did, from the state store:")
    print(f"   {fhirpeer} status --state {shown_path(state)}\n")
    written = write_program_report(settings, folder / "report", as_of=demo.as_of)
    print("7. program report, computed from what the server now holds (fhirpeer report):")
    print("   " + "\n   ".join(written.headline()))
    print(f"   open {shown_path(written.html)}")
    if keep is not None:
        contact = next((k for f, k in changed if f == "peer_contacts.csv"), None)
        return _keep_running(keep, folder, contact) if ok else 1
    if server_line.startswith("embedded"):
        print(f"\n   To browse the data with curl, run `{fhirpeer} demo --keep-running`.")
        print(f"\nserver stopped. Its data stays in {shown_path(folder)} (delete the folder when done).")
    return 0 if ok else 1


def _keep_running(server: EmbeddedServer, folder: Path, contact: str | None) -> int:
    base = server.base_url
    print("\n8. browse the data while the server runs:")
    print(f"   curl -s '{base}/Encounter?_count=2'")
    print(f"   curl -s '{base}/CareTeam?_count=1'")
    print(f"   curl -s '{base}/EpisodeOfCare?_count=1'")
    print(f"   curl -s '{base}/ServiceRequest?status=active&_count=2'")
    if contact:
        print(f"   curl -s '{base}/Encounter?identifier={_NAMESPACE}/sid/peer-contact%7C{contact}'")
    print(f"\nserver kept running at {base} — press Ctrl-C to stop it", flush=True)
    if not _wait_while_running(server):
        print(
            f"\nfhirpeer demo: the embedded server at {base} stopped unexpectedly (exit status "
            f"{server.exit_status}); its log is {server.log_file}",
            file=sys.stderr,
        )
        return SERVER_DIED
    print(f"\nserver stopped. Its data stays in {shown_path(folder)} (delete the folder when done).")
    return 0


def _wait_while_running(server: EmbeddedServer, interval: float = POLL_INTERVAL) -> bool:
    """Wait for Ctrl-C or SIGTERM (True) or for the server process to die (False)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(interval):
                if not server.running:
                    return False
        return True
    finally:
        signal.signal(signal.SIGTERM, previous)
