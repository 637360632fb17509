"""Subprocess entry point that serves sekmet-fhir for :class:`fhirpeer.demo.embedded_server.EmbeddedServer`.

Usage::

    python -m fhirpeer.demo.sekmet_main --settings data/settings.yaml [--careteam-params]

sekmet-fhir 0.1.1 has a fixed search parameter table with no entry for CareTeam. Probing showed that this
one table drives everything CareTeam needs:

* search (``CareTeam?subject=…``): without parameters the criteria are ignored and every CareTeam is returned;
* conditional create / update / delete (``PUT CareTeam?identifier=s|v``): matched in strict mode, so
  unknown parameters give 400;
* conditional references (``CareTeam?identifier=s|v`` inside a transaction): same strict match, 400;
* the CapabilityStatement: it lists only the types present in the table, so CareTeam is missing entirely;
* ``_include`` / ``_revinclude`` and ``Patient/$everything``: they use the reference rows of the index.

Registering the parameters before the app is created fixes all of these. Index rows are only written
when a resource is written, so CareTeams stored while the parameters were missing (a data directory
reused from a run without ``--careteam-params``) are re-indexed at start-up.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

log = logging.getLogger("fhirpeer.embedded")

#: (name, kind, element paths, reference target) — R4 CareTeam search parameters sekmet 0.1.1 lacks.
CARETEAM_SEARCH_PARAMS: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    ("identifier", "token", ("identifier",), None),
    ("status", "token", ("status",), None),
    ("subject", "reference", ("subject",), None),
    ("patient", "reference", ("subject",), "Patient"),
    ("participant", "reference", ("participant.member",), None),
    ("date", "date", ("period",), None),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m fhirpeer.demo.sekmet_main", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="sekmet settings YAML file")
    parser.add_argument(
        "--careteam-params", action="store_true", help="register the CareTeam search parameters sekmet lacks"
    )
    parser.add_argument("--watch-parent", action="store_true", help="shut down when the parent process goes away")
    return parser.parse_args(argv)


def register_careteam_search_params() -> None:
    """Add the CareTeam search parameters to sekmet's global table (must run before ``create_app``)."""
    from sekmet.fhir import search_params as sp

    table = sp.PARAMS.setdefault("CareTeam", {})
    for name, kind, paths, target in CARETEAM_SEARCH_PARAMS:
        table[name] = sp.SearchParam(name, kind, paths, target)


def reindex_type(store: Any, resource_type: str) -> int:
    """Rebuild the search index rows of every live resource of one type; returns how many."""
    import json

    with store.transaction():
        rows = store.conn.execute("SELECT json FROM resources WHERE type=? AND deleted=0", (resource_type,)).fetchall()
        for row in rows:
            store._reindex(json.loads(row["json"]))
    return len(rows)


def close_store(store: Any) -> None:
    """Fold the SQLite write-ahead log into the database file and close it: one self-contained file."""
    with store.lock:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.conn.close()


def install_sigterm_handler() -> None:
    """Make SIGTERM a clean exit (status 0).

    While uvicorn runs it handles SIGTERM itself (graceful shutdown) and re-raises the signal once it
    has stopped; this handler turns that re-raised signal, and one arriving during start-up, into
    ``SystemExit(0)``.
    """

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)


def watch_parent(interval: float = 1.0) -> None:
    """Send ourselves SIGTERM when the parent process dies, so a killed test run leaves no server behind."""
    parent = os.getppid()

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("parent process %d went away: shutting down", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=_watch, name="watch-parent", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Load the settings, build the sekmet app and serve it until SIGTERM/SIGINT."""
    args = parse_args(argv)
    install_sigterm_handler()
    if args.watch_parent:
        watch_parent()

    import uvicorn
    from sekmet.config import load_settings, set_settings
    from sekmet.main import create_app

    settings = load_settings(args.settings)
    set_settings(settings)
    if args.careteam_params:
        register_careteam_search_params()
    app = create_app(settings)
    if args.careteam_params:
        count = reindex_type(app.state.ctx.store, "CareTeam")
        log.info("re-indexed %d CareTeam resource(s)", count)
    try:
        # uvicorn installs its own SIGTERM/SIGINT handlers and shuts down gracefully on either.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        close_store(app.state.ctx.store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
