"""The export folder: file names as people save them, files nobody asked for, files without records, and every
file's problems in one error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fhirpeer.domain import FileSummary, InputKind, InputWarning
from fhirpeer.errors import InputFileError
from fhirpeer.input.folder import InputFolder
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import Accepted, PatientRecord, TeamRows
from fhirpeer.settings import Settings

M = load_mappings()
SITES = "site_id,name,kind\nS-1,Main Clinic,primary_care\n"
PATIENTS = "patient_mrn,family_name\nMRN-1,Núñez\nMRN-2,Okafor\n"


def folder(path: Path, **settings: object) -> InputFolder:
    return InputFolder.for_settings(path, M, Settings(**settings))  # type: ignore[arg-type]


def read_all(f: InputFolder) -> list[object]:
    return [item for kind in f.check() for item in f.records(kind)]


def test_file_names_match_ignoring_case(tmp_path: Path) -> None:
    (tmp_path / "Patients.csv").write_text(PATIENTS, encoding="utf-8")
    (tmp_path / "SITES.CSV").write_text(SITES, encoding="utf-8")
    f = folder(tmp_path)
    assert f.check() == [InputKind.SITES, InputKind.PATIENTS]
    assert [a.record.key for a in read_all(f) if isinstance(a, Accepted)] == ["S-1", "MRN-1", "MRN-2"]
    assert [a.source.file for a in read_all(f) if isinstance(a, Accepted)][-1] == "Patients.csv"
    assert f.warnings == []


def test_every_other_csv_is_named_in_a_warning_with_the_closest_expected_name(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    (tmp_path / "handoffs (1).csv").write_text("handoff_id\nH-1\n", encoding="utf-8")
    (tmp_path / "peer contacts.CSV").write_text("contact_id\nC-1\n", encoding="utf-8")
    (tmp_path / "budget.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "readme.txt").write_text("not a csv", encoding="utf-8")
    f = folder(tmp_path)
    assert f.check() == [InputKind.PATIENTS]
    assert [(w.file, w.line, w.column, w.reason) for w in f.warnings] == [
        ("budget.csv", None, None, "not an input file, not read (the input files are care_team.csv, "
         "enrollments.csv, handoffs.csv, patients.csv, peer_contacts.csv, sites.csv, staff.csv)"),
        ("handoffs (1).csv", None, None, "not an input file, not read (the closest input file name is handoffs.csv)"),
        ("peer contacts.CSV", None, None,
         "not an input file, not read (the closest input file name is peer_contacts.csv)"),
    ]  # fmt: skip


def test_a_folder_with_only_misnamed_files_says_which_files_it_found(tmp_path: Path) -> None:
    (tmp_path / "handoffs (1).csv").write_text("handoff_id\nH-1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        folder(tmp_path).check()
    assert "none of the input files is present" in str(caught.value)
    assert "handoffs (1).csv not an input file, not read (the closest input file name is handoffs.csv)" in str(
        caught.value
    )


def test_two_files_whose_names_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS, encoding="utf-8")
    (tmp_path / "Patients.csv").write_text(PATIENTS, encoding="utf-8")
    with pytest.raises(InputFileError, match=r"names differ only in case: Patients\.csv, patients\.csv — keep one"):
        folder(tmp_path).check()


def test_a_header_only_file_and_an_empty_file_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text("site_id,name,kind\r\n", encoding="utf-8")
    (tmp_path / "patients.csv").write_bytes(b"")
    (tmp_path / "staff.csv").write_text("staff_id\nP-1\n", encoding="utf-8")
    f = folder(tmp_path)
    assert read_all(f)[0].record.key == "P-1"  # type: ignore[attr-defined]
    assert [str(w) for w in f.warnings] == [
        "sites.csv a header row and no records: nothing to sync",
        "patients.csv empty file (not even a header row): nothing to sync",
    ]
    assert f.summaries() == [
        FileSummary("sites.csv", 1, 0),
        FileSummary("staff.csv", 2, 1),
        FileSummary("patients.csv", 0, 0),
    ]


def test_the_problems_of_every_file_are_in_one_error(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("Patient MRNs,gender\nMRN-1,female\n", encoding="utf-8")
    (tmp_path / "sites.csv").write_bytes("site_id;name\nS-1;Clínica\n".encode("cp1252"))
    (tmp_path / "staff.csv").write_text("staff_id\nP-1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        folder(tmp_path).check()
    problems = str(caught.value).splitlines()
    assert len(problems) == 2
    assert problems[0].startswith("sites.csv: line 2 is not UTF-8 text.")
    assert problems[1].startswith("patients.csv: missing required column(s): patient_mrn — the header has: ")
    assert "Clínica" not in str(caught.value) and "MRN-1" not in str(caught.value)


def test_the_site_encoding_delimiter_and_date_formats_apply_to_every_file(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_bytes(
        "patient_mrn;family_name;birth_date\r\nMRN-1;Núñez;1/8/1980\r\n".encode("cp1252")
    )
    f = folder(tmp_path, encoding="cp1252", delimiter=";", date_formats=["%m/%d/%Y"])
    (item,) = read_all(f)
    assert isinstance(item, Accepted) and isinstance(item.record, PatientRecord)
    rec = item.record
    assert (rec.patient_mrn, rec.family_name, rec.birth_date) == ("MRN-1", "Núñez", date(1980, 1, 8))
    assert f.summaries() == [FileSummary("patients.csv", 2, 1, None, ";")]


def test_care_team_summary_counts_member_rows_and_teams(tmp_path: Path) -> None:
    (tmp_path / "care_team.csv").write_text(
        "team_id,patient_mrn,staff_id,role,start_date\n"
        "T-1,MRN-1,P-1,peer,2026-01-02\nT-1,MRN-1,D-1,pcp,2026-01-02\nT-2,MRN-2,P-1,peer,2026-01-02\n"
        "T-2,MRN-2,D-1,sidekick,2026-01-02\n",
        encoding="utf-8",
    )
    f = folder(tmp_path)
    items = read_all(f)
    assert sum(isinstance(i, TeamRows) for i in items) == 2
    assert f.summaries() == [FileSummary("care_team.csv", 5, 4, 2)]


def test_warnings_of_a_kind_are_not_repeated_when_it_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("patient_mrn,gender\nMRN-1,fem\n", encoding="utf-8")
    f = folder(tmp_path)
    read_all(f)
    read_all(f)
    assert [w.column for w in f.warnings] == ["gender"]
    assert all(isinstance(w, InputWarning) for w in f.warnings)


def test_a_blank_first_line_is_no_header_row(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("\npatient_mrn\nMRN-1\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"patients\.csv: line 1 is blank: the header row must be the first line"):
        folder(tmp_path).check()
