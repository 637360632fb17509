"""What each CLI command does with its parsed arguments: build settings, call the API, render, exit code."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import Outcome, RunReport, Settings, check_server, load_settings, status, sync, validate
from .logging_setup import configure_logging
from .progress import progress_for
from .render import report_table, server_check_text, status_text, warning_lines

warnings_log = logging.getLogger("fhirpeer.warnings")

_SETTING_FLAGS = (
    "mappings", "site_timezone", "namespace", "server", "state", "batch_size", "workers", "conflict_policy",
    "strategy", "log_format", "encoding", "delimiter", "date_formats", "full_export",
)  # fmt: skip


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    overrides = {name: getattr(args, name, None) for name in _SETTING_FLAGS}
    if getattr(args, "verbose", False):
        overrides["log_level"] = "DEBUG"
    overrides.update(extra)
    return load_settings(getattr(args, "config", None), **overrides)


def _finish(report: RunReport, args: argparse.Namespace) -> int:
    for line in warning_lines(report):  # through the log handler, so JSON logs stay JSON lines
        warnings_log.warning(line)
    if getattr(args, "report_json", None):
        report.write_json(args.report_json)
    return report.exit_code


def run_validate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    report = validate(args.input, settings=settings, ndjson_dir=args.ndjson_out, bundles_dir=args.bundles_out)
    print(report_table(report, outcomes=(Outcome.VALID, Outcome.FAILED, Outcome.SKIPPED)))
    total = sum(sum(c.values()) for c in report.counts.values())
    print(f"\n{total} record(s) checked in {report.seconds:.1f}s; nothing was sent anywhere.")
    if args.ndjson_out:
        print(f"NDJSON written to {args.ndjson_out}")
    if args.bundles_out:
        print(f"transaction Bundles written to {args.bundles_out}")
    return _finish(report, args)


def run_sync(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    progress = None if args.no_progress else progress_for(sys.stderr)
    report = sync(args.input, settings=settings, dry_run=args.dry_run, on_progress=progress)
    head = (
        "dry run — nothing was written. A sync would:" if args.dry_run else f"run {report.run_id} ({report.strategy}):"
    )
    print(head)
    print(report_table(report))
    verb = "would write" if args.dry_run else "wrote"
    print(f"\n{verb} {report.written} resource(s) in {report.seconds:.1f}s; exit code {report.exit_code}")
    return _finish(report, args)


def run_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(status_text(status(settings.state, runs=args.runs)))
    return 0


def run_check_server(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    check = check_server(settings, getattr(args, "input", None))
    print(server_check_text(check), end="")
    return 0 if check.ok else 1


def run_sample(args: argparse.Namespace) -> int:
    from ..demo.sample import generate_program, patients_for_contacts

    patients = args.patients or (patients_for_contacts(args.contacts) if args.contacts else 60)
    summary = generate_program(args.out, patients=patients, seed=args.seed, target_contacts=args.contacts)
    print(summary.format())
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ..demo.walkthrough import run_demo as demo

    return demo(args.dir, patients=args.patients, keep_running=args.keep_running)
