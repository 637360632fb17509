"""Streaming CSV reading: one input file → domain records or rejections, never the whole file in memory.

UTF-8 with or without BOM, LF or CRLF, RFC 4180 quoting, header-driven (column names resolved from
`mappings/columns.yaml`), unknown columns ignored, blank cells mean absent. A rejection names the file,
the physical line the record starts on (header = line 1), the record id, the column and the reason —
never the cell's value.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..domain import InputKind, Rejection, Source
from ..errors import InputFileError
from ..mapping_files import FileColumns
from ..records import RECORD_MODELS, Accepted, Vocabulary, required_fields


def check_header(path: Path, kind: InputKind, columns: FileColumns) -> dict[str, int]:
    """Read just the header; return field → column index, or raise naming the missing required columns."""
    with _open(path) as handle:
        try:
            header = next(csv.reader(handle), None)
        except UnicodeDecodeError:
            raise InputFileError(f"{path.name}: not UTF-8 text (in the header)") from None
        except csv.Error as exc:
            raise InputFileError(f"{path.name}: malformed CSV header ({exc})") from None
    if header is None:
        raise InputFileError(f"{path.name}: empty file (a header row is required)")
    return _field_positions(path, header, kind, columns)


def scan_rows(path: Path) -> int:
    """Decode and parse a whole file once (about a million rows a second) so that an encoding or CSV error
    anywhere in it stops the run before anything is written; returns the number of data rows."""
    with _open(path) as handle:
        reader = csv.reader(handle)
        try:
            return max(sum(1 for _ in reader) - 1, 0)
        except UnicodeDecodeError:
            raise InputFileError(f"{path.name}: not UTF-8 text (after line {reader.line_num})") from None
        except csv.Error as exc:
            raise InputFileError(f"{path.name}: malformed CSV at line {reader.line_num + 1} ({exc})") from None


def _field_positions(path: Path, header: list[str], kind: InputKind, columns: FileColumns) -> dict[str, int]:
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [columns.column(f) for f in required_fields(RECORD_MODELS[kind]) if columns.column(f) not in index]
    if missing:
        raise InputFileError(f"{path.name}: missing required column(s): {', '.join(missing)}")
    return {field: index[col] for field, col in columns.columns.items() if col in index}


def _open(path: Path) -> Any:
    try:
        return path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from None


def read_records(
    path: Path, kind: InputKind, columns: FileColumns, vocab: Vocabulary
) -> Iterator[Accepted | Rejection]:
    """Yield each data row of `path` as an Accepted record or a Rejection, streaming."""
    context = {"vocab": vocab}
    model = RECORD_MODELS[kind]
    key_field = model.key_fields[0]
    with _open(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise InputFileError(f"{path.name}: empty file (a header row is required)")
            positions = _field_positions(path, header, kind, columns)
            last_line = reader.line_num
            for cells in reader:
                line = last_line + 1
                last_line = reader.line_num
                if not cells or all(not c.strip() for c in cells):
                    continue
                data = {f: _cell(cells, i) for f, i in positions.items()}
                data = {f: v for f, v in data.items() if v is not None}
                try:
                    record = model.model_validate(data, context=context)
                except ValidationError as exc:
                    yield _rejection(path.name, line, data.get(key_field), exc, columns, kind)
                    continue
                yield Accepted(record, Source(path.name, line))
        except UnicodeDecodeError:
            raise InputFileError(f"{path.name}: not UTF-8 text (after line {reader.line_num})") from None
        except csv.Error as exc:
            raise InputFileError(f"{path.name}: malformed CSV at line {reader.line_num} ({exc})") from None


def _cell(cells: list[str], index: int) -> str | None:
    if index >= len(cells):
        return None
    value = cells[index].strip()
    return value or None


def _rejection(
    file: str, line: int, record_id: str | None, exc: ValidationError, columns: FileColumns, kind: InputKind
) -> Rejection:
    """Reduce a pydantic error to 'column: reason' parts, without the input values."""
    parts: list[tuple[str | None, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required value is blank"
        elif err["type"] in ("int_parsing", "date_from_datetime_parsing", "date_parsing"):
            message = "not a valid value"
        field = str(err["loc"][0]) if err["loc"] else None
        if field is None and ": " in message:
            field, message = message.split(": ", 1)
        parts.append((columns.column(field) if field else None, message))
    column = parts[0][0] if parts else None
    reason = "; ".join(f"{c}: {m}" if c else m for c, m in parts)
    safe_id = record_id if record_id and len(record_id) <= 64 else None
    return Rejection(file, line, safe_id, column, reason, kind.resource_type)
