"""`fhirpeer demo`: the whole product on an embedded FHIR R4 server, end to end, in one command.

Starts the real embedded server on a free loopback port, generates a sample program export, syncs it,
syncs again to show nothing is re-sent, changes a few records and syncs to show just those updates, then
prints where to browse the data. Everything lives in one folder the user can look at and delete.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path

from ..api import sync
from ..errors import ConfigError
from ..run_report import RunReport
from ..settings import load_settings
from .embedded_server import EmbeddedServer
from .sample import apply_changes, generate_program

_MARKER = ".fhirpeer-demo"
_NAMESPACE = "https://demo.fhirpeer.example"


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


def run_demo(folder: Path, *, patients: int = 40, keep_running: bool = False) -> int:
    folder = Path(folder).resolve()
    _prepare(folder)
    export, state = folder / "export", folder / "state.sqlite"
    print(f"fhirpeer demo — everything lives in {folder}\n")
    summary = generate_program(export, patients=patients, seed=7)
    print("1. sample peer recovery program (fhirpeer sample):")
    print("   " + "\n   ".join(summary.format().splitlines()[:5]) + "\n")
    with EmbeddedServer(folder / "server") as server:
        base = server.base_url
        print(f"2. embedded FHIR R4 server (sekmet-fhir) running at {base}\n")
        settings = load_settings(server=base, state=state, namespace=_NAMESPACE)
        first = sync(export, settings=settings)
        print(f"3. first sync ({first.strategy}):   {_line(first)}")
        for rtype, c in first.counts.items():
            print(f"     {rtype:<15} {c['created']:>6} created")
        second = sync(export, settings=settings)
        print(f"4. rerun, same export:      {_line(second)}")
        changed = apply_changes(export, count=5, seed=11)
        print(f"5. {len(changed)} records changed in the export: " + ", ".join(k for _, k in changed))
        third = sync(export, settings=settings)
        print(f"   incremental sync:        {_line(third)}\n")
        system = f"{_NAMESPACE}/sid/peer-contact"
        contact = next((k for f, k in changed if f == "peer_contacts.csv"), None)
        when = "while it runs" if keep_running else "(run `fhirpeer demo --keep-running` to keep the server up)"
        print(f"6. browse the data {when}:")
        print(f"   curl -s '{base}/Encounter?_count=2'")
        print(f"   curl -s '{base}/CareTeam?_count=1'")
        print(f"   curl -s '{base}/ServiceRequest?status=active&_count=2'")
        if contact:
            print(f"   curl -s '{base}/Encounter?identifier={system}%7C{contact}'")
        print(f"   fhirpeer status --state {state}")
        ok = first.exit_code == 0 and second.written == 0 and third.exit_code == 0
        if keep_running:
            print(f"\nserver kept running at {base} — press Ctrl-C to stop it")
            _wait_for_interrupt()
        print(f"\nserver stopped. Its data stays in {folder / 'server'} (delete the folder when done).")
    return 0 if ok else 1


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
