"""CSV readers: encodings, line endings, RFC 4180 quoting, physical line numbers, and every rejection reason.

A rejection names the file, the physical line the record starts on (header = line 1), the record id and the
column — and never the cell's value.
"""

from __future__ import annotations

import csv
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from fhirpeer.domain import InputKind, InputWarning, Rejection, Skipped
from fhirpeer.errors import InputFileError
from fhirpeer.input.csv_files import check_header, read_records
from fhirpeer.input.folder import InputFolder
from fhirpeer.mappers import MappedResource
from fhirpeer.mapping_files import FileColumns, Mappings, default_mappings_dir, load_mappings
from fhirpeer.pipeline import MappingOptions, mapped_items
from fhirpeer.records import RECORD_MODELS, Accepted, ContactRecord, HandoffRecord, PatientRecord, SiteRecord

M = load_mappings()
KINDS = {k.value: k for k in InputKind}
FILES = {k.value: M.columns[k].file for k in InputKind}


def file_columns(m: Mappings, kind: InputKind) -> FileColumns:
    return m.columns[kind]


def folder_of(path: Path, m: Mappings = M) -> InputFolder:
    return InputFolder(path, m, m.vocabulary(ZoneInfo("UTC")))


HEADERS = {
    "patients": "patient_mrn,family_name,given_name,birth_date,gender",
    "staff": "staff_id,npi,family_name,given_name,discipline,site_id",
    "sites": "site_id,name,kind",
    "contacts": "contact_id,patient_mrn,peer_id,start,mode,status,duration_min,setting,site_id,purposes",
    "care_team": "team_id,patient_mrn,staff_id,role,start_date,end_date,site_id",
    "handoffs": (
        "handoff_id,patient_mrn,kind,requested_at,status,requester_id,to_staff_id,to_site_id,priority,via,note"
    ),
}
GOOD = {
    "patients": "MRN-1,Doe,Jane,1980-01-02,female",
    "staff": "P-1,1234567893,Peer,Pat,peer,S-1",
    "sites": "S-1,Main Clinic,primary_care",
    "contacts": "C-1,MRN-1,P-1,2026-01-05T10:00:00-05:00,in_person,completed,30,clinic,S-1,engagement",
    "care_team": "T-1,MRN-1,P-1,peer,2026-01-02,,S-1",
    "handoffs": "H-1,MRN-1,ed_to_peer,2026-01-05T10:00:00-05:00,active,D-1,P-1,,urgent,in_person,note",
}


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def write(folder: Path, name: str, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("utf-8")
    path = folder / name
    path.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    return path


def read(path: Path, kind: str, m: Mappings = M, tz: str = "UTC") -> list[Accepted | Rejection]:
    vocab = m.vocabulary(ZoneInfo(tz))
    return list(read_records(path, KINDS[kind], file_columns(m, KINDS[kind]), vocab))


def make(model: type[Any], **fields: Any) -> Any:
    return model.model_validate(fields, context={"vocab": M.vocabulary(ZoneInfo("UTC"))})


def warned(items: list[Any]) -> list[InputWarning]:
    return [i for i in items if isinstance(i, InputWarning)]


def accepted(items: list[Any]) -> list[Accepted]:
    return [i for i in items if isinstance(i, Accepted)]


def rejected(items: list[Any]) -> list[Rejection]:
    return [i for i in items if isinstance(i, Rejection)]


# --- encodings, line endings, quoting --------------------------------------------------------------------


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("crlf", [True, False])
def test_bom_and_line_endings(tmp_path: Path, bom: bool, crlf: bool) -> None:
    path = write(
        tmp_path,
        "sites.csv",
        "site_id,name,kind\nS-1,Main Clinic,primary_care\nS-2,ED,\n",
        bom=bom,
        crlf=crlf,
    )
    items = read(path, "sites")
    assert not rejected(items)
    recs = [a.record for a in accepted(items)]
    assert recs == [
        make(SiteRecord, site_id="S-1", name="Main Clinic", kind="primary_care"),
        make(SiteRecord, site_id="S-2", name="ED", kind=None),
    ]
    assert [a.source.line for a in accepted(items)] == [2, 3]
    assert all(a.source.file == "sites.csv" for a in accepted(items))


def test_bom_before_a_required_first_column_is_not_part_of_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, "patients.csv", "patient_mrn,gender\nMRN-1,male\n", bom=True)
    layout = check_header(path, KINDS["patients"], file_columns(M, KINDS["patients"]))
    assert layout is not None and layout.positions["patient_mrn"] == 0
    assert [a.record.key for a in accepted(read(path, "patients"))] == ["MRN-1"]


