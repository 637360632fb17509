"""One export folder: which input files it holds, a check of all of them before anything is sent, and each
kind's records streamed in file order.

File names match ignoring case (`Patients.csv` is patients.csv); every other `.csv` in the folder is named in a
warning with the closest expected name, so nothing is ignored silently. `InputFolder.check()` reads every present
file's header and decodes and parses each file once, so a missing required column or an undecodable byte anywhere
stops the run (exit 2) before anything is written — with the problems of every file in one error. `records(kind)`
then streams one kind; care-team member rows are grouped into one `TeamRows` per team_id, and duplicate keys in
one file are rejected (the first row wins). What reading found that loses no record — a dropped optional cell, a
file without records — is in `warnings`, and how many physical lines became how many records in `summaries()`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from ..domain import FileSummary, InputKind, InputWarning, Rejection
from ..errors import InputFileError
from ..mapping_files import Mappings
from ..records import RECORD_MODELS, Accepted, CareTeamMemberRecord, TeamRows, Vocabulary
from ..settings import Settings
from .csv_files import FileTally, check_header, read_records, scan_rows
from .decoding import TextFormat
from .headers import FileLayout
from .row_skip import RowSkip, Unchanged
from .scratch_db import BLOCK_ROWS
from .seen_keys import SeenKeys
from .team_spool import TeamSpool


class InputFolder:
    """An export folder read with one site's column mapping, vocabulary and text format."""

    def __init__(self, input_dir: Path, mappings: Mappings, vocab: Vocabulary, fmt: TextFormat | None = None):
        self.input_dir = Path(input_dir)
        self.mappings = mappings
        self.vocab = vocab
        self.fmt = fmt or TextFormat()
        self._files: dict[str, Path] | None = None  # casefolded name → the file in the folder
        self._layouts: dict[InputKind, FileLayout | None] | None = None  # once check() has read the headers
        self._rows: dict[InputKind, int] = {}
        self._folder_warnings: list[InputWarning] = []
        self._kind_warnings: dict[InputKind, list[InputWarning]] = {}
        self._summaries: dict[InputKind, FileSummary] = {}

    @classmethod
    def for_settings(cls, input_dir: Path, mappings: Mappings, settings: Settings) -> InputFolder:
        """The folder read the way `settings` say the site's files are written."""
        vocab = mappings.vocabulary(settings.tz, settings.date_formats)
        return cls(Path(input_dir), mappings, vocab, TextFormat(settings.encoding, settings.delimiter))

    def path(self, kind: InputKind) -> Path:
        """The file of `kind`: the folder's file whose name matches ignoring case, else the expected name."""
        expected = self.mappings.columns[kind].file
        return self._listing().get(expected.casefold(), self.input_dir / expected)

    def present_kinds(self) -> list[InputKind]:
        """The kinds whose file is in the folder, in write order."""
        return [k for k in InputKind if self.path(k).is_file()]

    def check(self) -> list[InputKind]:
        """Check the folder and every present file; raise one InputFileError naming every problem found."""
        if not self.input_dir.is_dir():
            raise InputFileError(f"input folder not found: {self.input_dir}")
        kinds = self.present_kinds()
        if self._layouts is None:
            self._folder_warnings = self._unexpected_files()
            if not kinds:
                names = ", ".join(self.mappings.columns[k].file for k in InputKind)
                lines = [f"{self.input_dir}: none of the input files is present ({names})"]
                raise InputFileError("\n".join([*lines, *(str(w) for w in self._folder_warnings)]))
            self._layouts = self._read_every_file(kinds)
        return kinds

    def _read_every_file(self, kinds: list[InputKind]) -> dict[InputKind, FileLayout | None]:
        layouts: dict[InputKind, FileLayout | None] = {}
        problems: list[str] = []
        for kind in kinds:
            path, columns = self.path(kind), self.mappings.columns[kind]
            try:
                layout = layouts[kind] = check_header(path, kind, columns, self.fmt)
                self._rows[kind] = scan_rows(path, layout, self.fmt) if layout is not None else 0
            except InputFileError as exc:
                problems.append(str(exc))
        if problems:
            raise InputFileError("\n".join(problems))
        return layouts

    @property
    def warnings(self) -> list[InputWarning]:
        """Everything found so far that loses no record: unexpected files, then each kind's, in reading order."""
        found = list(self._folder_warnings)
        for kind in InputKind:
            found += self._kind_warnings.get(kind, [])
        return found

    def summaries(self) -> list[FileSummary]:
        """Per file read so far: physical lines → records (→ CareTeams), in write order."""
        return [self._summaries[k] for k in InputKind if k in self._summaries]

    def summary(self, kind: InputKind) -> FileSummary | None:
        return self._summaries.get(kind)

    def count_rows(self, kind: InputKind) -> int:
        """Rows after the header in a file, as counted by `check()` (a progress total, blank lines included)."""
        self.check()
        return self._rows.get(kind, 0)

    def records(
        self, kind: InputKind, skip: RowSkip | None = None
    ) -> Iterator[Accepted | Unchanged | TeamRows | Rejection]:
        """Stream one kind's records; a key seen before in the same file is rejected. Warnings are collected
        in `warnings`, and the file's summary is in `summaries()` once the stream is done. With `skip` (not for
        care teams), rows the state store holds unchanged come as `Unchanged`, unparsed."""
        self.check()
        warnings = self._kind_warnings[kind] = []
        tally = FileTally()
        path = self.path(kind)
        rows = _collect_warnings(
            read_records(path, kind, self.mappings.columns[kind], self.vocab, self.fmt, tally, skip), warnings
        )
        teams = 0
        if kind is InputKind.CARE_TEAM:
            for item in _care_teams(rows):
                teams += isinstance(item, TeamRows)
                yield item
        else:
            yield from _first_of_each_key(rows, kind)
        self._finish(kind, path, tally, teams if kind is InputKind.CARE_TEAM else None)

    def _finish(self, kind: InputKind, path: Path, tally: FileTally, teams: int | None) -> None:
        layout = (self._layouts or {}).get(kind)
        self._summaries[kind] = FileSummary(
            path.name, tally.lines, tally.records, teams, layout.delimiter if layout else ","
        )
        if tally.records == 0:
            reason = "a header row and no records" if tally.lines else "empty file (not even a header row)"
            self._kind_warnings[kind].append(InputWarning(path.name, None, None, f"{reason}: nothing to sync"))

    def _listing(self) -> dict[str, Path]:
        if self._files is None:
            try:
                entries = sorted(p for p in self.input_dir.iterdir() if p.is_file())
            except OSError:
                entries = []
            by_name: dict[str, list[Path]] = {}
            for entry in entries:
                by_name.setdefault(entry.name.casefold(), []).append(entry)
            expected = {self.mappings.columns[k].file.casefold() for k in InputKind}
            clashes = [same for name, same in by_name.items() if name in expected and len(same) > 1]
            if clashes:
                names = "; ".join(", ".join(p.name for p in same) for same in clashes)
                raise InputFileError(f"{self.input_dir}: files whose names differ only in case: {names} — keep one")
            self._files = {name: same[0] for name, same in by_name.items()}
        return self._files

    def _unexpected_files(self) -> list[InputWarning]:
        """A warning per `.csv` in the folder that is no input file, with the closest expected name."""
        expected = {self.mappings.columns[k].file.casefold(): self.mappings.columns[k].file for k in InputKind}
        warnings: list[InputWarning] = []
        for name, path in self._listing().items():
            if not name.endswith(".csv") or name in expected:
                continue
            close = difflib.get_close_matches(name, list(expected), n=1, cutoff=0.6)
            hint = (
                f"the closest input file name is {expected[close[0]]}"
                if close
                else ("the input files are " + ", ".join(sorted(expected.values())))
            )
            warnings.append(InputWarning(path.name, None, None, f"not an input file, not read ({hint})"))
        return warnings


