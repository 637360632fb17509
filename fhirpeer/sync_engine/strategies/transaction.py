"""`transaction`: Bundles of the planned writes, all or nothing per Bundle.

A refused Bundle is split in halves and retried until the refused entries are isolated, so every good record
still lands. References the resolver cannot make literal are left as conditional references for the server to
resolve inside the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ...bundles import bundle
from ...domain import WriteStrategy
from ...errors import FatalError
from ..planner import PlannedWrite
from .base import OnDone, Strategy

log = logging.getLogger("fhirpeer.writer")


class TransactionStrategy(Strategy):
    name = WriteStrategy.TRANSACTION

    def write(self, writes: Sequence[PlannedWrite], on_done: OnDone) -> None:
        for start in range(0, len(writes), self.batch_size):
            self._send(list(writes[start : start + self.batch_size]), on_done)

    def _send(self, writes: list[PlannedWrite], on_done: OnDone) -> None:
        entries = [self.bundle_entry(w, require_literal=False) for w in writes]
        try:
            response = self.client.transaction(bundle([e for e in entries if e is not None], "transaction"))
        except FatalError as exc:
            if len(writes) == 1:
                on_done([self.refused(writes[0], exc)])
                return
            log.info("transaction of %d refused (HTTP %s); splitting to find the refused entries",
                     len(writes), exc.status)  # fmt: skip
            half = len(writes) // 2
            self._send(writes[:half], on_done)
            self._send(writes[half:], on_done)
            return
        on_done([self.entry_outcome(w, e) for w, e in zip(writes, response.get("entry") or [], strict=False)])
