"""One export folder: which input files it holds, a check of all of them before anything is sent, and each
kind's records streamed in file order.

`InputFolder.check()` reads every present file's header and decodes and parses each file once, so a missing
required column or an undecodable byte anywhere stops the run (exit 2) before anything is written. `records(kind)`
then streams one kind; care-team member rows are grouped into one `TeamRows` per team_id, and duplicate keys
in one file are rejected (the first row wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..domain import InputKind, Rejection, Source
from ..errors import InputFileError
from ..mapping_files import Mappings
from ..records import RECORD_MODELS, Accepted, CareTeamMemberRecord, TeamRows, Vocabulary
from .csv_files import check_header, read_records, scan_rows


class InputFolder:
    """An export folder read with one site's column mapping and vocabulary."""

    def __init__(self, input_dir: Path, mappings: Mappings, vocab: Vocabulary):
        self.input_dir = Path(input_dir)
        self.mappings = mappings
        self.vocab = vocab
        self._rows: dict[InputKind, int] | None = None  # data rows per kind, once check() has scanned the files

    def path(self, kind: InputKind) -> Path:
        return self.input_dir / self.mappings.columns[kind].file

    def present_kinds(self) -> list[InputKind]:
        """The kinds whose file is in the folder, in write order."""
        return [k for k in InputKind if self.path(k).is_file()]

    def check(self) -> list[InputKind]:
        """Check the folder and every present file; raise InputFileError on the first problem."""
        if not self.input_dir.is_dir():
            raise InputFileError(f"input folder not found: {self.input_dir}")
        kinds = self.present_kinds()
        if not kinds:
            names = ", ".join(self.mappings.columns[k].file for k in InputKind)
            raise InputFileError(f"{self.input_dir}: none of the input files is present ({names})")
        if self._rows is None:
            for kind in kinds:
                check_header(self.path(kind), kind, self.mappings.columns[kind])
            self._rows = {kind: scan_rows(self.path(kind)) for kind in kinds}
        return kinds

    def count_rows(self, kind: InputKind) -> int:
        """Data rows in a file, as counted by `check()`."""
        if self._rows is None:
            self.check()
        return (self._rows or {}).get(kind, 0)

    def records(self, kind: InputKind) -> Iterator[Accepted | TeamRows | Rejection]:
        """Stream one kind's records; a key seen before in the same file is rejected."""
        rows = read_records(self.path(kind), kind, self.mappings.columns[kind], self.vocab)
        if kind is InputKind.CARE_TEAM:
            yield from _care_teams(rows)
            return
        key_column = RECORD_MODELS[kind].key_fields[0]
        seen: dict[str, int] = {}
        for row in rows:
            if isinstance(row, Rejection):
                yield row
                continue
            key = row.record.key
            if key in seen:
                yield _duplicate(row, kind, key_column, seen[key])
                continue
            seen[key] = row.source.line
            yield row


def _care_teams(rows: Iterator[Accepted | Rejection]) -> Iterator[TeamRows | Rejection]:
    """Group member rows by team_id (care_team.csv is small: one row per assignment)."""
    teams: dict[str, list[tuple[CareTeamMemberRecord, Source]]] = {}
    seen: dict[str, int] = {}
    for row in rows:
        if isinstance(row, Rejection):
            yield row
            continue
        rec = row.record
        if not isinstance(rec, CareTeamMemberRecord):
            raise TypeError(f"care_team rows must be CareTeamMemberRecord, not {type(rec).__name__}")
        member_key = f"{rec.team_id}/{rec.staff_id}/{rec.role}/{rec.start_date.isoformat()}"
        if member_key in seen:
            yield _duplicate(row, InputKind.CARE_TEAM, "team_id", seen[member_key])
            continue
        team = teams.setdefault(rec.team_id, [])
        if team and team[0][0].patient_mrn != rec.patient_mrn:
            yield Rejection(
                row.source.file, row.source.line, rec.team_id, "patient_mrn",
                f"patient_mrn: differs from the team's first row (line {team[0][1].line})",
                InputKind.CARE_TEAM.resource_type,
            )  # fmt: skip
            continue
        seen[member_key] = row.source.line
        team.append((rec, row.source))
    for team_id, members in teams.items():
        yield TeamRows(team_id, tuple(members))


def _duplicate(row: Accepted, kind: InputKind, column: str, first_line: int) -> Rejection:
    return Rejection(
        row.source.file, row.source.line, row.record.key, column, f"{column}: duplicate of line {first_line}",
        kind.resource_type,
    )  # fmt: skip
