"""The report's published tables (suppression applied), their CSV form, and ``summary.json``.

Every output — page, CSV files, summary — is built from what this module publishes, never from the raw
metrics, so one suppression rule governs them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .csvout import text_cell
from .metrics import STAGES, ProgramMetrics, ReportOptions
from .suppress import SUPPRESSED, Cell, Suppressed, SuppressionRule, json_value

SCHEMA_VERSION = 1
SUPPRESSED_TEXT = "suppressed"
OTHER_REASONS = "other reasons (each too few to show)"
MODE_LABELS = {"telephone": "Telephone", "in_person": "In person", "video": "Video"}
STAGE_LABELS = {key: label for key, label, _ in STAGES} | {"after_program": "After the program"}

ColumnKind = Literal["text", "count", "share", "number", "flag"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ColumnKind


@dataclass(frozen=True)
class Table:
    """One table of the report: a CSV file ``<name>.csv`` and a table in the page."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def column(self, key: str) -> list[Cell]:
        i = [c.key for c in self.columns].index(key)
        return [row[i] for row in self.rows]


def _months_label(months: Sequence[int]) -> str:
    return f"{months[0]}–{months[-1]}" if len(months) > 1 else str(months[0])


def _counts_and_share(rule: SuppressionRule, part: int, whole: int) -> tuple[Cell, Cell]:
    return rule.count(part), rule.share(part, whole)


def engagement_tables(m: ProgramMetrics, rule: SuppressionRule) -> tuple[Table, Table]:
    by_month = Table(
        "engagement_by_month",
        "Engagement by program month",
        (
            Column("month", "Month", "number"),
            Column("stage", "Stage", "text"),
            Column("eligible", "Eligible", "count"),
            Column("engaged", "Engaged", "count"),
            Column("share", "Share engaged", "share"),
        ),
        tuple(
            (e.month, STAGE_LABELS[e.stage], rule.count(e.eligible), *_counts_and_share(rule, e.engaged, e.eligible))
            for e in m.engagement_by_month
        ),
    )
    by_stage = Table(
        "engagement_by_stage",
        "Engagement by stage (episode-months pooled)",
        (
            Column("stage", "Stage", "text"),
            Column("months", "Months", "text"),
            Column("eligible_months", "Eligible episode-months", "count"),
            Column("engaged_months", "Engaged episode-months", "count"),
            Column("share", "Share engaged", "share"),
        ),
        tuple(
            (s.label, _months_label(s.months), rule.count(s.eligible), *_counts_and_share(rule, s.engaged, s.eligible))
            for s in m.stages
        ),
    )
    return by_month, by_stage


def contact_tables(m: ProgramMetrics, rule: SuppressionRule) -> tuple[Table, Table]:
    total = sum(mode.contacts for mode in m.modes)
    modes = Table(
        "contact_modes",
        "Contact modes",
        (Column("mode", "Mode", "text"), Column("contacts", "Contacts", "count"), Column("share", "Share", "share")),
        tuple((MODE_LABELS[c.mode], *_counts_and_share(rule, c.contacts, total)) for c in m.modes),
    )
    d = m.duration
    durations = Table(
        "contact_duration",
        "Contact duration (minutes)",
        (
            Column("contacts", "Contacts with a length", "count"),
            Column("q1", "1st quartile", "number"),
            Column("median", "Median", "number"),
            Column("q3", "3rd quartile", "number"),
        ),
        (
            (
                rule.count(d.contacts),
                rule.statistic(d.q1, d.contacts),
                rule.statistic(d.median, d.contacts),
                rule.statistic(d.q3, d.contacts),
            ),
        ),
    )
    return modes, durations


def caseload_table(m: ProgramMetrics, rule: SuppressionRule, options: ReportOptions) -> Table:
    return Table(
        "caseload",
        f"Caseload per peer (cap {options.caseload_cap})",
        (
            Column("peer", "Peer", "text"),
            Column("patients", "Patients with an active episode", "count"),
            Column("over_cap", "Over the cap", "flag"),
        ),
        tuple((p.peer, rule.count(p.patients), p.over_cap) for p in m.caseload),
    )


