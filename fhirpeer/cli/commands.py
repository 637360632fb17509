"""What each CLI command does with its parsed arguments: build settings (config file, FHIRPEER_* environment,
flags) and credentials (environment), call the API, render, deliver the report, return the exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .. import (
    Auth,
    ConfigError,
    Outcome,
    OutcomesReport,
    ReportOptions,
    RunReport,
    Settings,
    auth_from_env,
    check_server,
    outcomes,
    status,
    sync,
    validate,
    write_metrics_textfile,
    write_program_report,
)
from .logging_setup import configure_logging
from .output import emit
from .progress import progress_for
from .render import outcomes_text, report_table, server_check_text, status_text, warning_lines

warnings_log = logging.getLogger("fhirpeer.warnings")

_SETTING_FLAGS = (
    "mappings", "site_timezone", "namespace", "server", "state", "batch_size", "workers", "conflict_policy",
    "strategy", "log_format", "max_rejected", "encoding", "delimiter", "date_formats", "full_export",
)  # fmt: skip


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    overrides = {name: getattr(args, name, None) for name in _SETTING_FLAGS}
    if getattr(args, "verbose", False):
        overrides["log_level"] = "DEBUG"
    overrides.update(extra)
    return Settings.from_env(getattr(args, "config", None), os.environ, **overrides)


def _auth(settings: Settings) -> Auth | None:
    """The credential FHIRPEER_AUTH and its variables describe (none without a server to use it on)."""
    return auth_from_env(os.environ, settings.server) if settings.server else None


def deliver(report: RunReport, args: argparse.Namespace) -> None:
    """Write the run report and the metrics file the flags ask for — for every run, whatever its outcome. A
    file that cannot be written is said on stderr; it never replaces the run's own exit code. The run's warnings
    go to the log (stderr), so JSON logs stay JSON lines."""
    for line in warning_lines(report):
        warnings_log.warning(line)
    targets = [
        (getattr(args, "report_json", None), report.write_json),
        (getattr(args, "metrics_textfile", None), lambda path: write_metrics_textfile(report, path)),
    ]
    for path, write in targets:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            print(f"fhirpeer: could not write {path}: {exc.strerror or type(exc).__name__}", file=sys.stderr)


def run_validate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    report = validate(args.input, settings=settings, ndjson_dir=args.ndjson_out, bundles_dir=args.bundles_out)
    outcomes = (Outcome.VALID, Outcome.FAILED, Outcome.SKIPPED)
    if any(c[Outcome.ONLY_IF_EXISTS] for c in report.counts.values()):  # updates of what a sync sent before
        outcomes = (Outcome.VALID, Outcome.ONLY_IF_EXISTS, Outcome.FAILED, Outcome.SKIPPED)
    emit(report_table(report, outcomes=outcomes))
    total = sum(sum(c.values()) for c in report.counts.values())
    emit(f"\n{total} record(s) checked in {report.seconds:.1f}s; nothing was sent anywhere.")
    if args.ndjson_out:
        emit(f"NDJSON written to {args.ndjson_out}")
    if args.bundles_out:
        emit(f"transaction Bundles written to {args.bundles_out}")
    deliver(report, args)
    return report.exit_code


def run_sync(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    progress = None if args.no_progress else progress_for(sys.stderr)
    report = sync(args.input, settings=settings, dry_run=args.dry_run, on_progress=progress, auth=_auth(settings))
    head = (
        "dry run — nothing was written. A sync would:" if args.dry_run else f"run {report.run_id} ({report.strategy}):"
    )
    emit(head)
    emit(report_table(report))
    verb = "would write" if args.dry_run else "wrote"
    emit(f"\n{verb} {report.written} resource(s) in {report.seconds:.1f}s; exit code {report.exit_code}")
    deliver(report, args)
    return report.exit_code


def run_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    found = status(settings, runs=args.runs)
    emit(json.dumps(found.to_dict(), indent=2) if args.json else status_text(found))
    return 0


def run_check_server(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    check = check_server(settings, getattr(args, "input", None), auth=_auth(settings))
    if args.json:
        emit(json.dumps(check.to_dict(), indent=2))
    else:
        emit(server_check_text(check), end="")
    return 0 if check.ok else 1


def run_outcomes(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    result = outcomes(settings, args.out, since=args.since, force=args.force, auth=_auth(settings))
    emit(outcomes_text(result))
    deliver_outcomes(result.report, args)
    return result.report.exit_code


def deliver_outcomes(report: OutcomesReport, args: argparse.Namespace) -> None:
    """Write the outcomes run report where --report-json asks (a failure to write it is said on stderr)."""
    if args.report_json is None:
        return
    try:
        report.write_json(args.report_json)
    except OSError as exc:
        print(f"fhirpeer: could not write {args.report_json}: {exc.strerror or type(exc).__name__}", file=sys.stderr)


def run_report(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    options = ReportOptions(suppress_below=args.suppress_below, caseload_cap=args.caseload_cap)
    written = write_program_report(settings, args.out, as_of=args.as_of, options=options, auth=_auth(settings))
    for line in written.headline():
        emit(line)
    emit(f"report written to {written.html} ({len(written.files)} files in {args.out})")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    if args.cohort == "penn":
        from datetime import date

        from ..demo.penn_cohort import generate_penn_cohort

        cohort = generate_penn_cohort(args.out, args.as_of or date.today(), seed=1 if args.seed is None else args.seed)
        emit(cohort.format())
        return 0
    from ..demo.sample import generate_program, patients_for_contacts

    patients = args.patients or (patients_for_contacts(args.contacts) if args.contacts else 60)
    seed = 7 if args.seed is None else args.seed
    summary = generate_program(args.out, patients=patients, seed=seed, target_contacts=args.contacts)
    emit(summary.format())
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..demo.walkthrough import run_demo as demo

    if args.demo_server and args.keep_running:
        raise ConfigError("--keep-running keeps the embedded server up; it does not go with --server")
    return demo(args.dir, patients=args.patients, keep_running=args.keep_running, server_url=args.demo_server)
