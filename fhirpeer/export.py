"""Read an export folder into mapped FHIR resources, kind by kind, streaming.

`Export.check()` reads only the headers of every present file, so a missing required column stops the
run (exit 2) before anything is written. `Export.mapped(kind)` then streams one kind at a time, yielding
MappedResource, Rejection or Skipped items; rosters come first so dependants can point at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import InputFileError
from .mappers import MappedResource, map_care_team, map_contact, map_handoff, map_patient, map_site, map_staff
from .mappers.encounter import is_sent
from .mappings import Mappings
from .readers import (
    INPUT_KINDS,
    Accepted,
    InputKind,
    Rejection,
    Source,
    check_header,
    file_columns,
    read_records,
    scan_rows,
)
from .records import (
    CareTeamMemberRecord,
    ContactRecord,
    HandoffRecord,
    PatientRecord,
    SiteRecord,
    StaffRecord,
    Vocabulary,
)

RESOURCE_OF_KIND = {
    "sites": "Organization",
    "staff": "Practitioner",
    "patients": "Patient",
    "contacts": "Encounter",
    "care_team": "CareTeam",
    "handoffs": "ServiceRequest",
}


def input_file_of_type(mappings: Mappings) -> dict[str, str]:
    """The input file each resource type comes from, as named in the site's `columns.yaml`."""
    return {RESOURCE_OF_KIND[k.name]: file_columns(mappings, k).file for k in INPUT_KINDS}


@dataclass(frozen=True)
class Skipped:
    """A valid record that is deliberately not sent (e.g. a text contact)."""

    resource_type: str
    key: str
    reason: str


Item = MappedResource | Rejection | Skipped


class Export:
    """One input folder, read with one set of mappings and settings."""

    def __init__(self, input_dir: Path, mappings: Mappings, settings: Settings):
        self.input_dir = Path(input_dir)
        self.mappings = mappings
        self.settings = settings
        self.vocab = Vocabulary.from_mappings(mappings, settings.tz)
        self._rows: dict[str, int] | None = None  # data rows per kind, once check() has scanned the files

    def path(self, kind: InputKind) -> Path:
        return self.input_dir / file_columns(self.mappings, kind).file

    def present_kinds(self) -> list[InputKind]:
        return [k for k in INPUT_KINDS if self.path(k).is_file()]

    def check(self) -> list[InputKind]:
        """Check the folder and every present file's header; raise InputFileError on the first problem."""
        if not self.input_dir.is_dir():
            raise InputFileError(f"input folder not found: {self.input_dir}")
        kinds = self.present_kinds()
        if not kinds:
            names = ", ".join(file_columns(self.mappings, k).file for k in INPUT_KINDS)
            raise InputFileError(f"{self.input_dir}: none of the input files is present ({names})")
        if self._rows is None:
            rows: dict[str, int] = {}
            for kind in kinds:
                check_header(self.path(kind), kind, file_columns(self.mappings, kind))
            for kind in kinds:
                rows[kind.name] = scan_rows(self.path(kind))
            self._rows = rows
        return kinds

    def count_rows(self, kind: InputKind) -> int:
        """Data rows in a file, as counted by `check()`."""
        self.check()
        assert self._rows is not None
        return self._rows[kind.name]

    def mapped(self, kind: InputKind) -> Iterator[Item]:
        """Stream one kind's items. Duplicate keys in the same file are rejected (the first one wins)."""
        rows = read_records(self.path(kind), kind, file_columns(self.mappings, kind), self.vocab)
        if kind.name == "care_team":
            yield from self._care_teams(rows)
            return
        seen: dict[str, int] = {}
        for row in rows:
            if isinstance(row, Rejection):
                yield row
                continue
            key = row.record.key
            if key in seen:
                yield _duplicate(row, kind, seen[key])
                continue
            seen[key] = row.source.line
            yield self._map_one(row)

    def _map_one(self, row: Accepted) -> Item:
        rec, src, m, part2 = row.record, row.source, self.mappings, self.settings.part2_labels
        if isinstance(rec, SiteRecord):
            return map_site(rec, src, m)
        if isinstance(rec, StaffRecord):
            return map_staff(rec, src, m)
        if isinstance(rec, PatientRecord):
            return map_patient(rec, src, m)
        if isinstance(rec, ContactRecord):
            if not is_sent(rec, m, self.settings.send_text_contacts):
                return Skipped("Encounter", rec.contact_id, f"mode {rec.mode} is not sent (configuration)")
            return map_contact(rec, src, m, part2=part2)
        if isinstance(rec, HandoffRecord):
            return map_handoff(rec, src, m, part2=part2)
        raise TypeError(f"no mapper for {type(rec).__name__}")

    def _care_teams(self, rows: Iterator[Accepted | Rejection]) -> Iterator[Item]:
        """Group member rows by team_id (care_team.csv is small: one row per assignment)."""
        teams: dict[str, list[tuple[CareTeamMemberRecord, Source]]] = {}
        seen: dict[str, int] = {}
        for row in rows:
            if isinstance(row, Rejection):
                yield row
                continue
            rec = row.record
            assert isinstance(rec, CareTeamMemberRecord)
            member_key = f"{rec.team_id}/{rec.staff_id}/{rec.role}/{rec.start_date.isoformat()}"
            if member_key in seen:
                yield _duplicate(row, INPUT_KINDS[4], seen[member_key])
                continue
            team = teams.setdefault(rec.team_id, [])
            if team and team[0][0].patient_mrn != rec.patient_mrn:
                yield Rejection(
                    row.source.file, row.source.line, rec.team_id, "patient_mrn",
                    f"patient_mrn: differs from the team's first row (line {team[0][1].line})",
                )  # fmt: skip
                continue
            seen[member_key] = row.source.line
            team.append((rec, row.source))
        for members in teams.values():
            yield map_care_team(members, self.mappings, part2=self.settings.part2_labels)


def _duplicate(row: Accepted, kind: InputKind, first_line: int) -> Rejection:
    column = kind.model.key_fields[0]
    return Rejection(
        row.source.file, row.source.line, row.record.key, column, f"{column}: duplicate of line {first_line}"
    )