def linkage_tables(m: ProgramMetrics, rule: SuppressionRule) -> tuple[Table, Table, Table, Table, Table]:
    ed = m.ed_linkage
    ed_table = Table(
        "ed_linkage",
        "ED warm handoffs reaching a peer",
        (
            Column("handoffs", "ED handoffs", "count"),
            Column("linked", "Reached a peer", "count"),
            Column("linked_1d", "Within 1 day", "count"),
            Column("share_1d", "Share within 1 day", "share"),
            Column("linked_7d", "Within 7 days", "count"),
            Column("share_7d", "Share within 7 days", "share"),
            Column("linked_30d", "Within 30 days", "count"),
            Column("share_30d", "Share within 30 days", "share"),
            Column("median_hours", "Median hours to first contact", "number"),
        ),
        (
            (
                rule.count(ed.handoffs),
                rule.count(ed.linked),
                *_counts_and_share(rule, ed.linked_1d, ed.handoffs),
                *_counts_and_share(rule, ed.linked_7d, ed.handoffs),
                *_counts_and_share(rule, ed.linked_30d, ed.handoffs),
                rule.statistic(ed.median_hours, ed.linked),
            ),
        ),
    )
    a = m.aftercare
    aftercare = Table(
        "aftercare",
        "Aftercare handoffs at the end of the program",
        (
            Column("finished", "Finished episodes", "count"),
            Column("with_aftercare_handoff", "With an aftercare handoff", "count"),
            Column("share", "Share", "share"),
        ),
        ((rule.count(a.finished), *_counts_and_share(rule, a.with_aftercare_handoff, a.finished)),),
    )
    by_kind = Table(
        "linkage_by_kind",
        "Handoff linkage by kind",
        (
            Column("kind", "Kind", "text"),
            Column("handoffs", "Handoffs", "count"),
            Column("linked", "Linked", "count"),
            Column("share_linked", "Linkage rate", "share"),
            Column("linked_7d", "Within 7 days", "count"),
            Column("share_7d", "Share within 7 days", "share"),
            Column("linked_30d", "Within 30 days", "count"),
            Column("share_30d", "Share within 30 days", "share"),
            Column("median_days", "Median days to linkage", "number"),
        ),
        tuple(
            (
                k.kind,
                rule.count(k.handoffs),
                *_counts_and_share(rule, k.linked, k.handoffs),
                *_counts_and_share(rule, k.linked_7d, k.handoffs),
                *_counts_and_share(rule, k.linked_30d, k.handoffs),
                rule.statistic(k.median_days, k.linked),
            )
            for k in m.linkage_by_kind
        ),
    )
    by_outcome = Table(
        "outcomes_by_kind",
        "Handoff outcomes by kind",
        (
            Column("kind", "Kind", "text"),
            Column("linked", "Linked", "count"),
            Column("in_progress", "In progress", "count"),
            Column("not_linked", "Not linked", "count"),
            Column("pending", "Pending", "count"),
            Column("retracted", "Retracted", "count"),
        ),
        tuple(
            (
                k.kind,
                rule.count(k.linked),
                rule.count(k.in_progress),
                rule.count(k.not_linked),
                rule.count(k.pending),
                rule.count(k.retracted),
            )
            for k in m.linkage_by_kind
        ),
    )
    reasons = Table(
        "not_linked_reasons",
        "Top reasons for not linked",
        (Column("reason", "Reason (code or text)", "text"), Column("handoffs", "Handoffs", "count")),
        _reason_rows(m.not_linked_reasons, rule),
    )
    return ed_table, aftercare, by_kind, by_outcome, reasons


def _reason_rows(reasons: Sequence[tuple[str, int]], rule: SuppressionRule) -> tuple[tuple[Cell, ...], ...]:
    """Reasons with a publishable count; the others pooled, since a rare free-text reason could identify."""
    shown = [(reason, n) for reason, n in reasons if not rule.hides(n)]
    pooled = sum(n for _, n in reasons if rule.hides(n))
    rows: list[tuple[Cell, ...]] = [(reason, n) for reason, n in shown]
    if pooled:
        rows.append((OTHER_REASONS, rule.count(pooled)))
    return tuple(rows)


