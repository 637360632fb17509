"""Sample exports for server tests that share one server: NPIs unique to each export.

Practitioners are matched by NPI (a national identifier, not namespaced), so two tests syncing the same seeded
program into one server would otherwise find each other's Practitioners by NPI and link to them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fhirpeer.demo.sample import SampleSummary, generate_program, make_npi
from tests.support.sync_run import rows, write_rows


def generate_export(out: Path, **kwargs: Any) -> SampleSummary:
    """`generate_program`, then every NPI replaced by a valid one derived from the export's path."""
    summary = generate_program(out, **kwargs)
    staff = rows(out / "staff.csv")
    salt = hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()
    for i, row in enumerate(staff):
        if row.get("npi"):
            base9 = str(int(hashlib.sha256(f"{salt}/{i}".encode()).hexdigest(), 16))[-9:].rjust(9, "1")
            row["npi"] = make_npi("1" + base9[1:])
    if staff:
        write_rows(out / "staff.csv", staff)
    return summary
