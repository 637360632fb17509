"""Write strategies, one class per strategy behind one interface (`Strategy.write`).

The planner decides each write's request (`PUT Type/<deterministic id>` where the server takes client ids, a
conditional update or create otherwise, If-Match on updates); a strategy decides how requests are grouped:

=====================  ===================================================================================
``transaction``        transaction Bundles (all or nothing; a refused Bundle is bisected)
``batch``              batch Bundles (entries succeed or fail one by one; references must be literal)
``conditional_put``    one request per resource; creates by conditional update ``PUT Type?identifier=sys|val``
``search_then_write``  every unknown key searched first, then ``PUT Type/id`` or ``POST Type``
``client_id_put``      one ``PUT Type/<id derived from the key>`` per resource (update-as-create)
=====================  ===================================================================================

Adding a strategy is one module with a `Strategy` subclass, plus its line in `STRATEGY_CLASSES`.
"""

from __future__ import annotations

from ...domain import WriteStrategy
from .base import Strategy, WriteOutcome
from .batch import BatchStrategy
from .client_id_put import ClientIdPutStrategy
from .conditional_put import ConditionalPutStrategy
from .search_then_write import SearchThenWriteStrategy
from .transaction import TransactionStrategy

STRATEGY_CLASSES: dict[WriteStrategy, type[Strategy]] = {
    cls.name: cls
    for cls in (
        TransactionStrategy,
        BatchStrategy,
        ConditionalPutStrategy,
        SearchThenWriteStrategy,
        ClientIdPutStrategy,
    )
}

__all__ = ["STRATEGY_CLASSES", "Strategy", "WriteOutcome"]
