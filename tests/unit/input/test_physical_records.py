"""Stray quotes: a quoted cell that does not close is one rejected record, never a cell holding other records.

Each case is a handoffs.csv as a coordinator's note produces it; the broken record is rejected at the line where
its quote opened, every record it would have swallowed is read as its own, and no text of one record reaches
another.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.domain import InputKind, InputWarning, Rejection
from fhirpeer.input.csv_files import FileTally, read_records
from fhirpeer.input.decoding import TextFormat
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import Accepted, HandoffRecord

M = load_mappings()
HEADER = "handoff_id,patient_mrn,kind,requested_at,status,requester_id,to_staff_id,to_site_id,priority,via,note"


def handoff(n: int, note: str = "", *, kind: str = "housing") -> str:
    return f"H-{n},MRN-{n},{kind},2026-01-0{n % 9 + 1}T10:00:00-05:00,active,P-1,,,,,{note}"


def read(
    tmp_path: Path, lines: list[str], *, newline: str = "\n", delimiter: str | None = None
) -> tuple[list[object], FileTally]:
    path = tmp_path / "handoffs.csv"
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    tally = FileTally()
    fmt = TextFormat(delimiter=delimiter)
    items = list(
        read_records(path, InputKind.HANDOFFS, M.columns[InputKind.HANDOFFS], M.vocabulary(ZoneInfo("UTC")), fmt, tally)
    )
    return items, tally


def notes(items: list[object]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        if isinstance(item, Accepted):
            assert isinstance(item.record, HandoffRecord)
            out[item.record.handoff_id] = item.record.note
    return out


def rejections(items: list[object]) -> list[Rejection]:
    return [i for i in items if isinstance(i, Rejection)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_stray_quote_in_the_last_column_swallows_no_record(tmp_path: Path, newline: str) -> None:
    lines = [
        HEADER,
        handoff(1, "Picked up at the ED"),
        handoff(2, '"Said ""he relapsed'),  # the quote never closes on its line
        handoff(3),
        handoff(4, '"Asked for ""a ride"" on Friday"'),  # a later quote that would close the runaway cell
        handoff(5),
    ]
    items, tally = read(tmp_path, lines, newline=newline)
    (broken,) = rejections(items)
    assert (broken.file, broken.line, broken.id, broken.column) == ("handoffs.csv", 3, "H-2", "note")
    assert broken.reason == (
        "note: unbalanced quote: the quoted cell that opens on this line runs into line 4, which is read as a "
        'record of its own (a quote inside a cell is written twice: "")'
    )
    assert "relapsed" not in broken.reason
    assert notes(items) == {
        "H-1": "Picked up at the ED",
        "H-3": None,
        "H-4": 'Asked for "a ride" on Friday',
        "H-5": None,
    }
    assert (tally.lines, tally.records) == (6, 5)


def test_a_stray_quote_in_the_first_column(tmp_path: Path) -> None:
    lines = [HEADER, handoff(1), '"' + handoff(2), handoff(3, '"a ""quoted"" note"'), handoff(4)]
    items, tally = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert (broken.line, broken.id, broken.column) == (3, None, "handoff_id")
    assert broken.reason.startswith(
        "handoff_id: unbalanced quote: the quoted cell that opens on this line runs into line 4"
    )
    assert notes(items) == {"H-1": None, "H-3": 'a "quoted" note', "H-4": None}
    assert (tally.lines, tally.records) == (5, 4)


def test_a_stray_quote_in_a_middle_column(tmp_path: Path) -> None:
    middle = 'H-2,MRN-2,"housing,2026-01-03T10:00:00-05:00,active,P-1,,,,,'
    lines = [HEADER, handoff(1), middle, handoff(3), handoff(4, '"call back, please"')]
    items, _ = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert (broken.line, broken.id, broken.column) == (3, "H-2", "kind")
    assert notes(items) == {"H-1": None, "H-3": None, "H-4": "call back, please"}


def test_a_quote_that_never_closes_before_the_end_of_the_file(tmp_path: Path) -> None:
    lines = [HEADER, handoff(1), handoff(2, '"Said ""he relapsed'), "and was seen again"]
    items, tally = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert (broken.line, broken.id, broken.column) == (3, "H-2", "note")
    assert "never closes" in broken.reason and "relapsed" not in broken.reason
    assert notes(items) == {"H-1": None}
    assert (tally.lines, tally.records) == (4, 2)


def test_the_swallowed_lines_before_the_first_record_like_one_stay_with_the_broken_record(tmp_path: Path) -> None:
    lines = [HEADER, handoff(1, '"first line of a note'), "second line of it", handoff(2), handoff(3, '"x"')]
    items, _ = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert (broken.line, broken.id) == (2, "H-1")
    assert "runs into line 4" in broken.reason
    assert notes(items) == {"H-2": None, "H-3": "x"}  # "second line of it" is in no record


def test_a_real_multi_line_note_is_one_cell(tmp_path: Path) -> None:
    lines = [
        HEADER,
        handoff(1, '"Seen in ED, naloxone given.'),
        'Patient said: ""I want to try it.""',
        '08:45."',
        handoff(2),
    ]
    items, tally = read(tmp_path, lines)
    assert rejections(items) == []
    assert notes(items) == {
        "H-1": 'Seen in ED, naloxone given.\nPatient said: "I want to try it."\n08:45.',
        "H-2": None,
    }
    assert [i.source.line for i in items if isinstance(i, Accepted)] == [2, 5]
    assert (tally.lines, tally.records) == (5, 2)


def test_two_stray_quotes_in_a_row(tmp_path: Path) -> None:
    lines = [HEADER, handoff(1, '"one'), handoff(2, '"two'), handoff(3), handoff(4)]
    items, _ = read(tmp_path, lines)
    assert [(r.line, r.id) for r in rejections(items)] == [(2, "H-1"), (3, "H-2")]
    assert notes(items) == {"H-3": None, "H-4": None}


def test_a_runaway_cell_beyond_the_csv_field_limit_is_still_one_rejection(tmp_path: Path) -> None:
    filler = ["x" * 100 for _ in range(1500)]  # 150 kB of note lines that look like no record
    lines = [HEADER, handoff(1, '"runaway'), *filler, handoff(2), handoff(3)]
    items, tally = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert broken.line == 2 and broken.id == "H-1"
    assert notes(items) == {"H-2": None, "H-3": None}
    assert tally.lines == len(lines)


def test_stray_quotes_in_a_semicolon_file(tmp_path: Path) -> None:
    lines = [line.replace(",", ";") for line in (HEADER, handoff(1, '"Said ""he relapsed'), handoff(2))]
    items, _ = read(tmp_path, lines)
    (broken,) = rejections(items)
    assert (broken.line, broken.id, broken.column) == (2, "H-1", "note")
    assert notes(items) == {"H-2": None}
    assert not any(isinstance(i, InputWarning) for i in items)


def test_a_stray_quote_that_closes_in_the_middle_of_a_cell_garbles_only_its_own_record(tmp_path: Path) -> None:
    lines = [
        HEADER,
        handoff(1, '"a note, with a comma"'),
        '"' + handoff(2, '"Call back, after clinic"'),  # first column: the note's quote closes it mid-cell
        handoff(3).replace(",housing,", ',"housing,', 1) + '"Call back, after clinic"',  # a middle column
        handoff(4, '"fine, too"'),
    ]
    items, tally = read(tmp_path, lines)
    assert [(r.line, r.id, r.column) for r in rejections(items)] == [(3, None, "handoff_id"), (4, "H-3", "kind")]
    for r in rejections(items):
        assert r.reason.endswith(
            "unbalanced quote: the quoted cell that opens on this line closes in the middle of the cell "
            '(a quote inside a cell is written twice: "")'
        )
        assert "Call back" not in r.reason
    assert notes(items) == {"H-1": "a note, with a comma", "H-4": "fine, too"}
    assert (tally.lines, tally.records) == (5, 4)


def test_a_quote_inside_an_unquoted_cell_is_just_a_character(tmp_path: Path) -> None:
    items, _ = read(tmp_path, [HEADER, handoff(1, 'He said "call me" twice'), handoff(2, '5" of snow')])
    assert rejections(items) == []
    assert notes(items) == {"H-1": 'He said "call me" twice', "H-2": '5" of snow'}
