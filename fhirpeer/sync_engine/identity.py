"""How fhirpeer names and marks what it writes.

- A deterministic server id per (namespace, type, business key): the same record always lands on the same
  `Type/id`, so a write is idempotent by construction and bulk files agree with sync. It never reveals the key.
- A `meta.tag` on every resource fhirpeer writes, so a rerun without the state store still tells fhirpeer's
  resources from the EHR's (searchable: `_tag=<system>|<code>`).
- A `meta.source` naming the namespace and the run that wrote a version (left out of content comparisons).
"""

from __future__ import annotations

import hashlib
from typing import Any

#: The tag code fhirpeer puts on what it writes, under `{local code system base}/fhirpeer`.
OWNED_TAG_CODE = "written-by-fhirpeer"
OWNED_TAG_DISPLAY = "Written by fhirpeer"


def resource_id(namespace: str, resource_type: str, key: str) -> str:
    """A deterministic, alphanumeric (never purely numeric, at most 64 characters) id for a business key."""
    return "fp" + hashlib.sha256(f"{namespace}|{resource_type}|{key}".encode()).hexdigest()[:40]


def owned_tag(local_code_system_base: str) -> dict[str, str]:
    """The `meta.tag` coding that marks a resource as written by fhirpeer under this namespace."""
    return {"system": f"{local_code_system_base}/fhirpeer", "code": OWNED_TAG_CODE, "display": OWNED_TAG_DISPLAY}


def is_owned(resource: dict[str, Any], tag: dict[str, str]) -> bool:
    """Whether a resource read from the server carries fhirpeer's tag for this namespace."""
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(t.get("system") == tag["system"] and t.get("code") == tag["code"] for t in tags if isinstance(t, dict))


def run_source(namespace: str, run_id: str) -> str:
    """`meta.source` of what one run writes: the namespace's fhirpeer and the run (servers may append `#…`)."""
    return f"{namespace.rstrip('/')}/fhirpeer/run/{run_id}"
