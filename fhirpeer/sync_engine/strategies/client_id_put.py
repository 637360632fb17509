"""`client_id_put`: `PUT Type/<id derived from the key>`, for servers with update-as-create but no identifier
search. The id is the same for the same namespace, type and key, so a retry updates instead of duplicating."""

from __future__ import annotations

import hashlib
from typing import Any

from ...domain import WriteStrategy
from ...transport.client import WriteResult
from ..planner import PlannedWrite
from .base import SingleRequestStrategy


class ClientIdPutStrategy(SingleRequestStrategy):
    name = WriteStrategy.CLIENT_ID_PUT

    def write_one(self, w: PlannedWrite, resource: dict[str, Any]) -> WriteResult:
        sid = w.server_id or client_id(self.mappings.identifiers.namespace, w.resource_type, w.key)
        return self.client.put(f"{w.resource_type}/{sid}", {**resource, "id": sid})


def client_id(namespace: str, resource_type: str, key: str) -> str:
    """A deterministic, alphanumeric (never purely numeric) id for a business key."""
    return "fp" + hashlib.sha256(f"{namespace}|{resource_type}|{key}".encode()).hexdigest()[:40]
