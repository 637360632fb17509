"""Build transaction / batch Bundles and their entries (no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

_URN_NAMESPACE = uuid.UUID("7f5c2a9e-5d7b-4f0e-9a39-6b1d8f3c2e10")


@dataclass(frozen=True)
class WriteRequest:
    """How one resource is written: `PUT Type?identifier=…` (conditional) or `PUT Type/id` (+ If-Match)."""

    method: str
    url: str
    if_match: str | None = None
    if_none_exist: str | None = None


def full_url(resource_type: str, key: str, namespace: str) -> str:
    """A stable urn:uuid for a business key (the same key always gets the same fullUrl)."""
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, f'{namespace}|{resource_type}|{key}')}"


def entry(resource: dict[str, Any], request: WriteRequest, fullurl: str) -> dict[str, Any]:
    req: dict[str, str] = {"method": request.method, "url": request.url}
    if request.if_match:
        req["ifMatch"] = request.if_match
    if request.if_none_exist:
        req["ifNoneExist"] = request.if_none_exist
    return {"fullUrl": fullurl, "resource": resource, "request": req}


def bundle(entries: list[dict[str, Any]], bundle_type: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}
