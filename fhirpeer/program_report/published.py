"""A program report's figures for one as-of date, and their published (suppressed) form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from .metrics import ProgramMetrics, ReportOptions
from .model import HandoffOutcome
from .suppress import SuppressionRule
from .tables import SCHEMA_VERSION, Table, publish_tables, summary_document


@dataclass(frozen=True)
class ProgramReport:
    """The program's figures as of one date. ``metrics`` are unsuppressed: publish through ``write_report``."""

    as_of: date
    time_zone: str
    options: ReportOptions
    metrics: ProgramMetrics
    outcomes: tuple[HandoffOutcome, ...]
    generated_at: datetime
    server: str | None = None
    namespace: str | None = None
    warnings: tuple[str, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=dict)

    @property
    def rule(self) -> SuppressionRule:
        return SuppressionRule(self.options.suppress_below)

    @cached_property
    def tables(self) -> tuple[Table, ...]:
        """The published tables (suppression applied), in page order."""
        return publish_tables(self.metrics, self.rule, self.options)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def summary(self) -> dict[str, Any]:
        """``summary.json`` (schema 1; see ``summary.schema.json``); suppressed figures are null."""
        return {
            "schema": SCHEMA_VERSION,
            "as_of": self.as_of.isoformat(),
            **summary_document(self.metrics, self.rule, self.options),
            "server": self.server,
            "namespace": self.namespace,
            "time_zone": self.time_zone,
            "suppress_below": self.options.suppress_below,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "warnings": list(self.warnings),
            "skipped": dict(sorted(self.skipped.items())),
        }