@pytest.mark.parametrize("crlf", [False, True])
def test_quoted_fields_and_physical_line_numbers(tmp_path: Path, crlf: bool) -> None:
    header = HEADERS["handoffs"]
    text = (
        f"{header}\n"
        'H-1,MRN-1,ed_to_peer,2026-01-05T10:00:00-05:00,active,,,,,,"Line one, with a comma\n'
        'He said ""call me tomorrow""\n'
        'last line"\n'  # H-1 spans lines 2-4
        "H-2,MRN-1,housing,2026-01-06T10:00:00-05:00,active,,,,,,\n"  # line 5
        "\n"  # line 6: blank
        "H-3,MRN-1,housing,2026-01-06T10:00:00-05:00,sent,,,,,,\n"  # line 7: rejected
        'H-4,MRN-1,legal,2026-01-07T10:00:00-05:00,proposed,,,,,,"a\n\nb"\n'  # lines 8-10
        "   ,  ,\n"  # line 11: whitespace only
        '"H-5","MRN-1","other","2026-01-08T10:00:00-05:00","completed",,,,,,"x,y"\n'  # line 12
        "H-6,MRN-1,other,2026-01-08T10:00:00-05:00,gone,,,,,,\n"  # line 13: rejected
    )
    path = write(tmp_path, "handoffs.csv", text, crlf=crlf)
    items = read(path, "handoffs")
    assert [(type(i).__name__, i.line if isinstance(i, Rejection) else i.source.line) for i in items] == [
        ("Accepted", 2),
        ("Accepted", 5),
        ("Rejection", 7),
        ("Accepted", 8),
        ("Accepted", 12),
        ("Rejection", 13),
    ]
    recs = {a.record.key: a.record for a in accepted(items)}
    assert isinstance(recs["H-1"], HandoffRecord)
    newline = "\r\n" if crlf else "\n"
    assert recs["H-1"].note == f'Line one, with a comma{newline}He said "call me tomorrow"{newline}last line'
    assert recs["H-4"].note == f"a{newline}{newline}b"
    assert recs["H-5"].note == "x,y"
    assert recs["H-2"].note is None
    assert [r.id for r in rejected(items)] == ["H-3", "H-6"]


def test_blank_cells_mean_absent_and_cells_are_trimmed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "peer_contacts.csv",
        f"{HEADERS['contacts']}\n C-1 , MRN-1 ,P-1, 2026-01-05T10:00:00Z , telephone ,completed,  ,  , , \n",
    )
    (item,) = read(path, "contacts")
    assert isinstance(item, Accepted)
    rec = item.record
    assert isinstance(rec, ContactRecord)
    assert (rec.contact_id, rec.mode, rec.duration_min, rec.setting, rec.site_id, rec.purposes) == (
        "C-1",
        "telephone",
        None,
        None,
        None,
        (),
    )


def test_unknown_columns_ignored_and_column_order_free(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "patients.csv",
        "gender,favourite_colour,birth_date,patient_mrn,internal_flag\nfemale,blue,1980-01-02,MRN-1,Y\nmale,,,MRN-2,\n",
    )
    items = read(path, "patients")
    assert [a.record for a in accepted(items)] == [
        make(PatientRecord, patient_mrn="MRN-1", gender="female", birth_date="1980-01-02"),
        make(PatientRecord, patient_mrn="MRN-2", gender="male"),
    ]


