"""Streaming CSV reading: one input file → domain records, rejections and warnings, never the whole file in memory.

The site's encoding (UTF-8 with or without BOM by default), LF, CR LF or CR, RFC 4180 quoting, the delimiter set
or recognised from the header, header-driven (column names matched as spreadsheets spell them), unknown columns
ignored, blank cells mean absent. A bad required cell rejects the record; a bad or inapplicable optional cell is
dropped with a warning and the record is kept. A rejection or warning names the file, the physical line the record
starts on (header = line 1), the record id, the column and the reason — never a cell's value.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from ..domain import InputKind, InputWarning, Rejection, Source
from ..errors import InputFileError
from ..mapping_files import FileColumns
from ..records import RECORD_MODELS, Accepted, Record, Vocabulary, optional_fields
from .decoding import DEFAULT_FORMAT, TextFormat, open_text, undecodable
from .headers import FileLayout, read_layout
from .physical_records import PhysicalRecords, UnbalancedQuote
from .row_skip import WARNED, RowKey, RowSkip, Unchanged

_MAX_ECHOED_ID = 64
_SKIP_BATCH = 500  # rows per state-store lookup when unchanged rows are skipped
_Row = tuple[int, dict[str, str]] | UnbalancedQuote  # a record's start line and fields, or its broken quote


@dataclass
class FileTally:
    """What reading one file found: physical lines (header included) and records (blank lines excluded)."""

    lines: int = 0
    records: int = 0


def check_header(
    path: Path, kind: InputKind, columns: FileColumns, fmt: TextFormat = DEFAULT_FORMAT
) -> FileLayout | None:
    """Read just the header: the file's layout, None for an empty file; InputFileError naming what is wrong."""
    with open_text(path, fmt) as handle:
        try:
            header = handle.readline()
        except UnicodeDecodeError:
            raise undecodable(path, fmt) from None
    if not header:
        return None
    if not header.strip():
        raise InputFileError(f"{path.name}: line 1 is blank: the header row must be the first line")
    return read_layout(path.name, header, kind, columns, fmt.delimiter)


def scan_rows(path: Path, layout: FileLayout, fmt: TextFormat = DEFAULT_FORMAT) -> int:
    """Decode and parse a whole file once (about a million rows a second), so that a byte that does not decode
    anywhere in it stops the run before anything is written; returns the number of rows after the header."""
    rows = 0
    with open_text(path, fmt) as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter)
        try:
            while True:
                try:
                    for _ in reader:
                        rows += 1
                    break
                except csv.Error:  # a runaway quoted cell: read_records reports its record
                    continue
        except UnicodeDecodeError:
            raise undecodable(path, fmt) from None
    return max(rows - 1, 0)


def read_records(
    path: Path,
    kind: InputKind,
    columns: FileColumns,
    vocab: Vocabulary,
    fmt: TextFormat = DEFAULT_FORMAT,
    tally: FileTally | None = None,
    skip: RowSkip | None = None,
) -> Iterator[Accepted | Unchanged | Rejection | InputWarning]:
    """Yield each data record of `path` as an Accepted record or a Rejection (and a warning per dropped cell),
    streaming; `tally` counts lines and records as it goes. With `skip`, a row whose fingerprint the state store
    holds is an `Unchanged` (not parsed) and every Accepted carries the fingerprint to record (kinds keyed by one
    field only: care-team rows are grouped into teams)."""
    tally = tally if tally is not None else FileTally()
    with open_text(path, fmt) as handle:
        try:
            header = handle.readline()
            if not header.strip():  # an empty file (a blank first line is refused by check_header)
                return
            layout = read_layout(path.name, header, kind, columns, fmt.delimiter)
            rows = _RowReader(path.name, kind, columns, vocab, layout)
            if skip is not None and len(rows.model.key_fields) != 1:
                raise ValueError(f"{kind}: rows keyed by several fields cannot be skipped one by one")
            records = PhysicalRecords(handle, layout)
            batch: list[_Row] = []
            for item in records:
                if type(item) is UnbalancedQuote:
                    row: _Row = item
                else:
                    line, cells = item  # type: ignore[misc]
                    if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                        continue
                    row = (line, rows.fields(cells))
                if skip is None:
                    tally.records += 1
                    yield from rows.read_row(row)
                    continue
                batch.append(row)
                if len(batch) >= _SKIP_BATCH:
                    yield from rows.read_batch(batch, skip, tally)
                    batch = []
            if batch and skip is not None:
                yield from rows.read_batch(batch, skip, tally)
            tally.lines = records.lines
        except UnicodeDecodeError:
            raise undecodable(path, fmt) from None


