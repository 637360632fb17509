"""Care-team member rows grouped by team_id without holding a large file: the first `memory_rows` rows are grouped
in memory (a file of that size is read as fast as ever); beyond that every row goes to a scratch database as it is
read, and the teams come back, in order of their first row, once the file is done.

The scratch database holds the rows' own values (pickled records), the same cells as care_team.csv beside it, in a
file SQLite unlinks at once and nothing else can open; team ids and patient MRNs are compared by keyed hash.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterator

from ..domain import Source
from ..records import CareTeamMemberRecord, TeamRows
from .scratch_db import KeyDigest, ScratchBacked, scratch_database

#: Member rows grouped in memory (~1.4 KiB each) before the file's rows go to the scratch database.
MEMORY_ROWS = 8_192

Member = tuple[CareTeamMemberRecord, Source]


class TeamSpool(ScratchBacked):
    """Member rows collected per team: `add` each accepted row, then `teams()` once."""

    def __init__(self, memory_rows: int | None = None) -> None:
        self.memory_rows = MEMORY_ROWS if memory_rows is None else memory_rows
        self._groups: dict[str, list[Member]] = {}  # team_id → rows, until spilled
        self._rows = 0
        self._db: sqlite3.Connection | None = None
        self._digest = KeyDigest()
        self._teams = 0  # teams in the database (each team's position)

    def add(self, record: CareTeamMemberRecord, source: Source) -> int | None:
        """Add a member row to its team; when the team's first row names another patient, the row is left out and
        the line of that first row is returned."""
        if self._db is None and self._rows >= self.memory_rows:
            self._spill()
        if self._db is not None:
            return self._add_to(self._db, record, source)
        team = self._groups.setdefault(record.team_id, [])
        if team and team[0][0].patient_mrn != record.patient_mrn:
            return team[0][1].line
        team.append((record, source))
        self._rows += 1
        return None

    def _spill(self) -> None:
        db = self._db = scratch_database()
        db.executescript(
            "CREATE TABLE teams (digest INTEGER PRIMARY KEY, position INTEGER NOT NULL, patient INTEGER NOT NULL, "
            "first_line INTEGER NOT NULL);"
            "CREATE TABLE members (seq INTEGER PRIMARY KEY, position INTEGER NOT NULL, row BLOB NOT NULL);"
        )
        for members in self._groups.values():
            for record, source in members:
                self._add_to(db, record, source)
        self._groups.clear()

    def _add_to(self, db: sqlite3.Connection, record: CareTeamMemberRecord, source: Source) -> int | None:
        team, patient = self._digest(record.team_id), self._digest(record.patient_mrn)
        found = db.execute("SELECT position, patient, first_line FROM teams WHERE digest=?", (team,)).fetchone()
        if found is None:
            position = self._teams
            self._teams += 1
            db.execute("INSERT INTO teams VALUES (?,?,?,?)", (team, position, patient, source.line))
        else:
            position, first_patient, first_line = found
            if first_patient != patient:
                return int(first_line)
        row = pickle.dumps((record, source), protocol=pickle.HIGHEST_PROTOCOL)
        db.execute("INSERT INTO members (position, row) VALUES (?,?)", (position, row))
        return None

    def teams(self) -> Iterator[TeamRows]:
        """Each team's rows in file order, teams in the order of their first row."""
        if self._db is None:
            for team_id, members in self._groups.items():
                yield TeamRows(team_id, tuple(members))
            return
        self._db.execute("CREATE INDEX members_team ON members (position, seq)")
        current: int | None = None
        members: list[Member] = []
        for position, row in self._db.execute("SELECT position, row FROM members ORDER BY position, seq"):
            if position != current and members:
                yield TeamRows(members[0][0].team_id, tuple(members))
                members = []
            current = position
            members.append(pickle.loads(row))  # written by this process, above
        if members:
            yield TeamRows(members[0][0].team_id, tuple(members))

    @property
    def spilled(self) -> bool:
        return self._db is not None

    def _forget(self) -> None:
        self._groups.clear()
