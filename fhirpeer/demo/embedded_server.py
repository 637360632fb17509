"""A real FHIR R4 server (sekmet-fhir 0.1.1) on loopback, for ``fhirpeer demo`` and the test-suite.

The server runs in a subprocess (``python -m fhirpeer.demo.sekmet_main``) so it can be killed, never shares the
GIL with the client, and keeps its output out of our terminal. Its SQLite database, settings file and log
file stay in ``data_dir`` after it stops, so a user can inspect them or simply delete the directory.

Example::

    with EmbeddedServer(Path("demo-data")) as server:
        requests.get(f"{server.base_url}/metadata")
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests
import yaml

import fhirpeer

from ..errors import ConfigError, ServerUnreachable

SETTINGS_FILE = "sekmet-settings.yaml"
LOG_FILE = "sekmet-server.log"
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 5.0
_POLL_INTERVAL = 0.1
_LOG_TAIL_LINES = 30
_PORT_ATTEMPTS = 3
_START_MARKER = "=== fhirpeer: starting sekmet"


class EmbeddedServerError(ServerUnreachable):
    """The embedded server died during start-up or did not become ready in time."""


def free_port() -> int:
    """Ask the OS for a free TCP port on 127.0.0.1 (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_sekmet() -> None:
    """Raise :class:`ConfigError` when the optional server dependency is not installed."""
    if importlib.util.find_spec("sekmet") is None or importlib.util.find_spec("uvicorn") is None:
        raise ConfigError(
            "The embedded FHIR server needs sekmet-fhir, which is not installed: pip install 'fhirpeer[server]'"
        )


def sekmet_settings(data_dir: Path, port: int) -> dict[str, Any]:
    """The sekmet settings for a loopback server storing everything in ``data_dir``."""
    return {
        "base_url": f"http://127.0.0.1:{port}/fhir",
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(data_dir),
        "own_private_key_path": str(data_dir / "keys" / "sekmet_private.pem"),
        # The simulator reacts to ServiceRequest/Task/... writes by itself: it must stay off.
        "simulator": {"enabled": False},
        "validation": {"inbound": "strict"},
        "log_inbound": False,
    }


def _subprocess_env() -> dict[str, str]:
    """Our environment minus sekmet's overrides (SEKMET_PORT, SEKMET_DB, ...), plus our package's path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}
    package_root = str(Path(fhirpeer.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines the latest start wrote to the log file ('' when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    _, marker, latest = text.rpartition(_START_MARKER)
    latest = marker + latest
    return "\n".join(latest.splitlines()[-lines:]).strip()


class EmbeddedServer:
    """sekmet-fhir served by a subprocess on ``127.0.0.1``; a context manager (start on enter, stop on exit).

    Args:
        data_dir: where the settings file, the SQLite database and (by default) the log file are kept.
        port: TCP port; a free loopback port is chosen when None.
        careteam_search_params: register the CareTeam search parameters sekmet 0.1.1 lacks (needed for
            CareTeam search, conditional create/update and conditional references).
        log_file: server stdout/stderr (appended); default ``data_dir/sekmet-server.log``.
        startup_timeout: seconds to wait for ``GET {base}/metadata`` to answer 200.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        careteam_search_params: bool = True,
        log_file: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.careteam_search_params = careteam_search_params
        self.log_file = Path(log_file).resolve() if log_file else self.data_dir / LOG_FILE
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ---------------- public API ----------------

    @property
    def port(self) -> int:
        """The port the server listens on (only valid once started)."""
        if self._port is None:
            raise RuntimeError("EmbeddedServer has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """FHIR base URL, e.g. ``http://127.0.0.1:PORT/fhir``."""
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def settings_file(self) -> Path:
        """The sekmet settings YAML written into ``data_dir``."""
        return self.data_dir / SETTINGS_FILE

    @property
    def running(self) -> bool:
        """True while the server subprocess is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def exit_status(self) -> int | None:
        """The server subprocess's exit status once it has ended (None while it runs or before it started)."""
        return self._process.poll() if self._process is not None else None

    @property
    def pid(self) -> int | None:
        """Process id of the server subprocess (None when not started)."""
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedServer:
        """Start the server and wait until its CapabilityStatement answers; returns ``self``.

        Raises:
            ConfigError: sekmet-fhir is not installed.
            EmbeddedServerError: the server died or was not ready within ``startup_timeout``; the message
                ends with the server's log tail.
        """
        if self.running:
            return self
        require_sekmet()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(self._requested_port or free_port())
                return self
            except EmbeddedServerError:
                # an automatically chosen port can be taken between free_port() and the server's bind
                if attempt == attempts or "address already in use" not in _tail(self.log_file).lower():
                    raise
        return self  # pragma: no cover - the loop either returns or raises

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after 5 s. Idempotent; the data directory is kept."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.base_url}, pid {self.pid}" if self.running else "stopped"
        return f"EmbeddedServer({str(self.data_dir)!r}, {state})"

    # ---------------- internals ----------------

    def _start_once(self, port: int) -> None:
        """Write the settings, spawn the subprocess and wait for readiness (stopping it on failure)."""
        self._port = port
        self.settings_file.write_text(
            yaml.safe_dump(sekmet_settings(self.data_dir, port), sort_keys=False), encoding="utf-8"
        )
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "fhirpeer.demo.sekmet_main", "--settings", str(self.settings_file)]
        cmd.append("--watch-parent")
        if self.careteam_search_params:
            cmd.append("--careteam-params")
        return cmd

    def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._log.write(f"\n{_START_MARKER} on port {self._port} ===\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            self._command(),
            cwd=self.data_dir,
            env=_subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self) -> None:
        """Poll ``GET {base}/metadata`` until 200; fail early if the subprocess exits."""
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/metadata"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._fail(f"exited with status {self._process.returncode} during start-up")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(_POLL_INTERVAL)
        self._fail(f"did not answer GET {url} with 200 within {self.startup_timeout:.0f} s")

    def _fail(self, what: str) -> None:
        if self._log is not None:
            self._log.flush()
        raise EmbeddedServerError(
            f"Embedded FHIR server {what}. Log {self.log_file} ends with:\n{_tail(self.log_file)}"
        )
