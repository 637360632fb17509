"""Opening an export file as text in the site's encoding, and explaining a file that does not decode.

UTF-8 (with or without a BOM) unless the site sets `encoding`. A file that does not decode is refused as a whole
(exit 2, nothing written): the error names the physical line of the first undecodable byte — found by decoding
the raw bytes again, because a text reader fails a buffer ahead of the line it returned last — and how to fix it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..errors import InputFileError

_CHUNK = 1 << 16
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class TextFormat:
    """How the site's files are saved: their encoding, and the delimiter (None: recognised from each header)."""

    encoding: str = "utf-8"
    delimiter: str | None = None

    @property
    def codec(self) -> str:
        """The codec to read with: plain UTF-8 is read as UTF-8 with an optional BOM."""
        name = codecs.lookup(self.encoding).name
        return "utf-8-sig" if name == "utf-8" else name


#: UTF-8 (a BOM allowed), delimiter recognised from each header.
DEFAULT_FORMAT = TextFormat()


def open_text(path: Path, fmt: TextFormat) -> TextIO:
    """`path` opened for the csv module (no newline translation), in the site's encoding."""
    try:
        return path.open("r", encoding=fmt.codec, newline="")
    except OSError as exc:
        raise InputFileError(f"{path.name}: cannot be read ({exc.strerror})") from None


def undecodable(path: Path, fmt: TextFormat) -> InputFileError:
    """The error for a file that does not decode: the physical line of its first bad byte, and the fix."""
    line = first_undecodable_line(path, fmt.codec)
    where = f"line {line}" if line is not None else "somewhere"
    return InputFileError(f"{path.name}: {where} is not {_label(fmt)} text. {_fix(path, fmt)}")


def first_undecodable_line(path: Path, codec: str) -> int | None:
    """The physical line (1 = the first) holding the first byte `codec` cannot decode; None when all decode.

    Lines end at LF, CR LF or a lone CR, as the csv reader counts them."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    line, after_cr = 1, False
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                decoder.setstate(state)
                return _line_in_chunk(decoder, chunk, line, after_cr)
            line, after_cr = _advance(text, line, after_cr)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return line
    return None


def _line_in_chunk(decoder: codecs.IncrementalDecoder, chunk: bytes, line: int, after_cr: bool) -> int:
    """Decode the failing chunk one byte at a time (only ever on the way to an error) to find the line."""
    for index in range(len(chunk)):
        try:
            text = decoder.decode(chunk[index : index + 1])
        except UnicodeDecodeError:
            return line
        line, after_cr = _advance(text, line, after_cr)
    return line


def _advance(text: str, line: int, after_cr: bool) -> tuple[int, bool]:
    """The line number after `text`, counting LF, CR LF and lone CR once each."""
    if not text:
        return line, after_cr
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    if after_cr and text[0] == "\n":
        breaks -= 1  # the LF of a CR LF split between two pieces
    return line + breaks, text[-1] == "\r"


def _label(fmt: TextFormat) -> str:
    return "UTF-8" if fmt.codec == "utf-8-sig" else fmt.encoding


def _fix(path: Path, fmt: TextFormat) -> str:
    """How to fix a file that does not decode, with a guess at what it is."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(_UTF16_BOMS):
        return 'It is UTF-16 text (Excel\'s "Unicode Text"): set `encoding: utf-16` in the config file.'
    if fmt.codec == "utf-8-sig":
        return (
            'Save it from Excel as "CSV UTF-8 (Comma delimited)", or set `encoding` in the config file to the '
            "encoding the site's exports use (Excel's \"CSV (Comma delimited)\" on Windows writes cp1252)."
        )
    return "Set `encoding` in the config file to the encoding of this file, or save it as UTF-8."
