"""Files that do not decode: the physical line of the first bad byte, and how to fix it — never the bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirpeer.input.decoding import TextFormat, first_undecodable_line, open_text, undecodable

HEADER = "patient_mrn,family_name,given_name,birth_date,gender\r\n"


def excel_windows_csv(path: Path, rows: int, accented_at: int) -> Path:
    """What Excel's "CSV (Comma delimited)" writes on Windows: cp1252, CR LF, one accented name at row
    `accented_at` (the header is line 1)."""
    lines = [HEADER]
    for n in range(2, rows + 1):
        family = "Núñez" if n == accented_at else "Smith"
        lines.append(f"MRN-{n:05d},{family},Jose,1980-01-02,male\r\n")
    path.write_bytes("".join(lines).encode("cp1252"))
    return path


@pytest.mark.parametrize("line", [2, 4957, 5001])
def test_the_line_named_is_the_line_of_the_first_bad_byte(tmp_path: Path, line: int) -> None:
    path = excel_windows_csv(tmp_path / "patients.csv", 5001, accented_at=line)
    assert first_undecodable_line(path, "utf-8-sig") == line
    assert first_undecodable_line(path, "cp1252") is None


def test_the_error_names_line_and_fix_and_no_value(tmp_path: Path) -> None:
    path = excel_windows_csv(tmp_path / "patients.csv", 5001, accented_at=5001)
    error = undecodable(path, TextFormat())
    message = str(error)
    assert error.exit_code == 2
    assert message.startswith("patients.csv: line 5001 is not UTF-8 text. ")
    assert '"CSV UTF-8 (Comma delimited)"' in message and "`encoding`" in message and "cp1252" in message
    for value in ("Núñez", "N\\xfa", "xfa", "MRN-05001"):
        assert value not in message


def test_with_the_encoding_set_the_file_reads(tmp_path: Path) -> None:
    path = excel_windows_csv(tmp_path / "patients.csv", 3, accented_at=2)
    with open_text(path, TextFormat("cp1252")) as handle:
        assert "Núñez" in handle.read()


@pytest.mark.parametrize(
    ("separator", "expected"),
    [(b"\n", 4), (b"\r\n", 4), (b"\r", 4)],
)
def test_lines_end_at_lf_crlf_or_a_lone_cr(tmp_path: Path, separator: bytes, expected: int) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(separator.join([b"a,b", b"c,d", b"e,f", b"g,\xe9", b""]))
    assert first_undecodable_line(path, "utf-8") == expected


def test_a_crlf_or_a_character_split_across_read_chunks_is_counted_once(tmp_path: Path) -> None:
    # the reader decodes 64 KiB at a time: put a CR LF and a two-byte character across chunk boundaries
    first = b"x" * (65536 - 1) + b"\r\n"  # CR is the chunk's last byte
    second = b"y" * (65536 - 1 - len(first) % 65536) + "é".encode() + b"\n"
    path = tmp_path / "x.csv"
    path.write_bytes(first + second + b"\xff\n")
    assert first_undecodable_line(path, "utf-8") == 3


def test_a_truncated_multibyte_character_at_the_end_is_found(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\nc," + "é".encode()[:1])
    assert first_undecodable_line(path, "utf-8") == 2


def test_a_utf16_file_is_recognised_by_its_bom(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_bytes("patient_mrn\tgender\r\nMRN-1\tfemale\r\n".encode("utf-16"))
    message = str(undecodable(path, TextFormat()))
    assert message.startswith("patients.csv: line 1 is not UTF-8 text. It is UTF-16 text")
    assert "`encoding: utf-16`" in message


def test_a_file_not_in_the_configured_encoding_says_so(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(b"staff_id\nP-1\nP-\x81\n")  # 0x81 is undefined in cp1252
    message = str(undecodable(path, TextFormat("cp1252")))
    assert message.startswith("staff.csv: line 3 is not cp1252 text. Set `encoding`")
