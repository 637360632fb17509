"""The `fhirpeer` argument parser: every command, its flags and their help (choices come from the domain enums)."""

from __future__ import annotations

import argparse
import re
from datetime import date, datetime
from pathlib import Path

from .. import ConflictPolicy, ImportKind, WriteStrategy, __version__


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (usage error, exit 2, otherwise)."""
    if not re.fullmatch(r"\s*\+?\d+\s*", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def non_negative_int(text: str) -> int:
    if not re.fullmatch(r"\s*\+?\d+\s*", text):
        raise argparse.ArgumentTypeError(f"must be a whole number (0 or more), not {text!r}")
    return int(text)


def iso_date(text: str) -> date:
    """An argparse type: an ISO 8601 date (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, not {text!r}") from None


def rejection_limit(text: str) -> str:
    if not re.fullmatch(r"\s*\d+(\.\d+)?%\s*|\s*\d+\s*", text):
        raise argparse.ArgumentTypeError(f"must be a number of records (50) or a percentage (2%), not {text!r}")
    return text.strip()


def date_or_datetime(text: str) -> date | datetime:
    """An argparse type: an ISO 8601 date (2026-11-01) or date and time (2026-11-01T08:00:00-05:00)."""
    try:
        return date.fromisoformat(text) if len(text.strip()) == 10 else datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 date or date-time, not {text!r}") from None


def _verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging (ids and statuses only, never PHI); tracebacks"
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config file (settings; never secrets)")
    p.add_argument("--mappings", type=Path, help="a site's edited copy of the mapping files")
    p.add_argument("--report-json", type=Path, help="write the run report (JSON) here, whatever the outcome")
    p.add_argument("--timezone", dest="site_timezone", help="IANA zone for timestamps without an offset")
    p.add_argument("--namespace", help="identifier namespace URI (overrides identifiers.yaml)")
    p.add_argument(
        "--max-rejected", type=rejection_limit, metavar="N|P%",
        help="exit 6 when more records than this are rejected (a count, or a percentage of the records read)",
    )  # fmt: skip
    _verbose(p)
    p.add_argument("--log-format", choices=["text", "json"], help="log line format on stderr")


def _input_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoding", help="the export files' encoding (default utf-8, a BOM allowed; e.g. cp1252)")
    p.add_argument("--delimiter", help="cell delimiter: ',', ';' or tab (default: recognised from each header)")
    p.add_argument(
        "--date-format",
        dest="date_formats",
        action="append",
        metavar="PATTERN",
        help="a strptime pattern for dates and timestamps, tried after ISO 8601 (repeatable), e.g. '%%m/%%d/%%Y'",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhirpeer",
        description=("Sync peer recovery program exports (contacts, care teams, handoffs) to a FHIR R4 server."),
    )
    parser.add_argument("--version", action="version", version=f"fhirpeer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="map and check an export offline; write nothing")
    p.add_argument("--input", type=Path, required=True, help="folder with the CSV exports")
    p.add_argument("--ndjson-out", type=Path, help="write the resources as FHIR NDJSON (one file per type)")
    p.add_argument("--bundles-out", type=Path, help="write the transaction Bundles that sync would send")
    _common(p)
    _input_format(p)

    p = sub.add_parser("sync", help="sync an export to a FHIR server (idempotent, incremental)")
    p.add_argument("--server", help="FHIR base URL (or FHIRPEER_SERVER)")
    p.add_argument("--input", type=Path, required=True, help="folder with the CSV exports")
    p.add_argument("--state", type=Path, help="sync state store (default .fhirpeer/state.sqlite)")
    p.add_argument("--dry-run", action="store_true", help="read the server, write nothing, print the plan")
    p.add_argument("--batch-size", type=positive_int, help="entries per Bundle (default 500; 160 for AWS HealthLake)")
    p.add_argument("--workers", type=positive_int, help="parallel writers, partitioned by patient (default 1)")
    p.add_argument(
        "--conflict-policy", choices=[str(c) for c in ConflictPolicy], help="resources changed on the server"
    )
    p.add_argument(
        "--strategy",
        choices=["auto", *(str(s) for s in WriteStrategy)],
        help="write strategy (default: chosen from the server's CapabilityStatement)",
    )
    p.add_argument(
        "--metrics-textfile", type=Path, metavar="PATH",
        help="write the run's metrics here in the Prometheus text format (node-exporter textfile collector)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress display")
    p.add_argument(
        "--full-export",
        action="store_true",
        default=None,
        help="the export holds every record: list the records earlier runs synced that it lacks (and retract them "
        "when the config sets retract_absent: true)",
    )
    _common(p)
    _input_format(p)

    p = sub.add_parser("status", help="show the runs, the records currently rejected and the current conflicts")
    p.add_argument("--state", type=Path, help="sync state store (default .fhirpeer/state.sqlite)")
    p.add_argument("--config", type=Path, help="YAML config file (its `state:` and `hash_keys_in_reports` apply)")
    p.add_argument("--runs", type=non_negative_int, default=10, help="how many runs to show (0: every run)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    _verbose(p)

    p = sub.add_parser("check-server", help="what the server supports, and the write strategy fhirpeer will use")
    p.add_argument("--server", help="FHIR base URL (or FHIRPEER_SERVER)")
    p.add_argument("--input", type=Path, help="check only the types this export folder needs (default: every type)")
    p.add_argument("--config", type=Path, help="YAML config file (strategy, strategy_per_type apply)")
    p.add_argument("--json", action="store_true", help="print capabilities, strategies and problems as JSON")
    _verbose(p)

    _outcomes_parser(sub)
    p = sub.add_parser(
        "report", help="engagement report computed from what the server holds (report.html, summary.json, CSVs)"
    )
    p.add_argument("--server", help="FHIR base URL (or FHIRPEER_SERVER)")
    p.add_argument("--out", type=Path, required=True, help="folder for report.html, summary.json and the CSVs")
    p.add_argument("--as-of", type=iso_date, help="report date YYYY-MM-DD in the site time zone (default today)")
    p.add_argument(
        "--suppress-below", type=non_negative_int, default=11, metavar="N",
        help="show counts below N as suppressed (default 11; 0 turns suppression off)",
    )  # fmt: skip
    p.add_argument("--caseload-cap", type=positive_int, default=20, help="patients per peer before flagging (20)")
    p.add_argument("--config", type=Path, help="YAML config file (settings; never secrets)")
    p.add_argument("--mappings", type=Path, help="a site's edited copy of the mapping files")
    p.add_argument("--timezone", dest="site_timezone", help="IANA zone of the program (program months, as-of)")
    p.add_argument("--namespace", help="identifier namespace URI the program's resources were written under")
    _verbose(p)

    p = sub.add_parser("sample", help="generate a realistic sample program export (seeded)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--cohort", choices=["default", "penn"], default="default",
        help="penn: the 50-patient program whose report reproduces the Penn program's published figures",
    )  # fmt: skip
    p.add_argument(
        "--patients", type=positive_int, help="patients in the program (default 60, or sized from --contacts)"
    )
    p.add_argument("--seed", type=int, help="random seed (default 7; penn: 1)")
    p.add_argument("--contacts", type=positive_int, help="aim for about this many contacts (load generation)")
    p.add_argument("--as-of", type=iso_date, help="penn: the date the program is built back from (default today)")
    _verbose(p)

    _bulk_commands(sub)

    p = sub.add_parser("demo", help="embedded FHIR server + sample program, end to end")
    p.add_argument("--dir", type=Path, default=Path("fhirpeer-demo"), help="where the demo keeps its data")
    p.add_argument("--patients", type=positive_int, default=40)
    p.add_argument("--keep-running", action="store_true", help="leave the server running at the end")
    p.add_argument(
        "--server", dest="demo_server", metavar="URL",
        help="run the demo against this FHIR server instead of the embedded one (synthetic data: never a server "
        "holding real patients)",
    )  # fmt: skip
    _verbose(p)
    return parser


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return value


def _bulk_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """export-bulk and import: the bulk path for backfills."""
    p = sub.add_parser("export-bulk", help="write an export as NDJSON bulk files (ids, literal references, manifest)")
    p.add_argument("--input", type=Path, required=True, help="folder with the CSV exports")
    p.add_argument("--out", type=Path, required=True, help="folder for the NDJSON parts, manifest.json and key sidecar")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.add_argument("--max-part-resources", type=positive_int, help="resources per NDJSON part (default 20000)")
    p.add_argument("--max-part-bytes", type=positive_int, help="bytes per NDJSON part (default 64 MiB)")
    _common(p)

    p = sub.add_parser("import", help="run the server's bulk import of an export-bulk folder, then record it")
    p.add_argument("--server", help="FHIR base URL (or FHIRPEER_SERVER); the one later syncs use")
    p.add_argument("--from", dest="from_dir", type=Path, required=True, help="folder written by export-bulk")
    p.add_argument(
        "--kind", choices=["auto", *(str(k) for k in ImportKind)], default="auto",
        help="which bulk import (default: from the URL, then the server's software)",
    )  # fmt: skip
    p.add_argument(
        "--location", metavar="URL",
        help="where a cloud import reads the parts you uploaded: https://ACCOUNT.blob.core.windows.net/CONTAINER/"
        "PREFIX (azure), gs://BUCKET/PREFIX (google), s3://BUCKET/PREFIX/ (aws)",
    )  # fmt: skip
    p.add_argument("--timeout", type=positive_float, default=3600.0, help="seconds to wait for the job (3600)")
    p.add_argument(
        "--poll-interval", type=positive_float,
        help="longest wait between polls, in seconds (default: the importer's; HAPI's polls start at 1 s and double)",
    )  # fmt: skip
    p.add_argument("--state", type=Path, help="sync state store (default .fhirpeer/state.sqlite)")
    p.add_argument(
        "--no-server-check", action="store_true",
        help="do not look for export keys the server holds under other ids, nor read the versions back",
    )  # fmt: skip
    p.add_argument("--aws-role-arn", help="HealthLake: the data access role ARN")
    p.add_argument("--aws-output-s3", metavar="S3URI", help="HealthLake: where the job writes its results")
    p.add_argument("--aws-kms-key", help="HealthLake: the KMS key id for those results")
    p.add_argument(
        "--metrics-textfile", type=Path, metavar="PATH",
        help="write the run's metrics here in the Prometheus text format (node-exporter textfile collector)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no poll lines on stderr")
    _common(p)


def _outcomes_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "outcomes", help="read what became of each handoff back from the server into a CSV (incremental)"
    )
    p.add_argument("--server", help="FHIR base URL (or FHIRPEER_SERVER)")
    p.add_argument("--out", type=Path, required=True, help="the outcomes CSV, written complete on every run")
    p.add_argument(
        "--since", type=date_or_datetime, metavar="DATE",
        help="read what changed after this date or date-time instead of since the last outcomes run",
    )  # fmt: skip
    p.add_argument(
        "--force", action="store_true", help="poll the server even if the last poll is less than 15 minutes old"
    )
    p.add_argument("--state", type=Path, help="state store (default .fhirpeer/state.sqlite; the sync's)")
    p.add_argument("--config", type=Path, help="YAML config file (settings; never secrets)")
    p.add_argument("--mappings", type=Path, help="a site's edited copy of the mapping files")
    p.add_argument("--namespace", help="identifier namespace URI (overrides identifiers.yaml)")
    p.add_argument("--timezone", dest="site_timezone", help="IANA zone for dates without an offset")
    p.add_argument("--report-json", type=Path, help="write the run report (JSON) here, whatever the outcome")
    _verbose(p)
    p.add_argument("--log-format", choices=["text", "json"], help="log line format on stderr")
