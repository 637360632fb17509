"""`batch`: Bundles whose entries succeed or fail one by one (every reference must be literal: a batch entry
cannot see the others)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...bundles import bundle
from ...domain import Outcome, WriteStrategy
from ..planner import PlannedWrite
from .base import OnDone, Strategy, WriteOutcome, entry_status


class BatchStrategy(Strategy):
    name = WriteStrategy.BATCH

    def write(self, writes: Sequence[PlannedWrite], on_done: OnDone) -> None:
        for start in range(0, len(writes), self.batch_size):
            on_done(self._send(list(writes[start : start + self.batch_size])))

    def _send(self, writes: list[PlannedWrite]) -> list[WriteOutcome]:
        ready: list[tuple[PlannedWrite, dict[str, Any]]] = []
        outcomes: list[WriteOutcome] = []
        for w in writes:
            e = self.bundle_entry(w, require_literal=True)
            if e is None:
                outcomes.append(WriteOutcome(w, Outcome.FAILED, reason="a referenced record is not on the server"))
            else:
                ready.append((w, e))
        if not ready:
            return outcomes
        response = self.client.batch(bundle([e for _, e in ready], "batch"), return_minimal=True)
        for (w, _), e in zip(ready, response.get("entry") or [], strict=False):
            outcome = self.entry_outcome(w, e)
            if outcome.result is Outcome.FAILED and self.if_match_failed(w, entry_status(e)):
                outcome = self.resolve_conflict(w)
            outcomes.append(outcome)
        return outcomes
