"""`conditional_put`: one `PUT Type?identifier=system|key` per resource (the server finds or creates it)."""

from __future__ import annotations

from typing import Any

from ...domain import WriteStrategy
from ...transport.client import WriteResult
from ..planner import PlannedWrite
from .base import SingleRequestStrategy


class ConditionalPutStrategy(SingleRequestStrategy):
    name = WriteStrategy.CONDITIONAL_PUT

    def write_one(self, w: PlannedWrite, resource: dict[str, Any]) -> WriteResult:
        request = w.request(self.mappings, if_match=self.uses_if_match)
        if request.url.startswith(f"{w.resource_type}/"):
            resource = {**resource, "id": w.server_id}
        return self.client.put(request.url, resource, if_match=request.if_match)
