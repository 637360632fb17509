"""Exports as spreadsheets and trackers save them: encodings, delimiters, BOM and CR LF, header spellings, Excel's
date layouts — written byte for byte by the tests, from the rows of a sample export."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.support.sync_run import rows

Row = dict[str, str]

#: Columns whose values are patient data: they may reach the server, never a message, log or report.
PATIENT_DATA_COLUMNS = ("family_name", "given_name", "birth_date", "start", "requested_at", "note")


def save_as(
    path: Path,
    data: list[Row],
    *,
    fields: list[str] | None = None,
    header: Iterable[str] | None = None,
    encoding: str = "utf-8",
    delimiter: str = ",",
    newline: str = "\n",
    bom: bool = False,
) -> Path:
    """Write `data` as a spreadsheet would: the header as given (default: the field names), cells quoted only
    where needed, characters the encoding lacks written as `?` (what Excel does when it saves as cp1252)."""
    names = fields or list(data[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(list(header) if header is not None else names)
    writer.writerows([row.get(name, "") for name in names] for row in data)
    body = buffer.getvalue().encode(encoding, errors="replace")
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + body)
    return path


def resave(export: Path, change: Callable[[str, list[Row]], list[Row]] | None = None, **how: Any) -> None:
    """Save every CSV of `export` again as `how` says (`save_as` options), after `change(file, rows)`."""
    for path in sorted(export.glob("*.csv")):
        data = rows(path)
        if change is not None:
            data = change(path.name, data)
        save_as(path, data, **how)


def excel_timestamp(iso: str, tz: ZoneInfo) -> str:
    """``2026-01-12T10:45:00-05:00`` as Excel (US) shows it after a coordinator saves: ``1/12/2026 10:45 AM``."""
    local = datetime.fromisoformat(iso).astimezone(tz)
    return f"{local.month}/{local.day}/{local.year} {local.hour % 12 or 12}:{local.minute:02d} {local:%p}"


def excel_date(iso: str) -> str:
    """``2026-01-08`` as Excel (US) shows it: ``1/8/2026``."""
    day = datetime.fromisoformat(iso)
    return f"{day.month}/{day.day}/{day.year}"


def patient_data(export: Path) -> set[str]:
    """Every patient-data cell of `export` long enough to be recognised in a message."""
    found: set[str] = set()
    for path in export.glob("*.csv"):
        for row in rows(path):
            found.update(row[c] for c in PATIENT_DATA_COLUMNS if len(row.get(c) or "") >= 4)
    return found


def assert_no_patient_data(values: set[str], *texts: str) -> None:
    for text in texts:
        leaked = sorted(v for v in values if v in text)
        assert not leaked, f"cell values in a message: {leaked[:5]}"
