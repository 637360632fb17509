"""Header rows as spreadsheets write them: spelling, delimiters, and what a missing column error says."""

from __future__ import annotations

import pytest

from fhirpeer.domain import InputKind
from fhirpeer.errors import InputFileError
from fhirpeer.input.headers import FileLayout, read_layout
from fhirpeer.mapping_files import load_mappings

M = load_mappings()


def layout(header: str, kind: InputKind = InputKind.CONTACTS, delimiter: str | None = None) -> FileLayout:
    return read_layout("peer_contacts.csv", header, kind, M.columns[kind], delimiter)


def error(header: str, kind: InputKind = InputKind.CONTACTS, delimiter: str | None = None) -> str:
    with pytest.raises(InputFileError) as caught:
        layout(header, kind, delimiter)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_headers_match_ignoring_case_spaces_and_underscores() -> None:
    found = layout(" Contact_ID ,Patient MRN,PEER_ID,Start,MODE,status ,notes\r\n")
    assert found.positions == {"contact_id": 0, "patient_mrn": 1, "peer_id": 2, "start": 3, "mode": 4, "status": 5}
    assert (found.delimiter, found.column_count, found.key_index) == (",", 7, 0)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_are_recognised_from_the_header(delimiter: str) -> None:
    header = delimiter.join(["contact_id", "patient_mrn", "peer_id", "start", "mode", "status", "setting"]) + "\n"
    found = layout(header)
    assert found.delimiter == delimiter
    assert found.positions["setting"] == 6


def test_a_comma_in_a_semicolon_header_does_not_confuse_recognition() -> None:
    found = layout('contact_id;patient_mrn;peer_id;start;mode;status;"remarks, internal"\n')
    assert found.delimiter == ";" and found.column_count == 7


def test_a_set_delimiter_that_does_not_fit_says_which_one_does() -> None:
    message = error("contact_id;patient_mrn;peer_id;start;mode;status\n", delimiter=",")
    assert message.startswith("peer_contacts.csv: missing required column(s): contact_id, patient_mrn, peer_id, ")
    assert "the header splits into the expected columns on semicolons" in message
    assert "the delimiter setting says comma" in message
    assert "`delimiter: ';'`" in message


def test_a_missing_column_error_lists_the_header_and_the_closest_expected_name() -> None:
    message = error("contact_id,patient_mrns,peer,start_time,mode,status,setting\n")
    assert message.startswith("peer_contacts.csv: missing required column(s): patient_mrn, peer_id, start — ")
    assert "the header has: 'contact_id', 'patient_mrns', 'peer', 'start_time', 'mode', 'status', 'setting'" in message
    assert "the closest expected name to 'patient_mrns' is patient_mrn" in message
    assert "the closest expected name to 'start_time' is start" in message
    assert "columns.yaml" in message


def test_a_data_row_where_the_header_should_be_is_never_echoed() -> None:
    message = error("MRN-100201,Núñez,José,1987-04-12,male\n", InputKind.PATIENTS)
    assert message.startswith("peer_contacts.csv: missing required column(s): patient_mrn — ")
    assert "no header row" in message
    for value in ("MRN-100201", "Núñez", "José", "1987-04-12"):
        assert value not in message


def test_utf16_read_as_utf8_is_recognised_by_its_nul_characters() -> None:
    header = "patient_mrn,gender\n".encode("utf-16-le").decode("utf-8")
    assert "probably UTF-16" in error(header, InputKind.PATIENTS)


def test_a_column_named_twice_is_refused() -> None:
    message = error("patient_mrn,Patient MRN,gender\n", InputKind.PATIENTS)
    assert message == ("peer_contacts.csv: columns 1 and 2 both name patient_mrn: keep one of them or rename the other")
