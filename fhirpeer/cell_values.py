"""Reading one spreadsheet cell: codes whatever their case, dates and timestamps in the site's formats, NPIs.

Pure functions with no fhirpeer imports, shared by the record models (cell values) and the CSV readers (header
names). A problem is a `ValueError` whose message names what was expected — never the value itself, which may be
patient data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

_SEPARATORS = re.compile(r"[\s_-]+")
# strptime directives that read a time of day; a pattern without any reads a date only
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%X", "%c")
_ISO_DATE = "date (YYYY-MM-DD)"
_ISO_TIMESTAMP = "timestamp (e.g. 2026-01-05T10:00:00-05:00)"


def normal_name(text: str) -> str:
    """The spelling-insensitive form of a column name or code: ``" Patient MRN "``, ``PATIENT_MRN`` and
    ``patient-mrn`` are all ``patient_mrn``."""
    return _SEPARATORS.sub("_", text.strip().lstrip("\ufeff").casefold()).strip("_")


@dataclass(frozen=True)
class CodeLookup:
    """The allowed values of one coded column, matched whatever their case or spacing (`normal_name`)."""

    by_spelling: dict[str, str]
    allowed: str  # the allowed codes for a rejection reason ("female, male, other, unknown")

    @classmethod
    def of(cls, codes: Iterable[str]) -> CodeLookup:
        ordered = sorted(codes)
        spellings = {normal_name(code): code for code in ordered}
        spellings.update({code: code for code in ordered})
        return cls(spellings, ", ".join(ordered))

    def code(self, text: str) -> str:
        """The code `text` spells; ValueError listing the allowed codes when it spells none."""
        found = self.by_spelling.get(text)
        if found is None:
            found = self.by_spelling.get(normal_name(text))
            if found is None:
                raise ValueError(f"unknown value (allowed: {self.allowed})")
        return found


@dataclass(frozen=True)
class DateFormats:
    """The site's `date_formats` (strptime patterns, tried in order after ISO 8601), split once into the
    patterns that read a date only and those that also read a time of day."""

    patterns: tuple[str, ...] = ()
    date_only: tuple[str, ...] = ()
    with_time: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> DateFormats:
        given = tuple(patterns)
        return cls(given, tuple(p for p in given if not has_time(p)), tuple(p for p in given if has_time(p)))

    def not_matched(self, what: str) -> str:
        """The reason for a value in no accepted layout: ``not an ISO 8601 date (YYYY-MM-DD) nor one of
        date_formats (%m/%d/%Y)`` — the expected layouts, never the value."""
        if not self.patterns:
            return f"not an ISO 8601 {what}; set date_formats for another layout"
        return f"not an ISO 8601 {what} nor one of date_formats ({', '.join(self.patterns)})"


#: ISO 8601 only.
ISO_ONLY = DateFormats()


def has_time(pattern: str) -> bool:
    """True when a strptime pattern reads a time of day."""
    return any(d in pattern for d in _TIME_DIRECTIVES)


def _strptime(text: str, patterns: Iterable[str]) -> datetime | None:
    for pattern in patterns:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def parse_date(text: str, formats: DateFormats) -> date:
    """A calendar date: ISO 8601, or one of the site's formats (a pattern with a time is accepted at midnight,
    as a spreadsheet writes a date column it has reformatted)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    parsed = _strptime(text, formats.date_only)
    if parsed is None:
        parsed = _strptime(text, formats.with_time)
        if parsed is not None and parsed.time() != time(0, 0):
            parsed = None
    if parsed is None:
        raise ValueError(formats.not_matched(_ISO_DATE))
    return parsed.date()


def parse_timestamp(text: str, tz: ZoneInfo, formats: DateFormats) -> datetime:
    """A point in time: ISO 8601 with a time, or one of the site's formats with a time. A time without a UTC
    offset is in the site time zone; one that the zone skips or repeats (daylight-saving change) is refused
    rather than guessed."""
    parsed: datetime | None = None
    if "T" in text or " " in text:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        parsed = _strptime(text, formats.with_time)
    if parsed is None:
        if _reads_as_date(text, formats):
            raise ValueError("a date without a time (a date and time is required)")
        raise ValueError(formats.not_matched(_ISO_TIMESTAMP))
    return parsed if parsed.tzinfo else in_zone(parsed, tz)


def _reads_as_date(text: str, formats: DateFormats) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return _strptime(text, formats.date_only) is not None


def in_zone(naive: datetime, tz: ZoneInfo) -> datetime:
    """`naive` as a time in `tz`; ValueError when `tz` skips that wall-clock time or has it twice."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise ValueError(
            f"a local time that does not exist in the site time zone {tz.key} (the clocks skip it at a "
            "daylight-saving change): give a UTC offset"
        )
    raise ValueError(
        f"a local time that occurs twice in the site time zone {tz.key} (daylight-saving change): give a UTC offset"
    )


def npi_problem(text: str) -> str | None:
    """Why `text` is no NPI (None when it is one): 10 digits whose last is the Luhn check digit computed over
    ``80840`` followed by the first nine (CMS, "Requirements for the NPI check digit", 45 CFR 162.406)."""
    if not (len(text) == 10 and text.isascii() and text.isdigit()):
        if "e+" in text.casefold():  # what Excel makes of a long number in a General-format column
            return "not 10 digits (a number in scientific notation: format the column as text)"
        return "not 10 digits"
    if _luhn_total("80840" + text) % 10 != 0:
        return "fails the NPI check digit"
    return None


def _luhn_total(digits: str) -> int:
    """The Luhn sum of a digit string whose last digit is the check digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total
