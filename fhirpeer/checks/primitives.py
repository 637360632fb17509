"""Value checks for the FHIR primitive types, with the verdicts fhir.resources 8 (fhir_core + pydantic 2, lax
mode) gives for JSON values (str, int, float, bool, list, dict; None is handled by the caller).

Each check answers "would `Model.model_validate` accept this JSON value in a field of this type?" — not "is this
valid R4?". Where the two differ (fhir.resources is laxer: numbers as dates, "yes" as a boolean, "" as a uri…),
the check follows fhir.resources; tests/unit/test_fast_check_equivalence.py lists those cases.

Where fhir_core evaluates a regular expression in Python, the same compiled pattern object is used here. Where
pydantic-core evaluates it (Rust `regex`: search semantics, Unicode `\\s` without U+001C–U+001F, `$` = end of
text), the pattern's meaning is written out below, guarded by `expect_pattern` so that a fhir_core upgrade that
changes a pattern fails loudly instead of checking the wrong thing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Callable

from fhir_core import types as fhir_types

Check = Callable[[object], bool]

# Unicode White_Space: what Rust's `char::is_whitespace`, `str::trim` and regex `\s` mean. Python's str.isspace
# and `re` `\s` also count U+001C..U+001F, so neither can be used for pydantic-core's verdicts.
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_WS = re.escape(RUST_WHITESPACE)

# Integer parsing: strings pydantic-core reads directly as a JSON integer; anything else goes through its
# clean-up (trim, sign, leading zeros, ".0" suffix, digit-group underscores) first.
_JSON_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

# Numbers as timestamps (pydantic-core / speedate): seconds up to this magnitude, milliseconds above it.
_SECONDS_WATERSHED = 20_000_000_000
_MS_MIN = int((dt.datetime(1, 1, 1, tzinfo=dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds()) * 1000
_MS_MAX = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()) * 1000 + 999
_DAY_S, _DAY_MS = 86_400, 86_400_000


def expect_pattern(actual: str, expected: str, where: str) -> None:
    """Fail at schema build time if fhir_core's pattern is not the one whose meaning is written out here."""
    if actual != expected:
        raise RuntimeError(f"fhir_core changed the {where} pattern; fhirpeer.checks.primitives must be revisited")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- strings ---------------------------------------------------------------------------------------------------


def any_string(value: object) -> bool:
    """uri, canonical, url, markdown, xhtml: any JSON string passes (their patterns all match the empty string)."""
    return isinstance(value, str)


_STRING_ALLOWED_WHITESPACE = " \r\n\t"
_STRING_NOTHING_ALLOWED = re.compile(
    "[" + re.escape("".join(c for c in RUST_WHITESPACE if c not in _STRING_ALLOWED_WHITESPACE)) + "]*"
)


def string(value: object) -> bool:
    """`[ \\r\\n\\t\\S]+` searched: at least one character that is a space, CR, LF, tab or not whitespace."""
    return isinstance(value, str) and _STRING_NOTHING_ALLOWED.fullmatch(value) is None


_CODE = re.compile(f"[^{_WS}]+(?:[{_WS}][^{_WS}]+)*")


def code(value: object) -> bool:
    """`^[^\\s]+(\\s[^\\s]+)*$`: no leading, trailing or doubled whitespace, not empty."""
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def anchored_ascii(pattern: str) -> Check:
    """A `^…$` pattern over ASCII classes only: Python's fullmatch means what pydantic-core's search means."""
    if not (pattern.startswith("^") and pattern.endswith("$")) or re.search(r"\\[sSdDwWbB]", pattern):
        raise RuntimeError(f"pattern {pattern!r} is not an anchored ASCII pattern")
    compiled = re.compile(pattern[1:-1])

    def check(value: object) -> bool:
        return isinstance(value, str) and compiled.fullmatch(value) is not None

    return check


def fhir_id(min_length: int, max_length: int | None, pattern: str | None) -> Check:
    """id: fhir_core's length limits (pydantic MinLen/MaxLen, in characters) and its anchored ASCII pattern."""
    matches = anchored_ascii(pattern) if pattern else any_string

    def check(value: object) -> bool:
        return (
            isinstance(value, str)
            and len(value) >= min_length
            and (max_length is None or len(value) <= max_length)
            and matches(value)
        )

    return check


