"""Care-team rows grouped by team through a scratch database: teams in order of their first row, rows in file
order, a row naming another patient than its team's first row left out, and memory that does not grow."""

from __future__ import annotations

import tracemalloc
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.domain import Source
from fhirpeer.input.team_spool import TeamSpool
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import CareTeamMemberRecord

M = load_mappings(namespace="https://ns.test")
VOCAB = M.vocabulary(ZoneInfo("UTC"))


def member(team: str, mrn: str, staff: str, role: str = "peer") -> CareTeamMemberRecord:
    fields = {"team_id": team, "patient_mrn": mrn, "staff_id": staff, "role": role, "start_date": "2026-01-02"}
    return CareTeamMemberRecord.model_validate(fields, context={"vocab": VOCAB})


@pytest.mark.parametrize("memory_rows", [0, 2, 100])  # spilled from the start, part-way, never
def test_teams_come_in_order_of_their_first_row_with_rows_in_file_order(memory_rows: int) -> None:
    rows = [member("T-2", "M2", "P-1"), member("T-1", "M1", "P-1"), member("T-2", "M2", "D-1", "pcp"),
            member("T-3", "M3", "P-2"), member("T-1", "M1", "D-2", "pcp")]  # fmt: skip
    with TeamSpool(memory_rows) as spool:
        for line, rec in enumerate(rows, start=2):
            assert spool.add(rec, Source("care_team.csv", line)) is None
        teams = list(spool.teams())
        assert spool.spilled is (memory_rows < len(rows))
    assert [t.team_id for t in teams] == ["T-2", "T-1", "T-3"]
    assert [[(r.staff_id, s.line) for r, s in t.members] for t in teams] == [
        [("P-1", 2), ("D-1", 4)], [("P-1", 3), ("D-2", 6)], [("P-2", 5)]
    ]  # fmt: skip
    assert teams[0].members[0][0] == rows[0] and teams[0].members[0][0].start_date == date(2026, 1, 2)


@pytest.mark.parametrize("memory_rows", [0, 1, 100])
def test_a_row_for_another_patient_is_left_out_and_names_the_teams_first_line(memory_rows: int) -> None:
    with TeamSpool(memory_rows) as spool:
        assert spool.add(member("T-1", "M1", "P-1"), Source("care_team.csv", 2)) is None
        assert spool.add(member("T-1", "MRN-SECRET-42", "D-1"), Source("care_team.csv", 3)) == 2
        assert spool.add(member("T-1", "M1", "D-2"), Source("care_team.csv", 4)) is None
        (team,) = spool.teams()
    assert [s.line for _, s in team.members] == [2, 4]


def test_memory_stays_flat_while_rows_are_added() -> None:
    rows = 3_000
    recs = [member(f"T-{n}", f"M{n}", "S-1") for n in range(rows // 5)]
    tracemalloc.start()
    try:
        with TeamSpool(memory_rows=100) as spool:
            before, _ = tracemalloc.get_traced_memory()
            for n in range(rows):
                spool.add(recs[n // 5], Source("care_team.csv", n + 2))
            grown = tracemalloc.get_traced_memory()[0] - before
            teams = sum(1 for _ in spool.teams())
    finally:
        tracemalloc.stop()
    assert teams == rows // 5
    assert grown < 200_000, grown  # grouped in memory, 3,000 rows take ~0.55 MB
