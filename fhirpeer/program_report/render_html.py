"""``report.html``: one self-contained page (inline CSS and SVG, no script, no external URL).

The page shows the as-of date, the server, the definitions and the suppression rule next to the figures,
so a printed copy still says what it measures. Every value comes from the published (suppressed) tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from . import svg
from .metrics import STAGES
from .published import ProgramReport
from .suppress import Cell, Suppressed
from .tables import SUPPRESSED_TEXT, Table

CSS = """
:root { --ink:#1d2939; --muted:#667085; --line:#e4e7ec; --accent:#2e5c8a; --alert:#b42318; --soft:#f8fafc; }
* { box-sizing: border-box; }
body { margin:0; background:#f2f4f7; color:var(--ink);
  font: 15px/1.5 "Segoe UI", system-ui, -apple-system, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 28px 48px; background:#fff; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 16px; margin-bottom: 8px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; color: var(--muted); font-weight: 600; }
.meta { color: var(--muted); font-size: 13px; margin: 0; }
.meta b { color: var(--ink); font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 20px 0 4px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.tile .v { font-size: 26px; font-weight: 650; line-height: 1.2; }
.tile .k { color: var(--muted); font-size: 12.5px; }
.lead { color: var(--muted); margin: 4px 0 12px; max-width: 78ch; }
figure { margin: 10px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13.5px;
  font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
th, td { padding: 6px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--soft); color: var(--muted); font-weight: 600; font-size: 12px; white-space: normal;
  vertical-align: bottom; line-height: 1.3; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; }
td.suppressed { color: var(--muted); font-style: italic;
  background: repeating-linear-gradient(135deg, #f2f4f7 0 6px, #fff 6px 12px); }
td.flag-on { color: var(--alert); font-weight: 650; }
.caption { color: var(--muted); font-size: 12.5px; margin: 2px 0 10px; }
dl.definitions { display: grid; grid-template-columns: 190px 1fr; gap: 6px 18px; font-size: 14px; }
dl.definitions dt { font-weight: 600; }
dl.definitions dd { margin: 0; color: #344054; }
.notes li { color: #344054; font-size: 13.5px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line);
  padding-top: 10px; }
@media print { body { background: #fff; } main { padding: 0; } h2 { break-after: avoid; }
  figure { break-inside: avoid; } }
"""


def _percent(value: Cell) -> str:
    if isinstance(value, Suppressed):
        return SUPPRESSED_TEXT
    return f"{value:.0%}" if isinstance(value, float) else "—"


def _number(value: Cell) -> str:
    if isinstance(value, Suppressed):
        return SUPPRESSED_TEXT
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.1f}"
    return str(value)


def _share_value(cell: Cell) -> float | Suppressed | None:
    if isinstance(cell, Suppressed | float):
        return cell
    return None


def _cell_html(cell: Cell, kind: str) -> str:
    if isinstance(cell, Suppressed):
        return f'<td class="suppressed" title="fewer than the suppression threshold">{SUPPRESSED_TEXT}</td>'
    if kind == "flag":
        return '<td class="flag-on">over cap</td>' if cell else "<td>no</td>"
    if kind == "text":
        return f'<td class="text">{escape(str(cell)) if cell is not None else "—"}</td>'
    text = _percent(cell) if kind == "share" else _number(cell)
    return f"<td>{escape(text)}</td>"


def table_html(table: Table) -> str:
    head = "".join(
        f'<th class="text" scope="col">{escape(c.label)}</th>'
        if c.kind == "text"
        else f'<th scope="col">{escape(c.label)}</th>'
        for c in table.columns
    )
    if not table.rows:
        body = f'<tr><td class="text" colspan="{len(table.columns)}">No data.</td></tr>'
    else:
        body = "".join(
            "<tr>" + "".join(_cell_html(cell, col.kind) for cell, col in zip(row, table.columns, strict=True)) + "</tr>"
            for row in table.rows
        )
    return (
        f'<div class="table-wrap"><table data-table="{escape(table.name)}"><caption class="caption" '
        f'style="caption-side:bottom;text-align:left">{escape(table.title)} · {escape(table.name)}.csv</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _fraction(part: Cell, whole: Cell) -> str:
    return f"{_number(part)} / {_number(whole)}"


# --- sections -------------------------------------------------------------------------------------------------


def _tiles(report: ProgramReport) -> str:
    month = report.table("engagement_by_month")
    modes = report.table("contact_modes")
    duration = report.table("contact_duration")
    caseload = report.table("caseload")
    ed = report.table("ed_linkage")
    aftercare = report.table("aftercare")
    tiles: list[tuple[str, str]] = []
    if month.rows:
        row = month.rows[0]
        tiles.append((_percent(row[4]), f"engaged in month 1 ({_fraction(row[3], row[2])})"))
    telephone = modes.rows[0]
    tiles.append((_percent(telephone[2]), "of counted contacts by telephone"))
    median = duration.rows[0][2]
    tiles.append((f"{_number(median)} min" if isinstance(median, int | float) else _number(median), "median contact"))
    over = sum(1 for flag in caseload.column("over_cap") if flag)
    tiles.append((str(over), f"peers over the cap of {report.options.caseload_cap}"))
    tiles.append((_percent(ed.rows[0][5]), "ED handoffs reaching a peer within 7 days"))
    tiles.append((_percent(aftercare.rows[0][2]), "finished episodes with an aftercare handoff"))
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>'
            for v, k in tiles
        )
        + "</div>"
    )


def _engagement(report: ProgramReport) -> str:
    month, stage = report.table("engagement_by_month"), report.table("engagement_by_stage")
    bars = [
        svg.Bar(f"Month {row[0]}", _share_value(row[4]), _percent(row[4]), _fraction(row[3], row[2]))
        for row in month.rows
    ]
    months = len(month.rows)
    bands = [svg.Band(ms[0] - 1, min(ms[-1], months) - 1, label) for _, label, ms in STAGES if ms[0] <= months]
    chart = svg.column_chart(
        bars, title="Share of eligible episodes engaged, by program month", chart_id="engagement", bands=bands
    )
    return (
        "<h2>Engagement by program month</h2>"
        '<p class="lead">Share of enrolled patients with at least one in-person, telephone or video peer contact in '
        "each program month, among those whose month had ended by the as-of date (engaged / eligible under each bar)."
        f"</p><figure>{chart}</figure>{table_html(month)}<h3>By stage</h3>{table_html(stage)}"
    )


def _contacts(report: ProgramReport) -> str:
    modes, duration = report.table("contact_modes"), report.table("contact_duration")
    bars = [svg.Bar(str(row[0]), _share_value(row[2]), _percent(row[2]), "") for row in modes.rows]
    mode_chart = svg.bar_rows(
        bars,
        title="Share of counted contacts by mode",
        chart_id="modes",
        x_max=1.0,
        ticks=(0, 0.25, 0.5, 0.75, 1.0),
        tick_label=lambda v: f"{v:.0%}",
    )
    _, q1, median, q3 = duration.rows[0]
    top = max([v for v in (q3,) if isinstance(v, int | float)] + [60.0])
    x_max = float(((int(top * 1.25) // 15) + 1) * 15)
    box = svg.box_plot(
        _stat(q1), _stat(median), _stat(q3),
        title="Contact length: interquartile range and median",
        chart_id="duration",
        x_max=x_max,
        ticks=[t for t in range(0, int(x_max) + 1, 15)],
    )  # fmt: skip
    return (
        "<h2>Contacts</h2>"
        '<p class="lead">Finished contacts in person, by telephone or by video up to the as-of date; texts are not '
        f"counted.</p><h3>Modes</h3><figure>{mode_chart}</figure>{table_html(modes)}"
        f"<h3>Duration</h3><figure>{box}</figure>{table_html(duration)}"
    )


def _stat(cell: Cell) -> float | Suppressed | None:
    if isinstance(cell, Suppressed):
        return cell
    return float(cell) if isinstance(cell, int | float) and not isinstance(cell, bool) else None


def _caseload(report: ProgramReport) -> str:
    table = report.table("caseload")
    cap = report.options.caseload_cap
    low, high = report.options.caseload_range
    bars = [svg.Bar(str(row[0]), _stat(row[1]), _number(row[1]), alert=bool(row[2])) for row in table.rows]
    counts = [r[1] for r in table.rows if isinstance(r[1], int)]
    x_max = float(max([cap, high, *counts]) + 5)
    chart = svg.bar_rows(
        bars,
        title="Patients with an active episode per peer",
        chart_id="caseload",
        x_max=x_max,
        ticks=[t for t in range(0, int(x_max) + 1, 5)],
        reference_range=(float(low), float(high)),
        reference_label=f"Penn range {low}–{high}",
        limit=(float(cap), f"cap {cap}"),
    )
    return (
        "<h2>Caseload</h2>"
        '<p class="lead">Distinct patients with an episode active on the as-of date, per care manager, against a '
        f"cap of {cap} (peers over it are flagged); the shaded band is the range the Penn program reports "
        f"({low}–{high}).</p>"
        f"<figure>{chart}</figure>{table_html(table)}"
    )


def _handoffs(report: ProgramReport) -> str:
    ed, aftercare = report.table("ed_linkage"), report.table("aftercare")
    kinds, reasons = report.table("linkage_by_kind"), report.table("not_linked_reasons")
    outcomes = report.table("outcomes_by_kind")
    row = ed.rows[0]
    ed_bars = [
        svg.Bar("Within 1 day", _share_value(row[3]), _percent(row[3]), _fraction(row[2], row[0])),
        svg.Bar("Within 7 days", _share_value(row[5]), _percent(row[5]), _fraction(row[4], row[0])),
        svg.Bar("Within 30 days", _share_value(row[7]), _percent(row[7]), _fraction(row[6], row[0])),
    ]
    ed_chart = svg.column_chart(ed_bars, title="ED warm handoffs reaching a peer", chart_id="ed", width=560, height=260)
    kind_bars = [svg.Bar(str(r[0]), _share_value(r[3]), _percent(r[3])) for r in kinds.rows]
    kind_chart = svg.bar_rows(
        kind_bars,
        title="Linkage rate by handoff kind",
        chart_id="kinds",
        x_max=1.0,
        ticks=(0, 0.25, 0.5, 0.75, 1.0),
        tick_label=lambda v: f"{v:.0%}",
    )
    return (
        "<h2>Warm handoffs</h2>"
        '<p class="lead">How fast an emergency department warm handoff reaches a peer: the first counted contact based '
        "on the handoff, else the patient's first counted contact at or after it was authored.</p>"
        f"<figure>{ed_chart}</figure>{table_html(ed)}"
        f"<h3>Aftercare</h3>{table_html(aftercare)}"
        "<h3>Outcomes by kind</h3>"
        '<p class="lead">From the referral Tasks and the evidence any system recorded against each handoff '
        f"(see the definitions).</p><figure>{kind_chart}</figure>{table_html(kinds)}{table_html(outcomes)}"
        f"<h3>Top reasons for not linked</h3>{table_html(reasons)}"
    )


def _definitions(report: ProgramReport) -> str:
    o = report.options
    rule = (
        f"Counts from 1 to {o.suppress_below - 1} are suppressed in the page, the CSV files and summary.json (null); "
        "0 is shown, as it identifies nobody. A share is suppressed when its numerator or denominator is, a median "
        f"or quartile when fewer than {o.suppress_below} values went into it. Only primary suppression is applied: "
        "a hidden count may be derivable from two shown ones."
        if o.suppress_below > 0
        else "Suppression is off for this report (threshold 0): every count is shown. Do not share it outside the "
        "program."
    )
    items = [
        (
            "Program month",
            f"Month m (1–{o.months}) of an episode runs from its start + (m−1) calendar months to its start + m "
            "calendar months (the day clipped to the month's end), in dates of the site time zone "
            f"({report.time_zone}).",
        ),
        (
            "Eligible, engaged",
            "An episode is eligible for month m once that month has ended by the as-of date, and engaged when its "
            "patient has at least one counted contact starting in that month. Episodes entered-in-error, planned "
            "or waitlisted are not counted; withdrawn (cancelled) episodes are, and count as not engaged once "
            "contacts stop.",
        ),
        (
            "Stages",
            "Initial engagement (month 1), early treatment (months 2–3), stabilization (months 4–6); a stage pools "
            "the eligible and engaged episode-months of its months.",
        ),
        (
            "Counted contact",
            "A finished Encounter in person, by telephone or by video, started on or before the as-of date. Texts "
            "and contacts of unknown mode are not counted; contacts that did not happen are Appointments and never "
            "count.",
        ),
        (
            "Modes, duration",
            "Modes: shares of counted contacts. Duration: median and quartiles of Encounter.length of counted "
            'contacts, by statistics.quantiles(n=4, method="inclusive").',
        ),
        (
            "Caseload",
            f"Per peer (the episode's care manager): distinct patients with an episode active on the as-of date; "
            f"over the cap when more than {o.caseload_cap}.",
        ),
        (
            "ED linkage",
            f"Per {o.ed_kind} ServiceRequest authored by the as-of date: the first counted contact based on it, or, "
            "when no contact names it, the patient's first counted contact at or after its authoredOn. Linked within "
            "1, 7 and 30 days (24, 168, 720 hours); median hours over the handoffs that reached a peer.",
        ),
        (
            "Aftercare",
            f"Finished episodes whose patient has a {o.aftercare_kind} handoff (not entered-in-error) authored from "
            f"the episode's start to {o.aftercare_window_days} days after its end.",
        ),
        (
            "Handoff outcomes",
            "linked: a Task completed, the ServiceRequest completed, a finished Encounter based on it, or an active "
            "or finished EpisodeOfCare referring to it (the earliest decides; a completed ServiceRequest is dated by "
            "its last update); in progress: a Task accepted, in progress or on hold; not linked: a Task rejected, "
            "cancelled or failed (reason: its status reason code, else text), or the ServiceRequest revoked; "
            "pending: no answer yet; retracted (entered-in-error) handoffs are left out of the rates. Linkage wins "
            "over a rejection. Days to linkage = decided − authored. Outcomes are the server's current state.",
        ),
        ("Small cells", rule),
    ]
    body = "".join(f"<dt>{escape(term)}</dt><dd>{escape(text)}</dd>" for term, text in items)
    return f'<h2>Definitions</h2><dl class="definitions">{body}</dl>'


def _notes(report: ProgramReport) -> str:
    notes = [*report.warnings]
    notes += [f"{reason}: {n}" for reason, n in sorted(report.skipped.items())]
    if not notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f'<h2>Data notes</h2><ul class="notes">{items}</ul>'


def _meta(report: ProgramReport) -> str:
    parts: Sequence[tuple[str, str | None]] = (
        ("As of", report.as_of.isoformat()),
        ("Server", report.server),
        ("Namespace", report.namespace),
        ("Time zone", report.time_zone),
        (
            "Small cells",
            f"counts below {report.options.suppress_below} suppressed"
            if report.options.suppress_below
            else "not suppressed",
        ),
    )
    return '<p class="meta">' + " · ".join(f"{escape(k)} <b>{escape(v)}</b>" for k, v in parts if v) + "</p>"


def render_page(report: ProgramReport) -> str:
    """The whole page as one HTML document."""
    title = f"Peer recovery program report — as of {report.as_of.isoformat()}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>Peer recovery program report</h1>{_meta(report)}</header>"
        f"{_tiles(report)}{_engagement(report)}{_contacts(report)}{_caseload(report)}{_handoffs(report)}"
        f"{_definitions(report)}{_notes(report)}"
        f"<footer>Generated {escape(report.generated_at.isoformat(timespec='seconds'))} by fhirpeer from the FHIR "
        "server's resources. Aggregates only: no names, record numbers or notes.</footer>"
        "</main></body></html>\n"
    )
