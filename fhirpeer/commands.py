"""What each CLI command does with its parsed arguments: build settings, call the API, print, exit code."""

from __future__ import annotations

import argparse
import sys

from .config import Settings, load_settings
from .logs import configure_logging
from .mappings import Mappings, load_mappings
from .report import RunReport


def _settings(args: argparse.Namespace, **extra: object) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in ("mappings", "site_timezone", "namespace", "server", "state", "batch_size", "workers",
                     "conflict_policy", "strategy", "log_format")
    }  # fmt: skip
    if getattr(args, "verbose", False):
        overrides["log_level"] = "DEBUG"
    overrides.update(extra)
    return load_settings(getattr(args, "config", None), **overrides)


def _mappings(settings: Settings) -> Mappings:
    return load_mappings(settings.mappings, namespace=settings.namespace)


def _finish(report: RunReport, args: argparse.Namespace) -> int:
    if getattr(args, "report_json", None):
        report.write_json(args.report_json)
    return report.exit_code


def run_validate(args: argparse.Namespace) -> int:
    from .validate import validate_export

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    report = validate_export(
        args.input, settings, _mappings(settings), ndjson_dir=args.ndjson_out, bundles_dir=args.bundles_out
    )
    print(report.summary(outcomes=("valid", "failed", "skipped")))
    total = sum(sum(c.values()) for c in report.counts.values())
    print(f"\n{total} record(s) checked in {report.seconds:.1f}s; nothing was sent anywhere.")
    if args.ndjson_out:
        print(f"NDJSON written to {args.ndjson_out}")
    if args.bundles_out:
        print(f"transaction Bundles written to {args.bundles_out}")
    return _finish(report, args)


def run_sync(args: argparse.Namespace) -> int:
    from .api import sync

    settings = _settings(args)
    show_progress = not args.no_progress and sys.stderr.isatty()
    report = sync(args.input, settings=settings, dry_run=args.dry_run, progress=show_progress, print_summary=True)
    return _finish(report, args)


def run_status(args: argparse.Namespace) -> int:
    from .api import status_text

    settings = _settings(args)
    print(status_text(settings.state, runs=args.runs))
    return 0


def run_check_server(args: argparse.Namespace) -> int:
    from .api import check_server

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    text, ok = check_server(settings, getattr(args, "input", None))
    print(text, end="")
    return 0 if ok else 1


def run_sample(args: argparse.Namespace) -> int:
    from .sample import generate_program, patients_for_contacts

    patients = args.patients or (patients_for_contacts(args.contacts) if args.contacts else 60)
    summary = generate_program(args.out, patients=patients, seed=args.seed, target_contacts=args.contacts)
    print(summary.format())
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo as demo

    return demo(args.dir, patients=args.patients, keep_running=args.keep_running)
