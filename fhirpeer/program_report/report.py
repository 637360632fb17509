"""A program report: its figures for one as-of date, and the files it is published as."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from . import handoff_outcomes
from .csvout import write_csv, write_text
from .metrics import ReportOptions, compute_metrics
from .model import ProgramData
from .published import ProgramReport
from .render_html import render_page
from .tables import csv_rows

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
    """A few PHI-free lines for a terminal, from the published (suppressed) figures: engagement by program
    month, contact modes and duration, ED linkage."""
    doc = report.summary()
    lines = [f"Program report as of {report.as_of.isoformat()} ({report.time_zone})"]
    months = [m for m in doc["engagement_by_month"] if m["eligible"] != 0]
    if months:
        shown = ", ".join(f"{m['month']}: {_pct(m['share'])} ({_shown(m['engaged'])}/{_shown(m['eligible'])})"
                          for m in months)  # fmt: skip
        lines.append(f"  engaged by program month — {shown}")
    modes = doc["modes"]
    if any(v["contacts"] != 0 for v in modes.values()):
        lines.append(
            "  contact modes — " + ", ".join(f"{k.replace('_', ' ')} {_pct(v['share'])}" for k, v in modes.items())
        )
    d = doc["duration_min"]
    if d["contacts"] != 0:
        lines.append(f"  contact minutes — median {_num(d['median'])} (quartiles {_num(d['q1'])}, {_num(d['q3'])})")
    ed = doc["ed_linkage"]
    if ed["handoffs"] != 0:
        lines.append(f"  ED handoffs linked to a peer — {_shown(ed['linked_1d'])} within 1 day, "
                     f"{_shown(ed['linked_7d'])} within 7, of {_shown(ed['handoffs'])}")  # fmt: skip
    return lines


def _pct(share: object) -> str:
    return f"{share:.0%}" if isinstance(share, float) else "suppressed"


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "suppressed"


def _shown(cell: object) -> str:
    return str(cell) if isinstance(cell, int) else "suppressed"
