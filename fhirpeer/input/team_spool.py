"""Care-team member rows grouped by team_id without holding the file: each row goes to a scratch database as it is
read, and the teams come back, in order of their first row, once the file is done.

The scratch database holds the rows' own values (pickled records), the same cells as care_team.csv beside it, in a
file SQLite unlinks at once and nothing else can open; team ids and patient MRNs are compared by keyed hash.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from types import TracebackType

from ..domain import Source
from ..records import CareTeamMemberRecord, TeamRows
from .scratch_db import KeyDigest, scratch_database


class TeamSpool:
    """Member rows collected per team: `add` each accepted row, then `teams()` once."""

    def __init__(self) -> None:
        self._db = scratch_database()
        self._db.executescript(
            "CREATE TABLE teams (digest INTEGER PRIMARY KEY, position INTEGER NOT NULL, patient INTEGER NOT NULL, "
            "first_line INTEGER NOT NULL);"
            "CREATE TABLE members (seq INTEGER PRIMARY KEY, position INTEGER NOT NULL, row BLOB NOT NULL);"
        )
        self._digest = KeyDigest()
        self._teams = 0

    def add(self, record: CareTeamMemberRecord, source: Source) -> int | None:
        """Add a member row to its team; when the team's first row names another patient, the row is left out and
        the line of that first row is returned."""
        team, patient = self._digest(record.team_id), self._digest(record.patient_mrn)
        found = self._db.execute("SELECT position, patient, first_line FROM teams WHERE digest=?", (team,)).fetchone()
        if found is None:
            position = self._teams
            self._teams += 1
            self._db.execute("INSERT INTO teams VALUES (?,?,?,?)", (team, position, patient, source.line))
        else:
            position, first_patient, first_line = found
            if first_patient != patient:
                return int(first_line)
        row = pickle.dumps((record, source), protocol=pickle.HIGHEST_PROTOCOL)
        self._db.execute("INSERT INTO members (position, row) VALUES (?,?)", (position, row))
        return None

    def teams(self) -> Iterator[TeamRows]:
        """Each team's rows in file order, teams in the order of their first row."""
        self._db.execute("CREATE INDEX members_team ON members (position, seq)")
        current: int | None = None
        members: list[tuple[CareTeamMemberRecord, Source]] = []
        for position, row in self._db.execute("SELECT position, row FROM members ORDER BY position, seq"):
            if position != current and members:
                yield TeamRows(members[0][0].team_id, tuple(members))
                members = []
            current = position
            members.append(pickle.loads(row))  # written by this process, above
        if members:
            yield TeamRows(members[0][0].team_id, tuple(members))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TeamSpool:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
