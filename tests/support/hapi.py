"""The HAPI FHIR JPA server of `tools/hapi-server`, started and stopped by the test session.

`tools/hapi-server/hapi-server build` compiles it once (Maven's local repository caches the rest; an up-to-date build
takes milliseconds), `start` runs it on a free loopback port and waits for `GET /fhir/metadata`, `stop` ends it by
PID. Java 17 and Maven are needed; `hapi_unavailable()` says why it cannot run here.

Example::

    with HapiServer(tmp_dir) as hapi:
        requests.get(f"{hapi.base_url}/metadata")
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from fhirpeer.demo.embedded_server import free_port
from tests.support.paths import REPO

TOOL = REPO / "tools" / "hapi-server" / "hapi-server"
BUILD_TIMEOUT = 1800.0  # a first build downloads ~400 MB through the Maven mirror
START_TIMEOUT = 600.0


class HapiServerError(RuntimeError):
    """The HAPI server could not be built or started (the message carries the tool's output)."""


def hapi_unavailable() -> str | None:
    """Why the HAPI tier cannot run on this machine, or None when it can."""
    missing = [name for name in ("java", "mvn") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found (the HAPI tier needs Java 17 and Maven)"
    if not TOOL.is_file():
        return f"{TOOL} is missing"
    return None


def build() -> None:
    """Build the server (a no-op when the build is up to date)."""
    proc = subprocess.run([str(TOOL), "build"], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise HapiServerError(f"hapi-server build failed:\n{proc.stderr[-4000:]}")


class HapiServer:
    """A HAPI FHIR JPA server on 127.0.0.1 keeping its H2 database in `data_dir`; a context manager."""

    def __init__(self, data_dir: Path, *, validation: bool = False, heap: str = "1g") -> None:
        self.data_dir = Path(data_dir)
        self.validation = validation
        self.heap = heap
        self.base_url = ""

    def start(self) -> HapiServer:
        build()
        command = [str(TOOL), "start", "--port", str(free_port()), "--data", str(self.data_dir), "--heap", self.heap]
        if self.validation:
            command.append("--validation")
        proc = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise HapiServerError(f"hapi-server start failed:\n{proc.stderr[-4000:]}")
        self.base_url = proc.stdout.strip().splitlines()[-1]
        return self

    def stop(self) -> None:
        subprocess.run([str(TOOL), "stop", "--data", str(self.data_dir)], capture_output=True, timeout=120, check=False)

    def __enter__(self) -> HapiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
