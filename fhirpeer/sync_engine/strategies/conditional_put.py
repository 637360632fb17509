"""`conditional_put`: one request per resource; what fhirpeer creates goes by `PUT Type?identifier=system|key`
(the server finds or creates it), updates of what it wrote to `Type/id` with If-Match."""

from __future__ import annotations

from ...domain import WriteStrategy
from ..planner import Addressing
from .base import SingleRequestStrategy


class ConditionalPutStrategy(SingleRequestStrategy):
    name = WriteStrategy.CONDITIONAL_PUT

    @classmethod
    def addressing(cls, client_ids: bool) -> Addressing:
        return Addressing.CONDITIONAL