def test_short_rows_leave_the_missing_trailing_cells_absent(tmp_path: Path) -> None:
    path = write(tmp_path, "patients.csv", f"{HEADERS['patients']}\nMRN-1,Doe\n")
    (item,) = read(path, "patients")
    assert isinstance(item, Accepted)
    assert item.record == make(PatientRecord, patient_mrn="MRN-1", family_name="Doe")


def test_renamed_column_and_file_via_an_edited_columns_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(default_mappings_dir(), folder)
    cols = yaml.safe_load((folder / "columns.yaml").read_text(encoding="utf-8"))
    cols["patients"]["file"] = "clients.csv"
    cols["patients"]["columns"]["patient_mrn"] = "MRN"
    cols["patients"]["columns"]["birth_date"] = "DOB"
    (folder / "columns.yaml").write_text(yaml.safe_dump(cols), encoding="utf-8")
    m = load_mappings(folder)

    path = write(tmp_path, "clients.csv", "MRN,DOB,gender\nMRN-1,1980-01-02,female\nMRN-2,not-a-date,male\n|x,,\n")
    items = read(path, "patients", m)
    assert [a.record.key for a in accepted(items)] == ["MRN-1", "MRN-2"]
    (warning,) = [i for i in items if isinstance(i, InputWarning)]
    # the warning and the rejection name the site's column, not the field
    assert (warning.file, warning.line, warning.column) == ("clients.csv", 3, "DOB")
    (rej,) = rejected(items)
    assert (rej.file, rej.line, rej.id, rej.column) == ("clients.csv", 4, "|x", "MRN")
    assert rej.reason.startswith("MRN: ")

    # the shipped header no longer satisfies the edited mapping: the missing column is named the site's way
    old = write(tmp_path, "clients.csv", "patient_mrn,gender\nMRN-1,female\n")
    with pytest.raises(InputFileError, match=r"clients\.csv: missing required column\(s\): MRN"):
        check_header(old, KINDS["patients"], file_columns(m, KINDS["patients"]))
    # and the folder looks for the renamed file
    export = folder_of(tmp_path, m)
    assert export.present_kinds() == [InputKind.PATIENTS]


# --- whole-file errors (exit 2) --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HEADERS))
def test_missing_required_column_is_an_input_file_error(tmp_path: Path, kind: str) -> None:
    model = RECORD_MODELS[KINDS[kind]]
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    columns = HEADERS[kind].split(",")
    for dropped in required:
        header = ",".join(c for c in columns if c != dropped)
        path = write(tmp_path, FILES[kind], header + "\n")
        with pytest.raises(InputFileError) as caught:
            check_header(path, KINDS[kind], file_columns(M, KINDS[kind]))
        assert caught.value.exit_code == 2
        assert FILES[kind] in str(caught.value)
        assert dropped in str(caught.value)
        with pytest.raises(InputFileError, match=dropped):
            read(path, kind)


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = write(tmp_path, "peer_contacts.csv", "contact_id,patient_mrn,start\n")
    with pytest.raises(InputFileError) as caught:
        check_header(path, KINDS["contacts"], file_columns(M, KINDS["contacts"]))
    missing = str(caught.value).split(" — ")[0]
    assert missing == "peer_contacts.csv: missing required column(s): peer_id, mode, status"


def test_non_utf8_file_is_an_input_file_error_without_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_bytes(b"patient_mrn,family_name\nMRN-1,Doe\nMRN-2,N\xfa\xf1ez-Quixotic\n")
    with pytest.raises(InputFileError) as caught:
        read(path, "patients")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "patients.csv" in message
    assert "UTF-8" in message
    assert "Quixotic" not in message and "\\xfa" not in message


