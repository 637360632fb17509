"""`search_then_write`: `GET Type?identifier=system|key`, then `PUT Type/id` or `POST Type`, for servers that
offer no conditional update (two requests per record, not atomic)."""

from __future__ import annotations

from typing import Any

from ...domain import WriteStrategy
from ...errors import FatalError
from ...mappers.common import identifier_token
from ...transport.client import WriteResult
from ..planner import PlannedWrite
from .base import SingleRequestStrategy


class SearchThenWriteStrategy(SingleRequestStrategy):
    name = WriteStrategy.SEARCH_THEN_WRITE

    def write_one(self, w: PlannedWrite, resource: dict[str, Any]) -> WriteResult:
        system = self.mappings.system_for(w.resource_type)
        found = [
            r["id"]
            for r in self.client.search(w.resource_type, [("identifier", identifier_token(system, w.key))])
            if any(i.get("system") == system and i.get("value") == w.key for i in r.get("identifier", []))
        ]
        if len(found) > 1:
            raise FatalError(f"{len(found)} resources on the server have this identifier", status=412)
        if found:
            return self.client.put(f"{w.resource_type}/{found[0]}", {**resource, "id": found[0]})
        return self.client.post(w.resource_type, resource)