def _collect_warnings(
    rows: Iterator[Accepted | Unchanged | Rejection | InputWarning], warnings: list[InputWarning]
) -> Iterator[Accepted | Unchanged | Rejection]:
    for row in rows:
        if type(row) is InputWarning:
            warnings.append(row)
        else:
            yield row  # type: ignore[misc]


def _first_of_each_key(rows: Iterator[Accepted | Rejection], kind: InputKind) -> Iterator[Accepted | Rejection]:
    key_column = RECORD_MODELS[kind].key_fields[0]
    with SeenKeys() as seen:
        for block in _blocks(rows):
            earlier = seen.first_lines(row.record.key for row in block if not isinstance(row, Rejection))
            first_lines: dict[str, int] = {}  # this block's new keys
            for row in block:
                if isinstance(row, Rejection):
                    yield row
                    continue
                key = row.record.key
                first = earlier.get(key, first_lines.get(key))
                if first is not None:
                    yield _duplicate(row, kind, key_column, first)
                    continue
                first_lines[key] = row.source.line
                yield row
            seen.add(first_lines.items())


def _care_teams(rows: Iterator[Accepted | Rejection]) -> Iterator[TeamRows | Rejection]:
    """Group member rows by team_id; the rows wait in a scratch database until the file is read."""
    with SeenKeys() as seen, TeamSpool() as spool:
        for block in _blocks(rows):
            members = [(row, _member_key(row)) for row in block if not isinstance(row, Rejection)]
            earlier = seen.first_lines(member_key for _, member_key in members)
            first_lines: dict[str, int] = {}  # this block's new member keys
            for row in block:
                if isinstance(row, Rejection):
                    yield row
                    continue
                member_key = _member_key(row)
                first = earlier.get(member_key, first_lines.get(member_key))
                if first is not None:
                    yield _duplicate(row, InputKind.CARE_TEAM, "team_id", first)
                    continue
                rec = row.record
                assert isinstance(rec, CareTeamMemberRecord)  # checked by _member_key
                team_first_line = spool.add(rec, row.source)
                if team_first_line is not None:
                    yield Rejection(
                        row.source.file, row.source.line, rec.team_id, "patient_mrn",
                        f"patient_mrn: differs from the team's first row (line {team_first_line})",
                        InputKind.CARE_TEAM.resource_type,
                    )  # fmt: skip
                    continue
                first_lines[member_key] = row.source.line
            seen.add(first_lines.items())
        yield from spool.teams()


def _member_key(row: Accepted) -> str:
    rec = row.record
    if not isinstance(rec, CareTeamMemberRecord):
        raise TypeError(f"care_team rows must be CareTeamMemberRecord, not {type(rec).__name__}")
    return f"{rec.team_id}/{rec.staff_id}/{rec.role}/{rec.start_date.isoformat()}"


def _blocks(rows: Iterator[Accepted | Rejection]) -> Iterator[list[Accepted | Rejection]]:
    """The rows in blocks of BLOCK_ROWS: the scratch database is asked once per block."""
    while block := list(islice(rows, BLOCK_ROWS)):
        yield block


def _duplicate(row: Accepted, kind: InputKind, column: str, first_line: int) -> Rejection:
    return Rejection(
        row.source.file, row.source.line, row.record.key, column, f"{column}: duplicate of line {first_line}",
        kind.resource_type,
    )  # fmt: skip
