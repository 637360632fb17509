"""Read back what a FHIR server holds for one identifier namespace (for assertions)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fhirpeer.client import FhirClient
from fhirpeer.mappings import load_mappings


def systems(namespace: str) -> dict[str, str]:
    return dict(load_mappings(namespace=namespace).identifiers.systems)


def inventory(base_url: str, namespace: str, resource_type: str) -> dict[str, list[dict[str, Any]]]:
    """key → every resource on the server carrying that business key (should be exactly one each)."""
    system = systems(namespace)[resource_type]
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with FhirClient(base_url) as client:
        for resource in client.search(resource_type, [("identifier", f"{system}|"), ("_count", "200")]):
            for ident in resource.get("identifier", []):
                if ident.get("system") == system:
                    found[ident["value"]].append(resource)
    return dict(found)


def versions(base_url: str, namespace: str, resource_type: str) -> dict[str, str]:
    """key → versionId, asserting each key is held exactly once."""
    inv = inventory(base_url, namespace, resource_type)
    dupes = {k: len(v) for k, v in inv.items() if len(v) != 1}
    assert not dupes, f"{resource_type}: keys held more than once: {dupes}"
    return {k: v[0]["meta"]["versionId"] for k, v in inv.items()}
