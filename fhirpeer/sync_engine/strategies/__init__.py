"""Write strategies, one class per strategy behind one interface (`Strategy.write`).

=====================  ===================================================================================
``transaction``        transaction Bundles of conditional PUTs ``PUT Type?identifier=sys|val``
``batch``              batch Bundles of the same conditional PUTs (entries succeed or fail one by one)
``conditional_put``    one conditional PUT per resource
``search_then_write``  ``GET Type?identifier=sys|val``, then ``PUT Type/id`` or ``POST Type``
``client_id_put``      ``PUT Type/<id derived from the key>`` (update-as-create, no identifier search)
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