class _RowReader:
    """Cells of one file's rows → records, with the optional-cell rule; everything per file computed once."""

    def __init__(self, file: str, kind: InputKind, columns: FileColumns, vocab: Vocabulary, layout: FileLayout):
        self.file, self.kind, self.columns = file, kind, columns
        self.model: type[Record] = RECORD_MODELS[kind]
        self.optional = optional_fields(self.model)
        self.key_field = self.model.key_fields[0]
        self.positions = list(layout.positions.items())
        self.column_of_index = {index: columns.column(field) for field, index in layout.positions.items()}
        self.notes: list[tuple[str, str]] = []
        self.context: dict[str, Any] = {"vocab": vocab, "notes": self.notes}

    def fields(self, cells: list[str]) -> dict[str, str]:
        """A row's non-blank cells by record field, stripped: what the record model reads."""
        count = len(cells)
        data: dict[str, str] = {}
        for field, index in self.positions:
            if index < count:
                value = cells[index].strip()
                if value:
                    data[field] = value
        return data

    def read_batch(
        self, batch: list[_Row], skip: RowSkip, tally: FileTally
    ) -> Iterator[Accepted | Unchanged | Rejection | InputWarning]:
        """Read rows in file order, skipping the unchanged ones; the state store is asked once for the batch."""
        # before reading: reading drops bad optional cells from a row's fields
        fingerprints = [skip.fingerprint(row[1]) if type(row) is tuple else None for row in batch]
        keys = [row[1][self.key_field] for row in batch if type(row) is tuple and self.key_field in row[1]]
        known = skip.known(keys)
        for row, fingerprint in zip(batch, fingerprints, strict=True):
            tally.records += 1
            if type(row) is tuple:
                line, data = row
                key = data.get(self.key_field)
                synced = known.get(key) if key is not None else None
                if key is not None and synced is not None and synced.fingerprint == fingerprint:
                    yield Unchanged(RowKey(key), Source(self.file, line), synced)
                    continue
            yield from self.read_row(row, fingerprint)

    def read_row(self, row: _Row, fingerprint: str | None = None) -> Iterator[Accepted | Rejection | InputWarning]:
        if type(row) is UnbalancedQuote:
            yield self.unbalanced(row)
        else:
            yield from self.read(*row, fingerprint)  # type: ignore[misc]

    def read(
        self, line: int, data: dict[str, str], fingerprint: str | None = None
    ) -> Iterator[Accepted | Rejection | InputWarning]:
        """One row's fields → its record (`fingerprint` recorded with it, marked when reading warned) or why not."""
        dropped: list[tuple[str, str]] = []
        while True:
            self.notes.clear()
            size = len(data)
            try:
                record = self.model.model_validate(data, context=self.context)
            except ValidationError as exc:
                problems = _problems(exc)
                kept: list[_Problem] = []
                for problem in problems:
                    if problem.in_cell and problem.field in self.optional:
                        data.pop(problem.field, None)
                        dropped.append((problem.field, f"{problem.message}; the cell is ignored"))
                    else:
                        kept.append(problem)
                if kept or len(data) == size:
                    yield from self._warnings(line, dropped)
                    yield self._rejection(line, data.get(self.key_field), kept or problems)
                    return
                continue
            warned = [*dropped, *self.notes]
            yield from self._warnings(line, warned)
            if fingerprint is not None and warned:
                fingerprint += WARNED
            yield Accepted(record, Source(self.file, line), fingerprint)
            return

    def unbalanced(self, broken: UnbalancedQuote) -> Rejection:
        column = self.column_of_index.get(broken.column_index) if broken.column_index is not None else None
        if broken.runs_to is not None:
            what = (
                f"unbalanced quote: the quoted cell that opens on this line runs into line {broken.runs_to}, "
                "which is read as a record of its own"
            )
        elif broken.never_closes:
            what = "unbalanced quote: the quoted cell that opens on this line never closes"
        else:
            what = "unbalanced quote: the quoted cell that opens on this line closes in the middle of the cell"
        reason = f"{column}: {what}" if column else what
        reason += ' (a quote inside a cell is written twice: "")'
        return Rejection(self.file, broken.line, broken.key, column, reason, self.kind.resource_type)

    def _warnings(self, line: int, dropped: list[tuple[str, str]]) -> Iterator[InputWarning]:
        for field, reason in dropped:
            yield InputWarning(self.file, line, self.columns.column(field), reason)

    def _rejection(self, line: int, record_id: str | None, problems: list[_Problem]) -> Rejection:
        parts = [(self.columns.column(p.field) if p.field else None, p.message) for p in problems]
        column = parts[0][0] if parts else None
        reason = "; ".join(f"{c}: {m}" if c else m for c, m in parts)
        safe_id = record_id if record_id and _echoable_id(record_id) else None
        return Rejection(self.file, line, safe_id, column, reason, self.kind.resource_type)


def _echoable_id(record_id: str) -> bool:
    """An id is named in a rejection only when it looks like one: short, without spaces or quotes (a key column
    garbled by a broken row may hold the text of other cells)."""
    return len(record_id) <= _MAX_ECHOED_ID and not any(c.isspace() or c == '"' for c in record_id)


class _Problem(NamedTuple):
    field: str | None
    message: str
    in_cell: bool  # the cell's own problem; False for a check across fields, which never drops a cell


def _problems(exc: ValidationError) -> list[_Problem]:
    """A pydantic error as problems, without the input values."""
    problems: list[_Problem] = []
    for err in exc.errors(include_input=False, include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required value is blank"
        elif err["type"] in ("int_parsing", "date_from_datetime_parsing", "date_parsing"):
            message = "not a valid value"
        if err["loc"]:
            problems.append(_Problem(str(err["loc"][0]), message, True))
        elif ": " in message:  # a model check names its field first
            field, message = message.split(": ", 1)
            problems.append(_Problem(field, message, False))
        else:
            problems.append(_Problem(None, message, False))
    return problems