def publish_tables(m: ProgramMetrics, rule: SuppressionRule, options: ReportOptions) -> tuple[Table, ...]:
    """Every table of the report, in page order, suppression applied."""
    return (
        *engagement_tables(m, rule),
        *contact_tables(m, rule),
        caseload_table(m, rule, options),
        *linkage_tables(m, rule),
    )


# --- CSV ----------------------------------------------------------------------------------------------------


def csv_cell(cell: Cell, kind: ColumnKind) -> str:
    """A cell as CSV text: suppressed → "suppressed", not applicable → empty."""
    if isinstance(cell, Suppressed):
        return SUPPRESSED_TEXT
    if cell is None:
        return ""
    if kind == "flag":
        return "true" if cell else "false"
    if isinstance(cell, str):
        return text_cell(cell)
    if isinstance(cell, float) and cell.is_integer() and kind != "share":
        return str(int(cell))
    return str(cell)


def csv_rows(table: Table) -> list[list[str]]:
    return [[csv_cell(cell, col.kind) for cell, col in zip(row, table.columns, strict=True)] for row in table.rows]


# --- summary.json -------------------------------------------------------------------------------------------


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def _statistic(rule: SuppressionRule, value: float | None, n: int) -> float | int | None:
    published = rule.statistic(value, n)
    return None if published is None or published is SUPPRESSED else _number(value)


def summary_document(m: ProgramMetrics, rule: SuppressionRule, options: ReportOptions) -> dict[str, Any]:
    """The figures of ``summary.json`` (schema 1): the issue's keys, then additional ones; null = suppressed."""
    count, share = rule.count, rule.share
    total_modes = sum(c.contacts for c in m.modes)
    d, ed, a = m.duration, m.ed_linkage, m.aftercare
    document: dict[str, Any] = {
        "engagement_by_month": [
            {
                "month": e.month,
                "eligible": count(e.eligible),
                "engaged": count(e.engaged),
                "share": share(e.engaged, e.eligible),
            }
            for e in m.engagement_by_month
        ],
        "modes": {c.mode: {"contacts": count(c.contacts), "share": share(c.contacts, total_modes)} for c in m.modes},
        "duration_min": {
            "median": _statistic(rule, d.median, d.contacts),
            "q1": _statistic(rule, d.q1, d.contacts),
            "q3": _statistic(rule, d.q3, d.contacts),
            "contacts": count(d.contacts),
        },
        "caseload": {
            "cap": options.caseload_cap,
            "range": list(options.caseload_range),
            "peers": [{"peer": p.peer, "patients": count(p.patients), "over_cap": p.over_cap} for p in m.caseload],
        },
        "ed_linkage": {
            "handoffs": count(ed.handoffs),
            "linked": count(ed.linked),
            "linked_1d": count(ed.linked_1d),
            "linked_7d": count(ed.linked_7d),
            "linked_30d": count(ed.linked_30d),
            "median_hours": _statistic(rule, ed.median_hours, ed.linked),
        },
        "aftercare": {
            "finished": count(a.finished),
            "with_aftercare_handoff": count(a.with_aftercare_handoff),
            "share": share(a.with_aftercare_handoff, a.finished),
            "window_days": options.aftercare_window_days,
        },
        "stages": [
            {
                "stage": s.stage,
                "months": list(s.months),
                "eligible_months": count(s.eligible),
                "engaged_months": count(s.engaged),
                "share": share(s.engaged, s.eligible),
            }
            for s in m.stages
        ],
        "uncounted_contacts": count(m.uncounted_contacts),
        "linkage_by_kind": [
            {
                "kind": k.kind,
                "handoffs": count(k.handoffs),
                "linked": count(k.linked),
                "share_linked": share(k.linked, k.handoffs),
                "linked_7d": count(k.linked_7d),
                "linked_30d": count(k.linked_30d),
                "median_days": _statistic(rule, k.median_days, k.linked),
                "in_progress": count(k.in_progress),
                "not_linked": count(k.not_linked),
                "pending": count(k.pending),
                "retracted": count(k.retracted),
            }
            for k in m.linkage_by_kind
        ],
        "not_linked_reasons": [
            {"reason": reason, "handoffs": n} for reason, n in _reason_rows(m.not_linked_reasons, rule)
        ],
    }
    return _jsonable(document)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return json_value(value)
