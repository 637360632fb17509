"""`client_id_put`: one `PUT Type/<id derived from the key>` per resource, for servers with update-as-create but
no identifier search. The id is the same for the same namespace, type and key, so a retry updates instead of
duplicating."""

from __future__ import annotations

from ...domain import WriteStrategy
from ..planner import Addressing
from .base import SingleRequestStrategy


class ClientIdPutStrategy(SingleRequestStrategy):
    name = WriteStrategy.CLIENT_ID_PUT

    @classmethod
    def addressing(cls, client_ids: bool) -> Addressing:
        return Addressing.CLIENT_ID
