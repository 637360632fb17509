"""The `fhirpeer` command line: parser, commands and rendering, on top of the public API only.

Exit codes (README "Commands, exit codes, run report"): 0 ok; 1 some records rejected or in conflict; 2 usage,
configuration, state path, input file or not a FHIR base; 3 server unreachable or credentials refused; 4 locked;
5 aborted part-way; 6 more rejected than --max-rejected; 70 internal error; 130 interrupted. A failure prints one
`fhirpeer: error: …` line (and what to do about it); a traceback only with -v, and only for internal errors.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence

from .. import FhirpeerError, InternalError, OutcomesReport, RunReport
from . import output
from .parser import build_parser

INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output.reset()
    from . import commands

    handler = getattr(commands, "run_" + args.command.replace("-", "_"))
    try:
        return int(handler(args))
    except FhirpeerError as exc:
        _say_failure(exc, args)
        _deliver_failure(exc.report or _stopped_report(args, exc.exit_code, exc.category, str(exc)), args)
        return exc.exit_code
    except KeyboardInterrupt:
        _stderr("fhirpeer: interrupted; every write the server confirmed is recorded, a rerun finishes the work")
        _deliver_failure(_stopped_report(args, INTERRUPTED, "interrupted", "interrupted"), args)
        return INTERRUPTED
    except Exception as exc:  # a bug: one line, never the exception's text (it may carry data)
        _stderr(f"fhirpeer: internal error: {type(exc).__name__} (run with -v for the traceback)")
        if getattr(args, "verbose", False):
            traceback.print_exception(exc, file=sys.stderr)
        message = f"internal error: {type(exc).__name__}"
        _deliver_failure(_stopped_report(args, InternalError.exit_code, InternalError.category, message), args)
        return InternalError.exit_code


def _say_failure(exc: FhirpeerError, args: argparse.Namespace) -> None:
    if isinstance(exc, InternalError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "error"
        _stderr(f"fhirpeer: internal error: {cause} (run with -v for the traceback)")
        if getattr(args, "verbose", False):
            traceback.print_exception(exc, file=sys.stderr)
        return
    _stderr(f"fhirpeer: error: {exc}")
    if exc.advice:
        _stderr(f"fhirpeer: {exc.advice}")


def _stopped_report(
    args: argparse.Namespace, exit_code: int, category: str, message: str
) -> RunReport | OutcomesReport:
    """A report for a run that stopped before the API could make one (bad settings, say)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.command == "outcomes":
        return OutcomesReport.stopped(exit_code, category, message, server=getattr(args, "server", None), at=now)
    command = "sync --dry-run" if getattr(args, "dry_run", False) else str(args.command)
    report = RunReport(command=command, server=getattr(args, "server", None), started_at=now, finished_at=now)
    report.exit_code = exit_code
    report.fail(category, message)
    return report


def _deliver_failure(report: RunReport | OutcomesReport, args: argparse.Namespace) -> None:
    """The run report and metrics of a failed run (written for every run, whatever the outcome)."""
    from .commands import deliver, deliver_outcomes

    if isinstance(report, OutcomesReport):
        deliver_outcomes(report, args)
    else:
        deliver(report, args)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)
