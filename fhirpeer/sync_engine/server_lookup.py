"""What the server already holds for business keys: batched identifier searches and counts.

One search answers up to `CHUNK` keys (`identifier=sys|k1,sys|k2,…`, an OR in FHIR search), so finding what the
server holds costs one request per chunk of keys, not one per record. Matches are checked client-side too (a
server that ignores a parameter returns everything).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..mappers.common import identifier_token
from ..transport.client import FhirClient

CHUNK = 40


@dataclass(frozen=True)
class Found:
    """A resource on the server that carries a business key's identifier."""

    id: str
    version_id: str | None
    resource: dict[str, Any]


class ServerLookup:
    """Identifier searches for one run, through the lookup thread's client."""

    def __init__(self, client: FhirClient):
        self.client = client

    def find(self, resource_type: str, system: str, keys: Iterable[str]) -> dict[str, list[Found]]:
        """key → every resource of `resource_type` with identifier `system|key` (empty list: none)."""
        wanted = sorted(set(keys))
        found: dict[str, list[Found]] = {k: [] for k in wanted}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            params = [("identifier", ",".join(identifier_token(system, k) for k in chunk)), ("_count", "200")]
            chunk_keys = set(chunk)
            for resource in self.client.search(resource_type, params):
                rid = resource.get("id")
                if not isinstance(rid, str):
                    continue
                version = (resource.get("meta") or {}).get("versionId")
                for ident in resource.get("identifier") or []:
                    value = ident.get("value") if isinstance(ident, dict) else None
                    if ident.get("system") == system and value in chunk_keys:
                        found[value].append(Found(rid, version, resource))
        return found

    def count(self, resource_type: str, system: str) -> int | None:
        """How many resources of a type carry any identifier of `system` (None when the server will not say)."""
        bundle = next(self.client.search_bundles(resource_type, [("identifier", f"{system}|"), ("_summary", "count")]))
        total = bundle.get("total")
        return total if isinstance(total, int) else None
