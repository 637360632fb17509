"""The `fhirpeer` command line: parser, commands and rendering, on top of the public API only."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import FhirpeerError
from .parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import commands

    handler = getattr(commands, "run_" + args.command.replace("-", "_"))
    try:
        return int(handler(args))
    except FhirpeerError as exc:
        print(f"fhirpeer: error: {exc}", file=sys.stderr)
        if exc.exit_code == 3:
            print("fhirpeer: the server could not be reached or refused us; a rerun is safe", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("fhirpeer: interrupted; a rerun finishes the work", file=sys.stderr)
        return 130
