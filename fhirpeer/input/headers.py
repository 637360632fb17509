"""A file's header row: its delimiter, and the column of each record field, matched as spreadsheets spell them.

Column names match ignoring case, surrounding spaces and the space/underscore difference (`Patient MRN` is
`patient_mrn`). The delimiter is the site's setting, or else whichever of comma, semicolon and tab splits the
header into the most known columns (comma on a tie). A missing required column is an `InputFileError` naming the
header found, the closest expected names and — when the header splits into the expected columns on another
delimiter — that delimiter; the folder gathers the problems of every file into one error.

The header row is echoed only when it matches at least one expected column: a file without a header has a data
row there, and data rows are never echoed.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass

from ..cell_values import normal_name
from ..domain import InputKind
from ..errors import InputFileError
from ..mapping_files import FileColumns
from ..records import RECORD_MODELS, required_fields

DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def delimiter_name(delimiter: str) -> str:
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


@dataclass(frozen=True)
class FileLayout:
    """Where each record field is in one file's rows."""

    delimiter: str
    positions: dict[str, int]  # record field → column index
    column_count: int  # cells in the header row
    key_index: int  # the column of the record's key (its first key field)


def split_header(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def read_layout(
    file: str, header_line: str, kind: InputKind, columns: FileColumns, delimiter: str | None
) -> FileLayout:
    """The layout of a file whose first physical line is `header_line`; InputFileError when it lacks a required
    column (or names one twice)."""
    if "\x00" in header_line:
        raise InputFileError(
            f'{file}: the header holds NUL characters, so the file is probably UTF-16 (Excel\'s "Unicode Text"): '
            "set `encoding: utf-16` in the config file"
        )
    chosen = delimiter or _recognised_delimiter(header_line, columns)
    header = split_header(header_line, chosen)
    found = _match(header, columns)
    required = required_fields(RECORD_MODELS[kind])
    missing = [f for f in required if f not in found]
    if missing:
        raise InputFileError(_missing_message(file, header, header_line, kind, columns, chosen, missing, delimiter))
    doubled = _doubled(header, columns)
    if doubled:
        raise InputFileError(f"{file}: {doubled}")
    key_field = RECORD_MODELS[kind].key_fields[0]
    return FileLayout(chosen, found, len(header), found[key_field])


def _match(header: list[str], columns: FileColumns) -> dict[str, int]:
    """record field → index of the first header cell that spells its column."""
    by_spelling: dict[str, int] = {}
    for index, name in enumerate(header):
        by_spelling.setdefault(normal_name(name), index)
    found: dict[str, int] = {}
    for field, column in columns.columns.items():
        index = by_spelling.get(normal_name(column))
        if index is not None:
            found[field] = index
    return found


def _doubled(header: list[str], columns: FileColumns) -> str | None:
    """A known column spelled twice in the header (which one to read would be a guess)."""
    wanted = {normal_name(column): column for column in columns.columns.values()}
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        spelling = normal_name(name)
        if spelling in wanted:
            if spelling in seen:
                return (
                    f"columns {seen[spelling] + 1} and {index + 1} both name {wanted[spelling]}: "
                    "keep one of them or rename the other"
                )
            seen[spelling] = index
    return None


def _recognised_delimiter(header_line: str, columns: FileColumns) -> str:
    """The delimiter that splits the header into the most known columns (comma on a tie)."""
    best, best_count = ",", -1
    for candidate in DELIMITERS:
        count = len(_match(split_header(header_line, candidate), columns))
        if count > best_count:
            best, best_count = candidate, count
    return best


def _missing_message(
    file: str,
    header: list[str],
    header_line: str,
    kind: InputKind,
    columns: FileColumns,
    delimiter: str,
    missing: list[str],
    configured: str | None,
) -> str:
    names = [columns.column(f) for f in missing]
    parts = [f"{file}: missing required column(s): {', '.join(names)}"]
    other = _delimiter_that_fits(header_line, kind, columns, delimiter)
    if other is not None:
        setting = "the delimiter setting says " + delimiter_name(delimiter) if configured else "it was read"
        parts.append(
            f"the header splits into the expected columns on {delimiter_name(other)}s ({setting}): set "
            f"`delimiter: {other!r}` in the config file, or leave it unset to recognise it"
        )
    elif _found_any(header, columns):
        parts.append(f"the header has: {', '.join(repr(h.strip()) for h in header)}")
        hints = _closest(header, columns, missing)
        if hints:
            parts.append("; ".join(hints))
        parts.append("rename the column in the export, or map it to the field in columns.yaml")
    else:
        expected = ", ".join(columns.column(f) for f in required_fields(RECORD_MODELS[kind]))
        parts.append(
            f"the first line names none of the expected columns, so it is no header row: the first line must "
            f"name the columns ({expected}, …)"
        )
    return "; ".join(parts[:1]) + " — " + "; ".join(parts[1:])


def _found_any(header: list[str], columns: FileColumns) -> bool:
    return bool(_match(header, columns))


def _delimiter_that_fits(header_line: str, kind: InputKind, columns: FileColumns, used: str) -> str | None:
    """Another delimiter on which the header has every required column."""
    required = set(required_fields(RECORD_MODELS[kind]))
    for candidate in DELIMITERS:
        if candidate != used and required <= set(_match(split_header(header_line, candidate), columns)):
            return candidate
    return None


def _closest(header: list[str], columns: FileColumns, missing: list[str]) -> list[str]:
    """For each missing column, the header name that is closest to it (when one is close)."""
    matched = set(_match(header, columns).values())
    unmatched = {normal_name(h): h.strip() for i, h in enumerate(header) if i not in matched and h.strip()}
    hints = []
    for field in missing:
        column = columns.column(field)
        close = difflib.get_close_matches(normal_name(column), list(unmatched), n=1, cutoff=0.6)
        if close:
            hints.append(f"the closest expected name to {unmatched[close[0]]!r} is {column}")
    return hints