def base64_binary(value: object) -> bool:
    """pydantic's Base64Bytes: the UTF-8 bytes of the string through `base64.b64decode` (non-validating)."""
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value.encode("utf-8"))
    except (binascii.Error, UnicodeEncodeError):
        return False
    return True


_UUID_HEX = "[0-9a-fA-F]"
_UUID = re.compile(
    f"(?:urn:uuid:)?({_UUID_HEX}{{8}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{12}})"
    f"|\\{{({_UUID_HEX}{{8}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{4}}-{_UUID_HEX}{{12}})\\}}"
    f"|({_UUID_HEX}{{32}})"
)


def uuid4(value: object) -> bool:
    """pydantic UUID4: the four spellings the Rust uuid parser reads, RFC 4122 variant, version 4."""
    if not isinstance(value, str):
        return False
    m = _UUID.fullmatch(value)
    if m is None:
        return False
    digits = (m.group(1) or m.group(2) or m.group(3)).replace("-", "")
    return digits[12] == "4" and digits[16] in "89abAB"


# --- numbers ---------------------------------------------------------------------------------------------------


def _strip_leading_zeros(s: str) -> str | None:
    if not s:
        return None
    if s[0] in "123456789-":
        return s
    if s[0] != "0":
        return None
    for i in range(1, len(s)):
        c = s[i]
        if c in "0_":
            continue
        if c in "123456789-":
            return s[i:]
        if c == ".":
            return s[i - 1 :]
        return None
    return s[-1]


def _cleaned_int(s: str) -> str | None:
    """pydantic-core's second chance for a string that is not a plain JSON integer."""
    t = s.strip(RUST_WHITESPACE)
    if t.startswith("+"):
        if t[1:2] == "-":
            return None
        t = t[1:]
    negative = t.startswith("-")
    if negative:
        if t[1:2] in ("-", "+"):
            return None
        t = t[1:]
    stripped = _strip_leading_zeros(t)
    if stripped is None:
        return None
    t = stripped
    dot = t.find(".")
    if dot >= 0:
        fraction = t[dot + 1 :]
        if fraction and fraction.strip("0") == "":
            t = t[:dot]
    sign = "-" if negative else ""
    if "_" in t and not t.startswith("_") and not t.endswith("_") and "__" not in t:
        return sign + t.replace("_", "")
    if len(s) == len(t):
        return None
    return sign + t


def _as_int(value: object) -> int | None:
    """The int pydantic's lax int validator makes of a JSON value, or None when it refuses it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value % 1.0 != 0.0 or not (_I64_MIN < value < _I64_MAX):
            return None
        return int(value)
    if isinstance(value, str):
        if _JSON_INT.fullmatch(value):
            return int(value)
        cleaned = _cleaned_int(value)
        if cleaned is not None and _JSON_INT.fullmatch(cleaned):
            return int(cleaned)
    return None


def integer_range(lowest: int, highest: int) -> Check:
    """integer, unsignedInt, positiveInt: fhir_core's bounds on pydantic's lax int."""

    def check(value: object) -> bool:
        number = _as_int(value)
        return number is not None and lowest <= number <= highest

    return check


_BOOL_STRINGS = frozenset({"0", "1", "f", "n", "no", "off", "false", "t", "y", "on", "yes", "true"})


def boolean(value: object) -> bool:
    """pydantic's lax bool: true/false, 0/1 (int or float) and its yes/no words (ASCII case-insensitive)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value == 0 or value == 1
    if isinstance(value, str):
        return (value.lower() if value.isascii() else value) in _BOOL_STRINGS
    return False


def decimal(value: object) -> bool:
    """fhir_core Decimal: its regex over `str(value)`, then pydantic's decimal (int, float or str)."""
    if not isinstance(value, int | float | str):
        return False
    try:
        text = str(value)
    except ValueError:  # an int longer than Python's str() digit limit
        return False
    return fhir_types.Decimal.pattern.fullmatch(text) is not None


