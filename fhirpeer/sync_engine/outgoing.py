"""The form a mapped resource is sent in: references made literal, fhirpeer's `meta.tag`, the run's
`meta.source`, and the id when it is written to `Type/id`."""

from __future__ import annotations

from typing import Any

from ..content_hash import content_hash
from ..mappers import MappedResource
from .resolver import ReferenceResolver


class Outgoing:
    def __init__(self, resolver: ReferenceResolver, owned_tag: dict[str, str], source: str):
        self.resolver = resolver
        self.owned_tag = owned_tag
        self.source = source

    def resource(
        self, item: MappedResource, *, require_all: bool = False, body_id: str | None = None
    ) -> dict[str, Any] | None:
        """What is sent for `item` (None when `require_all` and a reference cannot be made literal)."""
        resource = self.resolver.literal(item, require_all=require_all)
        if resource is None:
            return None
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), self.owned_tag]
        meta["source"] = self.source
        out = {**resource, "meta": meta}
        if body_id:
            out["id"] = body_id
        return out

    def same_content(self, server_resource: dict[str, Any], item: MappedResource) -> bool:
        """Whether the server holds exactly what fhirpeer would send (server bookkeeping ignored)."""
        intended = self.resource(item)
        return intended is not None and same_content(server_resource, intended)


def same_content(server_resource: dict[str, Any], intended: dict[str, Any]) -> bool:
    """Compare ignoring what the server adds (id, versionId, lastUpdated, source, narrative)."""
    return content_hash(_normalise(server_resource)) == content_hash(_normalise(intended))


def _normalise(resource: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k not in ("id", "text")}
    meta = {k: v for k, v in (out.get("meta") or {}).items() if k not in ("versionId", "lastUpdated", "source")}
    for labels in ("tag", "security"):  # servers may store and return these sets in another order
        if isinstance(meta.get(labels), list):
            meta[labels] = sorted(meta[labels], key=lambda c: (str(c.get("system")), str(c.get("code"))))
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out
