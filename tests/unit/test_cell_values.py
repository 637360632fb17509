"""Reading one cell: codes whatever their case, the site's date layouts, daylight-saving gaps and overlaps, NPIs."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from fhirpeer.cell_values import (
    ISO_ONLY,
    CodeLookup,
    DateFormats,
    normal_name,
    npi_problem,
    parse_date,
    parse_timestamp,
)

NEW_YORK = ZoneInfo("America/New_York")
EXCEL_US = DateFormats.of(["%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y"])


@pytest.mark.parametrize(
    ("spelled", "normal"),
    [
        ("patient_mrn", "patient_mrn"),
        (" Patient MRN ", "patient_mrn"),
        ("PATIENT_MRN", "patient_mrn"),
        ("Patient-MRN", "patient_mrn"),
        ("patient  _ mrn", "patient_mrn"),
        ("\ufeffContact_ID", "contact_id"),
    ],
)
def test_names_are_compared_ignoring_case_spaces_and_underscores(spelled: str, normal: str) -> None:
    assert normal_name(spelled) == normal


def test_a_code_lookup_finds_any_spelling_and_lists_the_allowed_codes() -> None:
    modes = CodeLookup.of({"video", "telephone", "in_person", "text"})
    assert [modes.code(s) for s in ("telephone", "Telephone", "TELEPHONE", " In Person", "in-person")] == [
        "telephone",
        "telephone",
        "telephone",
        "in_person",
        "in_person",
    ]
    with pytest.raises(ValueError) as caught:
        modes.code("Carrier Pigeon")
    assert str(caught.value) == "unknown value (allowed: in_person, telephone, text, video)"
    assert "Pigeon" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-08", date(2026, 1, 8)),
        ("1/8/2026", date(2026, 1, 8)),  # Excel's short date after a coordinator saves the file
        ("11/23/2026", date(2026, 11, 23)),
        ("11/23/2026 0:00", date(2026, 11, 23)),  # a date column Excel reformatted as date and time
        ("11/23/2026 12:00 AM", date(2026, 11, 23)),
    ],
)
def test_dates_in_iso_or_the_site_formats(text: str, expected: date) -> None:
    assert parse_date(text, EXCEL_US) == expected


def test_a_date_in_no_accepted_layout_names_the_layouts_not_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        parse_date("23.11.2026", EXCEL_US)
    assert str(caught.value) == (
        "not an ISO 8601 date (YYYY-MM-DD) nor one of date_formats (%m/%d/%Y %I:%M %p, %m/%d/%Y %H:%M, %m/%d/%Y)"
    )
    with pytest.raises(ValueError) as caught:
        parse_date("1/8/2026", ISO_ONLY)
    assert str(caught.value) == "not an ISO 8601 date (YYYY-MM-DD); set date_formats for another layout"
    with pytest.raises(ValueError, match="nor one of date_formats"):
        parse_date("11/23/2026 2:30 PM", EXCEL_US)  # a time that is not midnight is no date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T14:30:00-05:00", "2026-11-23T14:30:00-05:00"),
        ("2026-11-23T14:30:00Z", "2026-11-23T14:30:00+00:00"),
        ("2026-11-23 14:30", "2026-11-23T14:30:00-05:00"),  # no offset: the site time zone
        ("11/23/2026 2:30 PM", "2026-11-23T14:30:00-05:00"),  # Excel, US
        ("11/23/2026 14:30", "2026-11-23T14:30:00-05:00"),
        ("7/4/2026 9:05 AM", "2026-07-04T09:05:00-04:00"),  # summer time
    ],
)
def test_timestamps_in_iso_or_the_site_formats(text: str, expected: str) -> None:
    assert parse_timestamp(text, NEW_YORK, EXCEL_US).isoformat() == expected


def test_a_timestamp_needs_a_time() -> None:
    for text in ("2026-11-23", "11/23/2026"):
        with pytest.raises(ValueError) as caught:
            parse_timestamp(text, NEW_YORK, EXCEL_US)
        assert str(caught.value) == "a date without a time (a date and time is required)"
    with pytest.raises(ValueError) as caught:
        parse_timestamp("next tuesday", NEW_YORK, ISO_ONLY)
    assert str(caught.value) == (
        "not an ISO 8601 timestamp (e.g. 2026-01-05T10:00:00-05:00); set date_formats for another layout"
    )


def test_a_local_time_the_clocks_skip_is_refused_not_shifted() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00 (America/New_York, IANA tz database)
    for text in ("2026-03-08 02:30", "3/8/2026 2:30 AM"):
        with pytest.raises(ValueError) as caught:
            parse_timestamp(text, NEW_YORK, EXCEL_US)
        assert "does not exist in the site time zone America/New_York" in str(caught.value)
        assert "2:30" not in str(caught.value) and "2026" not in str(caught.value)
    assert parse_timestamp("2026-03-08 03:30", NEW_YORK, ISO_ONLY).isoformat() == "2026-03-08T03:30:00-04:00"


def test_a_local_time_that_occurs_twice_is_refused_not_guessed() -> None:
    # 2026-11-01: New York clocks fall back from 02:00 to 01:00, so 01:30 happens twice
    with pytest.raises(ValueError) as caught:
        parse_timestamp("11/1/2026 1:30 AM", NEW_YORK, EXCEL_US)
    assert "occurs twice in the site time zone America/New_York" in str(caught.value)
    # with a UTC offset it is unambiguous
    assert parse_timestamp("2026-11-01T01:30:00-04:00", NEW_YORK, ISO_ONLY) == datetime.fromisoformat(
        "2026-11-01T05:30:00+00:00"
    )


def test_utc_has_no_gaps() -> None:
    assert parse_timestamp("2026-03-08 02:30", ZoneInfo("UTC"), ISO_ONLY).isoformat() == "2026-03-08T02:30:00+00:00"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1234567893", None),  # CMS's worked example: check digit 3
        ("1245319599", None),
        ("1234567890", "fails the NPI check digit"),
        ("1780634385", "fails the NPI check digit"),
        ("123456789", "not 10 digits"),
        ("12345678930", "not 10 digits"),
        ("123456789X", "not 10 digits"),
        ("١٢٣٤٥٦٧٨٩٣", "not 10 digits"),  # Arabic-Indic digits
        ("1.23457E+09", "not 10 digits (a number in scientific notation: format the column as text)"),
    ],
)
def test_npi_length_digits_and_check_digit(text: str, problem: str | None) -> None:
    assert npi_problem(text) == problem


def test_the_check_digit_catches_every_single_digit_typo() -> None:
    valid = "1245319599"
    for position in range(10):
        for digit in "0123456789":
            if digit != valid[position]:
                typo = valid[:position] + digit + valid[position + 1 :]
                assert npi_problem(typo) == "fails the NPI check digit", typo
