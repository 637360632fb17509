"""The program report (issue 16): engagement, contacts, caseloads and handoff linkage, computed from FHIR.

The report reads what the FHIR server holds — never the CSV exports — and publishes aggregates only::

    from zoneinfo import ZoneInfo
    from fhirpeer.transport.client import FhirClient
    from fhirpeer.program_report import Systems, build_report, fetch_program, extract_program, write_report

    tz = ZoneInfo("America/New_York")
    systems = Systems.for_namespace("https://fhir.example.org")
    with FhirClient("https://fhir.example.org/R4") as client:
        fetched = fetch_program(client, systems)
    data = extract_program(fetched.resources, systems, tz)
    report = build_report(data, as_of=date(2026, 1, 5), tz=tz, server=client.base_url,
                          namespace=systems.namespace, warnings=fetched.warnings)
    write_report(report, Path("report"))   # report.html, summary.json, one CSV per table

``report_from_server`` does the first four steps in one call. ``ReportOptions`` holds what a site may tune
(suppression threshold, caseload cap, aftercare window). ``report.metrics`` are unsuppressed figures for
programmatic use; everything ``write_report`` writes goes through the suppression rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from zoneinfo import ZoneInfo

from ..transport.client import FhirClient
from .extract import extract_program
from .fetch import FetchResult, fetch_handoff_evidence, fetch_program
from .metrics import ReportOptions
from .model import ProgramData
from .published import ProgramReport
from .report import build_report, headline, write_report
from .systems import Systems

__all__ = [
    "FetchResult",
    "ProgramData",
    "ProgramReport",
    "ReportOptions",
    "Systems",
    "build_report",
    "extract_program",
    "fetch_handoff_evidence",
    "fetch_program",
    "headline",
    "report_from_server",
    "write_report",
]


def report_from_server(
    client: FhirClient,
    systems: Systems,
    *,
    as_of: date,
    tz: ZoneInfo,
    options: ReportOptions | None = None,
    extra_warnings: Iterable[str] = (),
) -> ProgramReport:
    """Fetch the program's resources from ``client``'s server and build the report for ``as_of``."""
    fetched = fetch_program(client, systems)
    data = extract_program(fetched.resources, systems, tz)
    return build_report(
        data,
        as_of=as_of,
        tz=tz,
        options=options,
        server=client.base_url,
        namespace=systems.namespace,
        warnings=[*fetched.warnings, *extra_warnings],
    )
