"""Plain-text rendering for the command line: run report tables, state status, server capabilities."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .. import FileSummary, InputWarning, Outcome, OutcomesResult, ResourceType, RunReport, ServerCheck, StateStatus

#: The outcome columns of a sync's summary table.
SYNC_COLUMNS = (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED, Outcome.FAILED, Outcome.SKIPPED)


def report_table(report: RunReport, *, outcomes: Sequence[str] = SYNC_COLUMNS) -> str:
    """A plain-text table of counts, how each file was read, then rejections and skipped records by reason (the
    warnings go to the log: `warning_lines`)."""
    ordered = report.ordered_types()
    if any(report.counts[t][Outcome.RETRACTED] for t in ordered):
        outcomes = (*outcomes, Outcome.RETRACTED)
    width = max([len(t) for t in ordered] + [len("resource")])
    cells = [max(9, len(o)) for o in outcomes]
    lines = ["  ".join([f"{'resource':<{width}}", *(f"{o:>{w}}" for o, w in zip(outcomes, cells, strict=True))])]
    for t in ordered:
        counts = (f"{report.counts[t][o]:>{w}}" for o, w in zip(outcomes, cells, strict=True))
        lines.append("  ".join([f"{t:<{width}}", *counts]))
    if report.files:
        lines.append("\nfiles read:")
        lines += [f"  {_file_line(f)}" for f in report.files]
    if report.rejected:
        lines.append(f"\n{len(report.rejected)} record(s) rejected:")
        for reason, n in Counter(r.group for r in report.rejected).most_common(15):
            examples = [r for r in report.rejected if r.group == reason][:3]
            where = ", ".join(f"{r.file}:{r.line}" for r in examples)
            lines.append(f"  {n:>6} × {reason}  (e.g. {where})")
    if report.skipped_by_reason:
        lines.append(f"\n{sum(report.skipped_by_reason.values())} record(s) skipped (valid, not sent):")
        lines += [f"  {n:>6} × {reason}" for reason, n in report.skipped_by_reason.most_common()]
    if report.conflicts:
        lines.append(
            f"\n{len(report.conflicts)} conflict(s) left alone (changed on the server since fhirpeer wrote them):"
        )
        lines += [f"  {c.resource_type} {c.key}: {c.reason}" for c in report.conflicts[:10]]
    return "\n".join(lines)


def _file_line(summary: FileSummary) -> str:
    """``care_team.csv: 10 physical line(s) → 9 member row(s) → 3 CareTeam(s) (semicolon-separated)``."""
    records = "member row(s)" if summary.resources is not None else "record(s)"
    text = f"{summary.file}: {summary.lines} physical line(s) → {summary.records} {records}"
    if summary.resources is not None:
        text += f" → {summary.resources} CareTeam(s)"
    if summary.delimiter != ",":
        text += f" ({_DELIMITER_NAMES.get(summary.delimiter, repr(summary.delimiter))}-separated)"
    return text


_DELIMITER_NAMES = {";": "semicolon", "\t": "tab"}
_WARNING_GROUPS_SHOWN = 20


def warning_lines(report: RunReport) -> list[str]:
    """The run's warnings for the log, grouped by file, column and reason, with example lines (every one of them
    is in the report)."""
    groups: dict[str, list[InputWarning]] = {}
    for w in report.warnings:
        groups.setdefault(w.group, []).append(w)
    lines = []
    for group, members in list(groups.items())[:_WARNING_GROUPS_SHOWN]:
        numbered = [w.line for w in members if w.line]
        where = ""
        if numbered:
            shown = ", ".join(str(n) for n in numbered[:5]) + (", …" if len(numbered) > 5 else "")
            where = f" (line {shown})" if len(numbered) == 1 else f" ({len(numbered)} records: lines {shown})"
        lines.append(f"{group}{where}")
    if len(groups) > _WARNING_GROUPS_SHOWN:
        hidden = len(groups) - _WARNING_GROUPS_SHOWN
        lines.append(f"… and {hidden} more kinds of warning (all are in --report-json)")
    return lines


_COLUMNS = (
    "create",
    "update",
    "cond. create",
    "cond. update",
    "search by identifier",
    "transaction",
    "batch",
)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _row(check: ServerCheck, resource_type: str) -> list[str]:
    """The table cells of one type."""
    caps, plan = check.capabilities, check.plan
    res = caps.resource(resource_type)
    flags = [res.create, res.update, res.conditional_create, res.conditional_update, res.identifier_search]
    strategy = plan.strategy_for(resource_type)
    if strategy is None:
        label = "cannot write" if res.listed else "cannot write (not listed)"
    else:
        label = str(strategy) + ("" if plan.can_update(resource_type) else " (create only)")
    return [resource_type, *map(_yes, flags), _yes(caps.transaction), _yes(caps.batch), label]


def _format_rows(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _header(check: ServerCheck) -> list[str]:
    """Server name, version and FHIR version (and SMART token endpoint when known)."""
    caps = check.capabilities
    software = " ".join(p for p in (caps.software_name, caps.software_version) if p) or "unknown software"
    lines = [f"server: {software} — FHIR {caps.fhir_version or 'version not stated'}"]
    if caps.smart_token_endpoint:
        lines.append(f"SMART token endpoint: {caps.smart_token_endpoint}")
    return lines


def render_capability_table(check: ServerCheck) -> str:
    """A plain-text table of what the server declares per type fhirpeer writes, then the problems."""
    plan = check.plan
    types = [str(t) for t in ResourceType if str(t) in plan.strategies]
    types += [t for t in plan.strategies if t not in types]
    rows = [["resource", *_COLUMNS, "strategy"], *(_row(check, t) for t in types)]
    lines = [*_header(check), "", *_format_rows(rows), ""]
    if plan.overall:
        scope = "every type" if all(plan.can_write(t) for t in types) else "every type fhirpeer can write"
        lines.append(f"strategy: {plan.overall} for {scope}")
    lines.append("problems:" if plan.problems else "problems: none")
    lines.extend(f"  {problem}" for problem in plan.problems)
    return "\n".join(lines) + "\n"


def status_text(status: StateStatus) -> str:
    """Every run shown (with what it wrote and why it stopped), the records currently rejected and the records
    currently in conflict."""
    if not status.exists:
        return f"no state store at {status.path}: no sync has run here yet"
    lines = [
        "runs (newest first):",
        f"  {'run':<13}{'started (UTC)':<22}{'status':<13}{'exit':>4}  {'written':>8}  {'rejected':>8}  "
        f"{'conflicts':>9}  server",
    ]
    for r in status.runs:
        exit_code = "" if r["exit_code"] is None else r["exit_code"]
        written = f"{r['written']:,}" + ("*" if r["written_from"] == "state" and r["written"] else "")
        lines.append(
            f"  {r['run_id']:<13}{r['started_at']:<22}{r['status']:<13}{exit_code!s:>4}  {written:>8}  "
            f"{r['rejected']:>8}  {r['conflicts']:>9}  {r['server'] or ''}"
        )
        if r["error"]:
            lines.append(f"  {'':<13}{r['error']['category']}: {r['error']['message'].splitlines()[0]}")
    if any(r["written_from"] == "state" and r["written"] for r in status.runs):
        lines.append("  * counted in the state store: the run stopped before it could report (writes a later run")
        lines.append("    made again are counted there)")
    rejected = status.rejections
    lines.append(f"\n{len(rejected)} record(s) currently rejected (quarantined until a run accepts them):")
    for r in rejected[:50]:
        lines.append(f"  {r['file']}:{r['line']} {r['record_id'] or ''} — {r['reason']} (since run {r['first_run']})")
    if len(rejected) > 50:
        lines.append(f"  … and {len(rejected) - 50} more")
    conflicts = status.conflicts
    lines.append(f"\n{len(conflicts)} record(s) currently in conflict (changed on the server; left alone):")
    for c in conflicts[:50]:
        lines.append(f"  {c['resource_type']} {c['key']} — {c['reason']} (since run {c['first_run']})")
    if len(conflicts) > 50:
        lines.append(f"  … and {len(conflicts) - 50} more")
    if status.keys_hashed:
        lines.append("\nkeys are shown hashed (hash_keys_in_reports: true)")
    return "\n".join(lines)


def referral_task_lines(check: ServerCheck) -> list[str]:
    """Task create/update and search by focus, owner and `_lastUpdated`, and what is missing for the handoff loop
    (nothing when the export has no handoffs)."""
    support = check.referral_tasks
    if support is None:
        return []
    lines = [
        "",
        "referral Tasks (closing the loop on handoffs):",
        f"  Task create: {_yes(support.create)}, update: {_yes(support.update)}; search by focus: "
        f"{_yes(support.by_focus)}, by owner: {_yes(support.by_owner)}, by _lastUpdated: "
        f"{_yes(support.by_last_updated)}",
    ]
    lines += [f"  warning: {w}" for w in (*support.sync_warnings(), *support.outcomes_warnings())]
    return lines


def server_check_text(check: ServerCheck) -> str:
    """The capabilities table, the strategy per type, problems, the referral Task support and the verdict."""
    return render_capability_table(check) + "\n".join([*referral_task_lines(check), *check.verdict()]) + "\n"


def outcomes_text(result: OutcomesResult) -> str:
    """How an outcomes run read the server, the handoffs per outcome, what changed, the CSV and the warnings."""
    r = result.report
    if not r.polled:
        head = f"outcomes run {r.run_id}: not polled — written from the state store"
    elif r.full_read:
        head = f"outcomes run {r.run_id}: read every handoff ({r.redecided} decided)"
    else:
        head = f"outcomes run {r.run_id}: read what changed since {r.since} ({r.redecided} handoff(s) decided again)"
    names = list(r.counts)
    widths = [max(len(n), 9) for n in names]
    lines = [
        head,
        "  ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True)),
        "  ".join(f"{r.counts[n]:>{w}}" for n, w in zip(names, widths, strict=True)),
    ]
    if r.polled:
        moved = ", ".join(f"{len(keys)} {o}" for o, keys in r.changes.items() if keys)
        lines.append(f"changed since the last run: {r.changed}" + (f" (now {moved})" if moved else ""))
    lines.append(f"wrote {result.path} ({r.handoffs} handoff(s)); exit code {r.exit_code}")
    lines += [f"warning: {w}" for w in r.warnings[:10]]
    return "\n".join(lines)
