"""Planner: compare mapped resources with the sync state and decide create / update / unchanged.

Pure: it reads the state store, never the server. An update of a resource fhirpeer wrote before goes
to `Type/<id>` with If-Match on the version it wrote (conflict policy `skip`), so a change made on
the server since then is detected instead of overwritten; everything else is a conditional update by
identifier, which is idempotent however often it is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..bundles import WriteRequest
from ..domain import ConflictPolicy, ResourceType
from ..mappers import MappedResource, match_url
from ..mapping_files import Mappings
from ..transport.client import format_if_match
from .state import StateStore, content_hash


@dataclass
class PlannedWrite:
    item: MappedResource
    hash: str
    action: str  # create | update
    server_id: str | None = None
    version_id: str | None = None

    @property
    def resource_type(self) -> ResourceType:
        return self.item.resource_type

    @property
    def key(self) -> str:
        return self.item.key

    def request(self, mappings: Mappings, *, if_match: bool = True) -> WriteRequest:
        if if_match and self.server_id and self.version_id:
            return WriteRequest(
                "PUT", f"{self.resource_type}/{self.server_id}", if_match=format_if_match(self.version_id)
            )
        return WriteRequest("PUT", match_url(mappings, self.resource_type, self.key))


@dataclass
class Plan:
    writes: list[PlannedWrite]
    unchanged: list[MappedResource]


def plan_chunk(
    items: Sequence[MappedResource], state: StateStore, *, conflict_policy: ConflictPolicy = ConflictPolicy.SKIP
) -> Plan:
    """Plan one chunk of resources of any types."""
    by_type: dict[ResourceType, list[MappedResource]] = {}
    for item in items:
        by_type.setdefault(item.resource_type, []).append(item)
    writes: list[PlannedWrite] = []
    unchanged: list[MappedResource] = []
    for resource_type, group in by_type.items():
        known = state.lookup(resource_type, (i.key for i in group))
        for item in group:
            digest = content_hash(item.resource)
            row = known.get(item.key)
            if row is None:
                writes.append(PlannedWrite(item, digest, "create"))
            elif row.hash == digest:
                unchanged.append(item)
            elif conflict_policy == ConflictPolicy.OVERWRITE:
                writes.append(PlannedWrite(item, digest, "update", row.server_id, None))
            else:
                writes.append(PlannedWrite(item, digest, "update", row.server_id, row.version_id))
    return Plan(writes, unchanged)
