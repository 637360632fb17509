"""Physical lines → CSV records, each with the line it starts on, and quoted cells that do not close.

RFC 4180 lets a quoted cell run over several physical lines (a note with line breaks). A stray quote — a note
that opens with `"Said ""he relapsed` and never closes — makes the csv module read every following line into that
one cell until some later quote closes it. Such a record is recognised when a line inside its cell looks like a
record of the same file (its key column holds a key-like value and it has the header's column count) or when the
cell runs to the end of the file: it becomes an `UnbalancedQuote` at the line where the quote opened, and the
lines from the first record-like one on are read again as records of their own. A quote that opens a cell and
closes in the middle of it (`"H-2,MRN-2,…,"Call back"`) garbles the cells of its own line: that record is an
`UnbalancedQuote` too. No text of one record ever ends up in another.

Only records holding a quote are checked again (by the csv module's strict mode), so the common row costs one
substring test.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from .headers import FileLayout

_NOT_IN_A_KEY = re.compile(r'[\s|,$\\"]')


@dataclass(frozen=True)
class UnbalancedQuote:
    """A record whose quoted cell does not close where it should (a rejection, never a record)."""

    line: int  # the physical line the record (and its open quote) starts on
    column_index: int | None  # the cell the quote opens
    key: str | None  # the record's key, when a cell before the broken one holds it
    runs_to: int | None  # the first line inside the cell that looked like a record of its own
    never_closes: bool = False  # the cell runs to the end of the file


class _LineFeed:
    """The physical lines the csv reader consumes, numbered, with the lines of the record being read kept
    so that a broken record can hand them back (`rewind`)."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._replay: deque[str] = deque()
        self.number = 0  # the physical line last handed out
        self.start = 1  # the line the record being read starts on
        self.taken: list[str] = []  # that record's lines so far
        self.ran_out = False  # the file ended inside the record being read

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self._replay:
            text = self._replay.popleft()
        else:
            try:
                text = next(self._lines)
            except StopIteration:
                self.ran_out = bool(self.taken)
                raise
        self.number += 1
        if not self.taken:
            self.start = self.number
        self.taken.append(text)
        return text

    def rewind(self, lines: list[str], first: int) -> None:
        """Hand `lines` (numbered from `first`) out again, before anything not read yet."""
        self._replay.extendleft(reversed(lines))
        self.number = first - 1


class PhysicalRecords:
    """Iterates (start line, cells) per record after the header — or an UnbalancedQuote — from `lines`, which
    start on physical line 2; blank lines come as records without cells. `lines` (the count) is final once the
    iteration is done."""

    def __init__(self, lines: Iterator[str], layout: FileLayout):
        self._feed = _LineFeed(lines)
        self._feed.number = 1  # the header
        self._layout = layout

    @property
    def lines(self) -> int:
        """Physical lines read so far, the header included."""
        return self._feed.number

    def __iter__(self) -> Iterator[tuple[int, list[str]] | UnbalancedQuote]:
        feed, layout = self._feed, self._layout
        delimiter = layout.delimiter
        reader = csv.reader(feed, delimiter=delimiter)
        while True:
            try:
                cells: list[str] | None = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a cell beyond the csv field size limit: a quote that did not close in time
                cells = None
            taken = feed.taken
            if len(taken) == 1 and cells is not None and not feed.ran_out and '"' not in taken[0]:
                taken.clear()
                yield feed.start, cells
                continue
            start, feed.taken = feed.start, []
            if cells is None:
                taken += self._rest_of_runaway_cell(taken)
            broken = _broken_quote(taken, start, cells, feed.ran_out, layout)
            feed.ran_out = False
            if broken is None:
                yield start, cells or []
                continue
            if broken.runs_to is not None:
                feed.rewind(taken[broken.runs_to - start :], broken.runs_to)
            yield broken

    def _rest_of_runaway_cell(self, taken: list[str]) -> list[str]:
        """After the csv module gave up on a cell too long to be one: the lines up to the next one that looks like
        a record (which is then read again), so the rest of the runaway cell becomes no records of its own."""
        feed, layout = self._feed, self._layout
        if any(_looks_like_record(text, layout) for text in taken[1:]):
            return []
        rest: list[str] = []
        for text in feed:
            rest.append(text)
            if _looks_like_record(text, layout):
                break
        feed.taken = []
        return rest


def _broken_quote(
    taken: list[str], start: int, cells: list[str] | None, ran_out: bool, layout: FileLayout
) -> UnbalancedQuote | None:
    """The unbalanced quote a record holding a quote shows, or None when its quoted cells are real ones."""
    runs_to = next((start + i for i, text in enumerate(taken) if i and _looks_like_record(text, layout)), None)
    if runs_to is None and not ran_out and cells is not None and _well_quoted(taken, layout.delimiter):
        return None
    column = _broken_cell(taken[0], layout.delimiter)
    key = None
    if column is not None and layout.key_index < column:
        first = _split(taken[0], layout.delimiter)
        key = first[layout.key_index].strip() if layout.key_index < len(first) else None
    never_closes = runs_to is None and (ran_out or cells is None)
    return UnbalancedQuote(start, column, key if key and _key_like(key) else None, runs_to, never_closes)


def _well_quoted(lines: list[str], delimiter: str) -> bool:
    """True when `lines` are exactly one RFC 4180 record (every quoted cell closes right before a delimiter or
    the end of the record)."""
    try:
        return len(list(csv.reader(lines, delimiter=delimiter, strict=True))) == 1
    except csv.Error:
        return False


def _broken_cell(text: str, delimiter: str) -> int | None:
    """The index of the first cell on one physical line whose opening quote does not close on the line, or
    closes before the cell ends; None when every quoted cell on the line is balanced."""
    line = text.rstrip("\r\n")
    end, index, cell = len(line), 0, 0
    while index <= end:
        if index < end and line[index] == '"':
            index += 1
            while True:
                close = line.find('"', index)
                if close < 0:
                    return cell  # runs past the end of the line
                if line.startswith('""', close):
                    index = close + 2
                    continue
                if close + 1 < end and line[close + 1] != delimiter:
                    return cell  # closes in the middle of the cell
                index = close + 1
                break
        after = line.find(delimiter, index)
        if after < 0:
            return None
        index, cell = after + 1, cell + 1
    return None


def _looks_like_record(text: str, layout: FileLayout) -> bool:
    cells = _split(text, layout.delimiter)
    return len(cells) == layout.column_count and _key_like(cells[layout.key_index].strip())


def _key_like(value: str) -> bool:
    return 0 < len(value) <= 64 and not _NOT_IN_A_KEY.search(value)


def _split(text: str, delimiter: str) -> list[str]:
    """One physical line's cells, read on its own (an open quote runs to its end)."""
    try:
        return next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error:
        return []
