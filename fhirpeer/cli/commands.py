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
    AwsImportSettings,
    ConfigError,
    GoogleCredentials,
    ImportKind,
    ImportStatus,
    Outcome,
    OutcomesReport,
    ReportOptions,
    RunReport,
    Settings,
    auth_from_env,
    check_server,
    export_bulk,
    import_bulk,
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


# --- the bulk path ------------------------------------------------------------------------------------------------

#: The outcome columns of an export-bulk summary (offline: valid means written to the files).
BULK_EXPORT_COLUMNS = (Outcome.VALID, Outcome.ONLY_IF_EXISTS, Outcome.FAILED, Outcome.SKIPPED)


def run_export_bulk(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    limits = {
        name: value
        for name, value in (("max_resources_per_part", args.max_part_resources),
                            ("max_bytes_per_part", args.max_part_bytes))
        if value is not None
    }  # fmt: skip
    result = export_bulk(settings, args.input, args.out, overwrite=args.overwrite, **limits)
    report = result.report
    emit(report_table(report, outcomes=BULK_EXPORT_COLUMNS))
    manifest = result.manifest
    emit(
        f"\n{manifest.total} resource(s) in {len(manifest.outputs)} NDJSON part(s) written to {args.out} "
        f"(manifest.json) in {report.seconds:.1f}s; nothing was sent anywhere. "
        f"Next: fhirpeer import --server URL --from {args.out}"
    )
    deliver(report, args)
    return report.exit_code


def run_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    kind = args.kind
    auth = _import_auth(settings, kind)
    aws_flags = (args.aws_role_arn, args.aws_output_s3, args.aws_kms_key)
    # with --kind auto a HealthLake URL is only recognised later: the flags given are enough to build the settings
    aws = _aws_settings(args) if kind == str(ImportKind.AWS) or any(aws_flags) else None
    progress = None if args.no_progress else _import_progress
    report = import_bulk(
        settings, args.from_dir, kind=kind, location=args.location, auth=auth, aws=aws, timeout=args.timeout,
        poll_interval=args.poll_interval, server_check=not args.no_server_check, on_progress=progress,
    )  # fmt: skip
    emit(f"run {report.run_id} ({report.strategy}):")
    emit(report_table(report))
    recorded = "recorded in the state store" if report.exit_code == 0 else "nothing recorded in the state store"
    emit(f"\nimported {report.records} resource(s) in {report.seconds:.1f}s; {recorded}; exit code {report.exit_code}")
    deliver(report, args)
    return report.exit_code


def _import_auth(settings: Settings, kind: str) -> Auth | None:
    """FHIRPEER_AUTH's credential; for Google without one, Application Default Credentials (google-auth reads
    GOOGLE_APPLICATION_CREDENTIALS or the gcloud login, as Google's own tools do)."""
    if kind != str(ImportKind.GOOGLE) or os.environ.get("FHIRPEER_AUTH", "none").strip().lower() != "none":
        return _auth(settings)
    try:
        import google.auth
    except ImportError:
        raise ConfigError("Google Cloud import needs google-auth: pip install 'fhirpeer[gcp]'") from None
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return GoogleCredentials(credentials)


def _aws_settings(args: argparse.Namespace) -> AwsImportSettings:
    """The HealthLake flags, with botocore's credentials (its usual chain: environment, ~/.aws, instance role)."""
    missing = [flag for flag, value in (("--aws-role-arn", args.aws_role_arn), ("--aws-output-s3", args.aws_output_s3),
                                        ("--aws-kms-key", args.aws_kms_key)) if not value]  # fmt: skip
    if missing:
        raise ConfigError(f"an AWS HealthLake import needs {', '.join(missing)}")
    try:
        import botocore.session
    except ImportError:
        raise ConfigError("AWS HealthLake import needs botocore: pip install 'fhirpeer[aws]'") from None
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise ConfigError("AWS HealthLake import: no AWS credentials found (environment, ~/.aws or instance role)")
    return AwsImportSettings(args.aws_role_arn, args.aws_output_s3, args.aws_kms_key, credentials)


def _import_progress(status: ImportStatus) -> None:
    print(f"fhirpeer: import {status.job_id}: {status.describe()}", file=sys.stderr)
