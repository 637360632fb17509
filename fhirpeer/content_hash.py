"""The content hash of a FHIR resource: what "unchanged" means everywhere (planner, state store, bulk files)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(resource: dict[str, Any]) -> str:
    """A stable hash of a resource's content (key order does not matter)."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