def test_latin1_header_is_an_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_bytes("site_id,name,k\xe9nd\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"sites\.csv"):
        folder_of(tmp_path).check()


def test_an_empty_file_has_no_layout_and_no_records(tmp_path: Path) -> None:
    path = write(tmp_path, "sites.csv", "")
    assert check_header(path, KINDS["sites"], file_columns(M, KINDS["sites"])) is None
    assert read(path, "sites") == []


def test_folder_without_any_input_file_is_an_input_file_error(tmp_path: Path) -> None:
    write(tmp_path, "notes.csv", "a,b\n1,2\n")
    with pytest.raises(InputFileError, match="none of the input files"):
        folder_of(tmp_path).check()
    with pytest.raises(InputFileError, match="not found"):
        folder_of(tmp_path / "missing").check()


# --- every rejection reason ------------------------------------------------------------------------------


def _row(kind: str, /, **cells: str) -> str:
    """The GOOD row of `kind` with some cells replaced."""
    header = HEADERS[kind].split(",")
    values = dict(zip(header, GOOD[kind].split(","), strict=True))
    values.update(cells)
    return ",".join(f'"{v}"' if ("," in v or '"' in v) and not v.startswith('"') else v for v in values.values())


# (kind, replaced cells, expected column, reason fragment, the id expected, the value that must not leak)
REJECTIONS = [
    # patients.csv
    (
        "patients",
        {"patient_mrn": "MRN|77"},
        "patient_mrn",
        "not allowed in an identifier",
        "MRN|77",
        "MRN|77",
    ),
    ("patients", {"patient_mrn": ""}, "patient_mrn", "required value is blank", None, None),
    # staff.csv
    ("staff", {"staff_id": "P\\9"}, "staff_id", "not allowed in an identifier", "P\\9", "P\\9"),
    # sites.csv
    ("sites", {"name": ""}, "name", "required value is blank", "S-1", None),
    ("sites", {"site_id": "S,9"}, "site_id", "not allowed in an identifier", "S,9", "S,9"),
    # peer_contacts.csv
    ("contacts", {"mode": "carrier_pigeon"}, "mode", "unknown value (allowed: in_person, telephone, text, video)",
     "C-1", "carrier_pigeon"),
    ("contacts", {"status": "finishedish"}, "status", "unknown value (allowed: cancelled, completed, entered_in_error, "
     "no_show, scheduled)", "C-1", "finishedish"),
    ("contacts", {"start": "next tuesday"}, "start", "not an ISO 8601 timestamp", "C-1", "next tuesday"),
    ("contacts", {"start": "2026-01-05"}, "start", "date and time", "C-1", "2026-01-05"),
    ("contacts", {"start": "2026-13-05T10:00"}, "start", "not an ISO 8601 timestamp", "C-1", "2026-13-05"),
    ("contacts", {"contact_id": "C|1"}, "contact_id", "not allowed in an identifier", "C|1", "C|1"),
    ("contacts", {"patient_mrn": "MRN,1"}, "patient_mrn", "not allowed in an identifier", "C-1", "MRN,1"),
    ("contacts", {"peer_id": ""}, "peer_id", "required value is blank", "C-1", None),
    ("contacts", {"status": ""}, "status", "required value is blank", "C-1", None),
    # care_team.csv
    ("care_team", {"role": "sidekick"}, "role", "unknown value (allowed: ", "T-1", "sidekick"),
    ("care_team", {"start_date": "2026-01-32"}, "start_date", "not an ISO 8601 date", "T-1", "2026-01-32"),
    ("care_team", {"end_date": "2025-12-31"}, "end_date", "before start_date", "T-1", "2025-12-31"),
    ("care_team", {"start_date": ""}, "start_date", "required value is blank", "T-1", None),
    ("care_team", {"staff_id": "P|1"}, "staff_id", "not allowed in an identifier", "T-1", "P|1"),
    # handoffs.csv
    ("handoffs", {"kind": "teleport"}, "kind", "unknown value (allowed: aftercare_peer, ", "H-1", "teleport"),
    ("handoffs", {"status": "sent"}, "status", "unknown value", "H-1", None),
    ("handoffs", {"requested_at": "2026-01-05"}, "requested_at", "date and time", "H-1", "2026-01-05"),
    (
        "handoffs",
        {"requested_at": "last week"},
        "requested_at",
        "not an ISO 8601 timestamp",
        "H-1",
        "last week",
    ),
    ("handoffs", {"handoff_id": "H$1"}, "handoff_id", "not allowed in an identifier", "H$1", "H$1"),
    ("handoffs", {"kind": ""}, "kind", "required value is blank", "H-1", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "cells", "column", "fragment", "record_id", "value"),
    REJECTIONS,
    ids=[f"{r[0]}-{r[2]}-{i}" for i, r in enumerate(REJECTIONS)],
)
def test_rejection_names_file_line_id_column_and_never_the_value(
    tmp_path: Path,
    kind: str,
    cells: dict[str, str],
    column: str,
    fragment: str,
    record_id: str | None,
    value: str | None,
) -> None:
    bad = _row(kind, **cells)
    # a good record on lines 2-3 (an unknown column holds a quoted newline), a blank line 4,
    # the bad record on line 5, a good one on line 6
    first = GOOD[kind] + ',"multi-line\nremark, with comma"'
    last = _row(kind, **{HEADERS[kind].split(",")[0]: "Z-9"})
    text = f"{HEADERS[kind]},remark\n{first}\n\n{bad}\n{last}\n"
    path = write(tmp_path, FILES[kind], text)
    items = read(path, kind)
    rejections = rejected(items)
    assert len(rejections) == 1, rejections
    (rej,) = rejections
    assert rej.file == FILES[kind]
    assert rej.line == 5
    assert rej.id == record_id
    assert rej.column == column
    assert rej.reason.startswith(f"{column}: ")
    assert fragment in rej.reason
    assert rej.stage == "input"
    assert rej.as_report() == {
        "file": FILES[kind],
        "line": rej.line,
        "id": record_id,
        "column": column,
        "reason": rej.reason,
        "resourceType": KINDS[kind].resource_type,
        "stage": "input",
    }
    # never the cell's value (nor any other cell of the row)
    if value:
        assert value not in rej.reason
    for cell in bad.split(","):
        cell = cell.strip('"')
        if len(cell) >= 4 and cell not in HEADERS[kind]:
            assert cell not in rej.reason, cell
    assert len(accepted(items)) == 2


# A bad or inapplicable optional cell: (kind, replaced cells, column, reason fragment, the value that must not leak)
DROPPED_CELLS = [
    ("patients", {"gender": "Zeblorf"}, "gender", "unknown value (allowed: female, male, other, unknown)", "Zeblorf"),
    ("patients", {"birth_date": "1980-02-30"}, "birth_date", "not an ISO 8601 date (YYYY-MM-DD)", "1980-02-30"),
    ("patients", {"birth_date": "02/03/1980"}, "birth_date", "set date_formats for another layout", "02/03/1980"),
    ("staff", {"discipline": "Wizardry"}, "discipline", "unknown value (allowed: case_manager, ", "Wizardry"),
    ("staff", {"npi": "98765"}, "npi", "not 10 digits", "98765"),
    ("staff", {"npi": "98765432101"}, "npi", "not 10 digits", "98765432101"),
    ("staff", {"npi": "98765432X1"}, "npi", "not 10 digits", "98765432X1"),
    ("staff", {"npi": "١٢٣٤٥٦٧٨٩٠"}, "npi", "not 10 digits", "١٢٣٤٥٦٧٨٩٠"),
    ("staff", {"npi": "1.23457E+09"}, "npi", "scientific notation: format the column as text", "1.23457E+09"),
    ("staff", {"npi": "1234567890"}, "npi", "fails the NPI check digit", "1234567890"),
    ("staff", {"site_id": "S$9"}, "site_id", "not allowed in an identifier", "S$9"),
    ("sites", {"kind": "Zoo"}, "kind", "unknown value (allowed: childcare, ", "Zoo"),
    ("contacts", {"setting": "rooftop"}, "setting", "unknown value (allowed: clinic, community, ",
     "rooftop"),
    ("contacts", {"duration_min": "15.5"}, "duration_min", "whole minutes", "15.5"),
    ("contacts", {"duration_min": "-5"}, "duration_min", "whole minutes", "-5"),
    ("contacts", {"duration_min": "fifteen"}, "duration_min", "whole minutes", "fifteen"),
    ("contacts", {"duration_min": "²"}, "duration_min", "whole minutes", "²"),
    ("contacts", {"duration_min": "1441"}, "duration_min", "between 0 and 1440", "1441"),
    ("contacts", {"mode": "telephone", "setting": "home"}, "setting",
     "only applies to in_person contacts, not telephone", None),
    ("contacts", {"mode": "text", "setting": "clinic"}, "setting", "only applies to in_person contacts, not text",
     None),
    ("care_team", {"end_date": "soon-ish"}, "end_date", "not an ISO 8601 date", "soon-ish"),
    ("care_team", {"site_id": "S|1"}, "site_id", "not allowed in an identifier", "S|1"),
    ("handoffs", {"priority": "whenever"}, "priority", "unknown value (allowed: asap, routine, stat, urgent)",
     "whenever"),
    ("handoffs", {"via": "carrier_pigeon"}, "via", "unknown value (allowed: in_person, telephone, video, warm_line)",
     "carrier_pigeon"),
    ("handoffs", {"to_site_id": "S|2"}, "to_site_id", "not allowed in an identifier", "S|2"),
    ("handoffs", {"requester_id": "D\\1"}, "requester_id", "not allowed in an identifier", "D\\1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "cells", "column", "fragment", "value"),
    DROPPED_CELLS,
    ids=[f"{r[0]}-{r[2]}-{i}" for i, r in enumerate(DROPPED_CELLS)],
)
def test_a_bad_optional_cell_is_dropped_with_a_warning_and_the_record_kept(
    tmp_path: Path, kind: str, cells: dict[str, str], column: str, fragment: str, value: str | None
) -> None:
    bad = _row(kind, **cells)
    path = write(tmp_path, FILES[kind], f"{HEADERS[kind]}\n{GOOD[kind]}\n{bad}\n")
    items = read(path, kind)
    assert rejected(items) == []
    (warning,) = warned(items)
    assert (warning.file, warning.line, warning.column) == (FILES[kind], 3, column)
    assert fragment in warning.reason and warning.reason.endswith("the cell is ignored")
    assert warning.as_report() == {"file": FILES[kind], "line": 3, "column": column, "reason": warning.reason}
    if value:
        assert value not in str(warning)
    kept = accepted(items)[1].record
    assert getattr(kept, column) in (None, ())  # the record syncs without that cell …
    expected = make(RECORD_MODELS[KINDS[kind]], **{**_fields(kind, bad), column: None})
    assert kept == expected  # … and with every other cell


def _fields(kind: str, row: str) -> dict[str, Any]:
    values = next(csv.reader([row]))
    return {k: v for k, v in zip(HEADERS[kind].split(","), values, strict=True) if v}


def test_unknown_purposes_are_left_out_and_known_ones_kept(tmp_path: Path) -> None:
    bad = _row("contacts", purposes="Engagement; knitting;harm reduction")
    path = write(tmp_path, FILES["contacts"], f"{HEADERS['contacts']}\n{bad}\n")
    warning, item = read(path, "contacts")
    assert isinstance(item, Accepted) and isinstance(warning, InputWarning)
    assert item.record.purposes == ("engagement", "harm_reduction")
    assert warning.column == "purposes" and "that entry is ignored" in warning.reason
    assert "knitting" not in str(warning)


def test_codes_match_whatever_their_case_and_spacing(tmp_path: Path) -> None:
    row = _row("contacts", mode="Telephone", status="COMPLETED", setting="", purposes="Recovery Planning")
    no_show = _row("contacts", contact_id="C-2", mode="In Person", status="no-show", setting=" Home ")
    path = write(tmp_path, FILES["contacts"], f"{HEADERS['contacts']}\n{row}\n{no_show}\n")
    first, second = (a.record for a in accepted(read(path, "contacts")))
    assert (first.mode, first.status, first.purposes) == ("telephone", "completed", ("recovery_planning",))
    assert (second.mode, second.status, second.setting) == ("in_person", "no_show", "home")


def test_several_problems_in_one_row_are_all_named(tmp_path: Path) -> None:
    bad = _row("contacts", mode="pigeon", status="meh", duration_min="lots")
    path = write(tmp_path, "peer_contacts.csv", f"{HEADERS['contacts']}\n{bad}\n")
    warning, rej = read(path, "contacts")
    assert isinstance(rej, Rejection)
    assert rej.column == "mode"
    assert rej.reason.startswith("mode: unknown value (allowed: ")
    assert "; status: unknown value (allowed: " in rej.reason
    # the bad optional cell is a warning of its own, not part of the rejection
    assert "duration_min" not in rej.reason
    assert (warning.line, warning.column, warning.reason) == (
        2,
        "duration_min",
        "must be whole minutes; the cell is ignored",
    )
    for value in ("pigeon", "meh", "lots"):
        assert value not in rej.reason and value not in str(warning)


def test_an_overlong_id_is_not_echoed(tmp_path: Path) -> None:
    long_id = "C-" + "9" * 80
    path = write(
        tmp_path,
        "peer_contacts.csv",
        f"{HEADERS['contacts']}\n{_row('contacts', contact_id=long_id, mode='x')}\n",
    )
    (rej,) = read(path, "contacts")
    assert isinstance(rej, Rejection)
    assert rej.id is None
    assert rej.column == "mode"


def test_boundaries_that_are_accepted(tmp_path: Path) -> None:
    rows = [
        _row("contacts", contact_id="C-1", duration_min="0"),
        _row("contacts", contact_id="C-2", duration_min="1440"),
        _row("contacts", contact_id="C-3", start="2026-01-05T10:00:00", setting=""),
        _row("contacts", contact_id="C-4", start="2026-01-05T10:00:00Z", purposes="engagement; harm_reduction;"),
        _row("contacts", contact_id="C-5", mode="text", setting=""),
    ]
    path = write(tmp_path, "peer_contacts.csv", HEADERS["contacts"] + "\n" + "\n".join(rows) + "\n")
    items = read(path, "contacts", tz="America/Chicago")
    assert not rejected(items)
    recs = {a.record.key: a.record for a in accepted(items)}
    assert recs["C-1"].duration_min == 0
    assert recs["C-2"].duration_min == 1440
    assert recs["C-3"].start.isoformat() == "2026-01-05T10:00:00-06:00"  # site time zone
    assert recs["C-4"].start.isoformat() == "2026-01-05T10:00:00+00:00"
    assert recs["C-4"].purposes == ("engagement", "harm_reduction")


# --- rejections that need the whole file (InputFolder) ---------------------------------------------------------


def _mapped(folder: Path, kind: str) -> list[Any]:
    return list(mapped_items(folder_of(folder), KINDS[kind], M, MappingOptions()))


@pytest.mark.parametrize("kind", ["patients", "staff", "sites", "contacts", "handoffs"])
def test_duplicate_key_within_a_file_is_rejected_first_wins(tmp_path: Path, kind: str) -> None:
    key_col = HEADERS[kind].split(",")[0]
    other = _row(kind, **{key_col: "K-2"})
    text = f"{HEADERS[kind]}\n{GOOD[kind]}\n{other}\n\n{GOOD[kind]}\n"
    write(tmp_path, FILES[kind], text)
    items = _mapped(tmp_path, kind)
    mapped = [i for i in items if isinstance(i, MappedResource) and i.resource_type is KINDS[kind].resource_type]
    (rej,) = [i for i in items if isinstance(i, Rejection)]
    assert sorted({r.sources[0].line for r in mapped}) == [2, 3]  # a record may make two resources
    key = GOOD[kind].split(",")[0]
    assert (rej.file, rej.line, rej.id, rej.column) == (FILES[kind], 5, key, key_col)
    assert rej.reason == f"{key_col}: duplicate of line 2"


def test_care_team_rows_of_one_team_with_different_patients(tmp_path: Path) -> None:
    text = (
        f"{HEADERS['care_team']}\n"
        "T-1,MRN-1,P-1,peer,2026-01-02,,\n"
        "T-1,MRN-1,D-1,pcp,2026-01-02,,\n"
        "T-2,MRN-2,P-1,peer,2026-01-02,,\n"
        "T-1,MRN-SECRET-42,D-2,lcsw,2026-01-03,,\n"
    )
    write(tmp_path, "care_team.csv", text)
    items = _mapped(tmp_path, "care_team")
    (rej,) = [i for i in items if isinstance(i, Rejection)]
    assert (rej.file, rej.line, rej.id, rej.column) == ("care_team.csv", 5, "T-1", "patient_mrn")
    assert rej.reason == "patient_mrn: differs from the team's first row (line 2)"
    assert "MRN-SECRET-42" not in rej.reason
    teams = {i.key: i for i in items if isinstance(i, MappedResource)}
    assert sorted(teams) == ["T-1", "T-2"]
    assert len(teams["T-1"].resource["participant"]) == 2


def test_care_team_duplicate_member_row(tmp_path: Path) -> None:
    rows = "T-1,MRN-1,P-1,peer,2026-01-02,,\nT-1,MRN-1,P-1,peer,2026-01-02,2026-02-01,\n"
    text = f"{HEADERS['care_team']}\n{rows}"
    write(tmp_path, "care_team.csv", text)
    items = _mapped(tmp_path, "care_team")
    (rej,) = [i for i in items if isinstance(i, Rejection)]
    assert (rej.file, rej.line, rej.id, rej.column) == ("care_team.csv", 3, "T-1/P-1", "team_id")
    assert "duplicate of line 2" in rej.reason


def test_text_contacts_are_skipped_not_rejected(tmp_path: Path) -> None:
    write(tmp_path, "peer_contacts.csv", f"{HEADERS['contacts']}\n{_row('contacts', mode='text', setting='')}\n")
    (item,) = _mapped(tmp_path, "contacts")
    assert isinstance(item, Skipped)
    assert (item.resource_type, item.key) == ("Encounter", "C-1")


def test_reader_yields_the_first_record_before_the_rest_of_the_file_exists(tmp_path: Path) -> None:
    """Streaming, proven: the file is a FIFO whose writer sends the rest only after the reader has yielded the
    first record. A reader that reads the whole file first never yields it (the test fails by timeout)."""
    path = tmp_path / FILES["sites"]
    os.mkfifo(path)
    first_seen = threading.Event()

    def writer() -> None:
        with path.open("w", encoding="utf-8") as handle:
            handle.write(f"{HEADERS['sites']}\n{_row('sites', site_id='S-0')}\n")
            handle.flush()
            first_seen.wait(timeout=20)
            handle.writelines(f"{_row('sites', site_id=f'S-{i}')}\n" for i in range(1, 2000))

    feeder = threading.Thread(target=writer, daemon=True)
    feeder.start()
    stream = read_records(path, KINDS["sites"], file_columns(M, KINDS["sites"]), M.vocabulary(ZoneInfo("UTC")))
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_future = pool.submit(next, stream)
        try:
            first = first_future.result(timeout=5)
        finally:
            first_seen.set()  # let the writer finish either way, so nothing hangs
        rest = pool.submit(list, stream).result(timeout=20)
    feeder.join(timeout=20)
    assert isinstance(first, Accepted) and first.source.line == 2
    assert [r.source.line for r in rest if isinstance(r, Accepted)] == list(range(3, 2002))
