"""InputFolder's whole-file checks with their memory bounds reached: duplicate keys and care-team grouping behave
the same when what they remember is in the scratch database, across blocks of rows."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.domain import InputKind, Rejection
from fhirpeer.input import seen_keys, team_spool
from fhirpeer.input.folder import InputFolder
from fhirpeer.input.scratch_db import BLOCK_ROWS
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import Accepted, TeamRows

M = load_mappings(namespace="https://ns.test")
ROWS = 3 * BLOCK_ROWS


@pytest.fixture(params=["memory", "scratch database"])
def bounds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "scratch database":
        monkeypatch.setattr(seen_keys, "MEMORY_KEYS", 10)
        monkeypatch.setattr(team_spool, "MEMORY_ROWS", 10)
    return str(request.param)


def folder(tmp_path: Path, name: str, text: str) -> InputFolder:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return InputFolder(tmp_path, M, M.vocabulary(ZoneInfo("UTC")))


def test_duplicates_far_apart_and_in_one_block_name_the_first_line(tmp_path: Path, bounds: str) -> None:
    rows = [f"S-{n},Site {n},primary_care" for n in range(ROWS)]
    rows += ["S-0,Again,primary_care", f"S-{ROWS - 1},Again,primary_care", "S-new,New,primary_care",
             "S-new,Twice,primary_care"]  # fmt: skip
    items = list(folder(tmp_path, "sites.csv", "site_id,name,kind\n" + "\n".join(rows) + "\n").records(InputKind.SITES))
    rejected = [(r.line, r.id, r.reason) for r in items if isinstance(r, Rejection)]
    assert rejected == [
        (ROWS + 2, "S-0", "site_id: duplicate of line 2"),
        (ROWS + 3, f"S-{ROWS - 1}", f"site_id: duplicate of line {ROWS + 1}"),
        (ROWS + 5, "S-new", f"site_id: duplicate of line {ROWS + 4}"),
    ]
    assert sum(isinstance(r, Accepted) for r in items) == ROWS + 1
    assert [r.source.line for r in items if isinstance(r, Accepted)][-1] == ROWS + 4  # file order kept


def test_care_teams_grouped_across_the_file_with_duplicates_and_patient_clashes(tmp_path: Path, bounds: str) -> None:
    teams = ROWS // 2
    rows = [f"T-{n % teams},MRN-{n % teams},P-{n // teams},peer,2026-01-02,," for n in range(ROWS)]  # interleaved
    rows += ["T-0,MRN-0,P-0,peer,2026-01-02,,", "T-1,MRN-SECRET-42,D-9,pcp,2026-01-02,,"]
    header = "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id\n"
    items = list(folder(tmp_path, "care_team.csv", header + "\n".join(rows) + "\n").records(InputKind.CARE_TEAM))
    rejected = [(r.line, r.id, r.column, r.reason) for r in items if isinstance(r, Rejection)]
    assert rejected == [
        (ROWS + 2, "T-0/P-0", "team_id", "team_id: duplicate of line 2"),
        (ROWS + 3, "T-1", "patient_mrn", "patient_mrn: differs from the team's first row (line 3)"),
    ]
    grouped = [t for t in items if isinstance(t, TeamRows)]
    assert [t.team_id for t in grouped] == [f"T-{n}" for n in range(teams)]
    assert [[(m.staff_id, s.line) for m, s in t.members] for t in grouped[:2]] == [
        [("P-0", 2), ("P-1", teams + 2)], [("P-0", 3), ("P-1", teams + 3)]
    ]  # fmt: skip
