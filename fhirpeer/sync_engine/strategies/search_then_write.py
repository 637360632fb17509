"""`search_then_write`: for servers that offer no conditional update. Every key the state store does not know is
searched by identifier first (`GET Type?identifier=system|key`, batched), then written: `PUT Type/id` to what was
found or to a client-assigned id, or `POST Type` when the server takes no client ids (two steps, not atomic)."""

from __future__ import annotations

from ...domain import WriteStrategy
from ..planner import Addressing
from .base import SingleRequestStrategy


class SearchThenWriteStrategy(SingleRequestStrategy):
    name = WriteStrategy.SEARCH_THEN_WRITE
    always_search = True

    @classmethod
    def addressing(cls, client_ids: bool) -> Addressing:
        return Addressing.CLIENT_ID if client_ids else Addressing.SERVER_ID
