"""A program report: its figures for one as-of date, and the files it is published as."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from fhirpeer import outcomes as handoff_outcomes  # a module import: fhirpeer.outcomes imports this package

from .csvout import write_csv, write_text
from .metrics import ProgramMetrics, ReportOptions, compute_metrics
from .model import HandoffOutcome, ProgramData
from .render_html import render_page
from .suppress import SuppressionRule
from .tables import SCHEMA_VERSION, Table, csv_rows, publish_tables, summary_document

REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"


def display_server(url: str | None) -> str | None:
    """A server URL fit to print: no user name, password, query or fragment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


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


def build_report(
    data: ProgramData,
    *,
    as_of: date,
    tz: ZoneInfo,
    options: ReportOptions | None = None,
    server: str | None = None,
    namespace: str | None = None,
    warnings: Iterable[str] = (),
    generated_at: datetime | None = None,
) -> ProgramReport:
    """Decide every handoff's outcome and compute the report's figures from extracted program data.

    ``as_of`` is a date in the site time zone ``tz``; ``warnings`` are PHI-free notes shown in the report
    (e.g. from ``fetch_program``).
    """
    opts = options or ReportOptions()
    decided = handoff_outcomes.decide_outcomes(data, tz=tz)
    return ProgramReport(
        as_of=as_of,
        time_zone=tz.key,
        options=opts,
        metrics=compute_metrics(data, decided, as_of=as_of, tz=tz, options=opts),
        outcomes=tuple(decided),
        generated_at=generated_at or datetime.now(UTC),
        server=display_server(server),
        namespace=namespace,
        warnings=tuple(warnings),
        skipped=dict(data.skipped),
    )


def write_report(report: ProgramReport, out_dir: Path) -> list[Path]:
    """Write ``report.html``, ``summary.json`` and one CSV per table into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        write_text(out / REPORT_HTML, render_page(report)),
        write_text(out / SUMMARY_JSON, json.dumps(report.summary(), indent=2, ensure_ascii=False) + "\n"),
    ]
    written += [write_csv(out / f"{t.name}.csv", [c.key for c in t.columns], csv_rows(t)) for t in report.tables]
    return written


def headline(report: ProgramReport) -> Sequence[str]:
    """A few PHI-free lines for a terminal: month-1 engagement and where the figures stand."""
    first = report.table("engagement_by_month").rows[:1]
    lines = [f"Program report as of {report.as_of.isoformat()} ({report.time_zone})"]
    if first:
        _, _, eligible, engaged, share = first[0]
        pct = f"{share:.0%}" if isinstance(share, float) else "suppressed"
        lines.append(f"  month 1 engagement: {pct} ({_shown(engaged)} of {_shown(eligible)} eligible)")
    return lines


def _shown(cell: object) -> str:
    return str(cell) if isinstance(cell, int) else "suppressed"
