"""`transaction`: Bundles of the planned writes, all or nothing per Bundle.

A refused Bundle is split in halves and retried until the refused entries are isolated, so every good record
still lands. References the resolver cannot make literal are left as conditional references for the server to
resolve inside the transaction. A Bundle may hold several resource types (the engine passes them in write order,
so what an entry points at is written before it or in the same transaction), and the Provenance of what it
writes, so the writes and their record commit together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from ...bundles import bundle
from ...domain import Outcome, WriteStrategy
from ...errors import FatalError
from ..planner import PlannedWrite
from .base import OnDone, Strategy, WriteOutcome

log = logging.getLogger("fhirpeer.writer")


class TransactionStrategy(Strategy):
    name = WriteStrategy.TRANSACTION
    mixes_types = True

    def write(self, writes: Sequence[PlannedWrite], on_done: OnDone) -> None:
        for part in self._bundles(writes):
            self._send(part, on_done)

    def _bundles(self, writes: Sequence[PlannedWrite]) -> Iterator[list[PlannedWrite]]:
        """Consecutive slices of `writes` whose Bundle, Provenance entries included, holds at most `batch_size`
        entries (a server's limit on entries per Bundle counts every entry)."""
        start = 0
        while start < len(writes):
            end = min(start + self.batch_size, len(writes))
            while end - start > 1 and end - start + self._provenance_entries(writes[start:end]) > self.batch_size:
                end -= 1
            yield list(writes[start:end])
            start = end

    def _provenance_entries(self, writes: Sequence[PlannedWrite]) -> int:
        if self.provenance is None:
            return 0
        return len({w.action for w in writes if self.provenance.covers(w)})

    def _send(self, writes: list[PlannedWrite], on_done: OnDone, *, with_provenance: bool = True) -> None:
        entries = [e for w in writes if (e := self.bundle_entry(w, require_literal=False)) is not None]
        provenance = self.provenance.entries(writes) if self.provenance is not None and with_provenance else []
        try:
            response = self.client.transaction(bundle([*entries, *provenance], "transaction"), return_minimal=True)
        except FatalError as exc:
            if len(writes) == 1 and provenance and self.provenance is not None:  # the write, or its Provenance?
                outcomes: list[WriteOutcome] = []
                self._send(writes, outcomes.extend, with_provenance=False)
                if outcomes and outcomes[0].result is not Outcome.FAILED:
                    self.provenance.refused_in_bundle()
                on_done(outcomes)
                return
            if len(writes) == 1:
                on_done([self.refused(writes[0], exc)])
                return
            log.info("transaction of %d refused (HTTP %s); splitting to find the refused entries",
                     len(writes), exc.status)  # fmt: skip
            half = len(writes) // 2
            self._send(writes[:half], on_done)
            self._send(writes[half:], on_done)
            return
        outcomes = [self.entry_outcome(w, e) for w, e in zip(writes, response.get("entry") or [], strict=False)]
        if provenance and self.provenance is not None:
            for o in outcomes:
                o.provenance_recorded = self.provenance.covers(o.write)
        on_done(outcomes)
