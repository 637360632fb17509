"""Writing to stdout when the reader may go away (`fhirpeer status | head`): the rest of the output is dropped
quietly and the command keeps its own exit code, instead of dying with BrokenPipeError."""

from __future__ import annotations

import os
import sys

_closed = False


def emit(text: str = "", end: str = "\n") -> None:
    """Print `text` to stdout; once the reader has closed the pipe, print nothing more."""
    global _closed
    if _closed:
        return
    try:
        sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        _closed = True
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # a stdout without a file descriptor (captured by a test harness)
            pass
        finally:
            os.close(devnull)


def reset() -> None:
    """Forget an earlier broken pipe (each `main()` call starts with a fresh stdout)."""
    global _closed
    _closed = False
