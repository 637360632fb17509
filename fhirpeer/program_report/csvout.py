"""File output shared by the report (page, summary, tables) and the handoff outcomes file."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

# A cell a spreadsheet would run as a formula (OWASP "CSV injection"); text from other systems is quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """Text safe to open in a spreadsheet: a leading formula character is escaped with an apostrophe."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8, as given) through a temporary file beside it, so a reader never
    sees half a file; the file gets the usual permissions (the umask's), unlike a ``mkstemp`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    """Write ``header`` and ``rows`` (already formatted) to ``path`` (UTF-8, LF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())