# --- dates and times -------------------------------------------------------------------------------------------


def _timestamp_ms(value: int | float) -> float | None:
    """A number as pydantic-core reads a timestamp, in milliseconds (None: not finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value * 1000 if abs(value) <= _SECONDS_WATERSHED else value


def _number_as_datetime(value: object) -> bool:
    if not _is_number(value):
        return False
    ms = _timestamp_ms(value)  # type: ignore[arg-type]
    return ms is not None and _MS_MIN <= math.floor(ms) <= _MS_MAX


def _number_as_date(value: object) -> bool:
    """A timestamp is a date when, rounded to the microsecond (half away from zero), it falls on a midnight."""
    if not _is_number(value):
        return False
    if isinstance(value, int):
        ms = value * 1000 if abs(value) <= _SECONDS_WATERSHED else value
        return ms % _DAY_MS == 0 and _MS_MIN <= ms <= _MS_MAX
    if not math.isfinite(value):  # type: ignore[arg-type]
        return False
    scale = 1_000_000 if abs(value) <= _SECONDS_WATERSHED else 1_000  # type: ignore[operator]
    whole = math.trunc(value)  # type: ignore[arg-type]
    fraction = (value - whole) * scale  # type: ignore[operator]
    micros = whole * scale + math.floor(abs(fraction) + 0.5) * (1 if fraction >= 0 else -1)
    return micros % (_DAY_MS * 1000) == 0 and _MS_MIN <= micros // 1000 <= _MS_MAX


def _number_as_time(value: object) -> bool:
    if not _is_number(value):
        return False
    if isinstance(value, float):
        if not math.isfinite(value):
            return False
        whole = math.floor(value)
        micro = round(abs(value - math.trunc(value)) * 1_000_000)
        return whole >= 0 and whole + micro // 1_000_000 < _DAY_S
    return 0 <= value < _DAY_S  # type: ignore[operator]


def _calendar_date(text: str) -> bool:
    try:
        dt.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


_DATE_PARTS = fhir_types.FHIR_DATE_PARTS


def _partial_date(text: str) -> bool:
    parts = _DATE_PARTS.match(text)
    return parts is not None and not parts.group("day")


def date(value: object) -> bool:
    """fhir_core Date: its regex; a year or year-month as is; a full date must exist in the calendar."""
    if not isinstance(value, str):
        return _number_as_date(value)
    if fhir_types.Date.pattern.fullmatch(value) is None:
        return False
    return _partial_date(value) or _calendar_date(value)


def date_time(value: object) -> bool:
    """fhir_core DateTime: its regex (a time needs a zone), partial dates as is, a real calendar date otherwise.

    The regex already limits hours, minutes, seconds (60 = leap second, which fhir_core checks as 59) and zone
    offsets, so only the calendar date is left for pydantic to refuse."""
    if not isinstance(value, str):
        return _number_as_datetime(value)
    if fhir_types.DateTime.pattern.fullmatch(value) is None:
        return False
    return _partial_date(value) or _calendar_date(value)


def instant(value: object) -> bool:
    """fhir_core Instant: its regex (date, time to the second and a zone) and a real calendar date."""
    if not isinstance(value, str):
        return _number_as_datetime(value)
    return fhir_types.Instant.pattern.fullmatch(value) is not None and _calendar_date(value)


def time(value: object) -> bool:
    """fhir_core Time: its regex (hh:mm:ss, 60 allowed as a leap second); numbers as seconds after midnight."""
    if not isinstance(value, str):
        return _number_as_time(value)
    return fhir_types.Time.pattern.fullmatch(value) is not None


def fhir_comments(value: object) -> bool:
    """The `fhir_comments` every fhir.resources model accepts: a string or a list of strings."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


__all__ = [
    "RUST_WHITESPACE",
    "Check",
    "anchored_ascii",
    "any_string",
    "base64_binary",
    "boolean",
    "code",
    "date",
    "date_time",
    "decimal",
    "expect_pattern",
    "fhir_comments",
    "fhir_id",
    "instant",
    "integer_range",
    "string",
    "time",
    "uuid4",
]
