"""What the report writes: the files, summary.json against its schema, the CSVs, a page without PHI or URLs."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from fhirpeer.demo.penn_cohort import generate_penn_cohort
from fhirpeer.program_report import ReportOptions, build_report, headline, write_report
from fhirpeer.program_report.published import ProgramReport
from fhirpeer.program_report.report import display_server
from tests.support.cohort_model import cohort_model, rows

NY = ZoneInfo("America/New_York")
AS_OF = date(2026, 1, 5)
SCHEMA = Path(__file__).parents[3] / "fhirpeer" / "program_report" / "summary.schema.json"
SERVER = "https://reporter:s3cret@fhir.example.org:8443/R4?token=abc#frag"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("penn")
    generate_penn_cohort(out, AS_OF)
    return out


def report_for(export: Path, **options: int) -> ProgramReport:
    return build_report(
        cohort_model(export),
        as_of=AS_OF,
        tz=NY,
        options=ReportOptions(**options),
        server=SERVER,
        namespace="https://fhir.example.org",
        warnings=["EpisodeOfCare: searched by patient"],
        generated_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )


def test_the_report_writes_a_page_a_summary_and_one_csv_per_table(export: Path, tmp_path: Path) -> None:
    report = report_for(export)
    written = write_report(report, tmp_path / "report")
    names = sorted(p.name for p in written)
    assert names == sorted(["report.html", "summary.json"] + [f"{t.name}.csv" for t in report.tables])
    assert {"engagement_by_month.csv", "contact_modes.csv", "caseload.csv", "ed_linkage.csv", "aftercare.csv",
            "linkage_by_kind.csv", "not_linked_reasons.csv"} <= set(names)  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == names  # no temporary files left
    with (tmp_path / "report" / "engagement_by_month.csv").open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["month", "stage", "eligible", "engaged", "share"]
    assert table[1] == ["1", "Initial engagement", "50", "41", "0.82"]
    assert table[6] == ["6", "Stabilization", "19", "suppressed", "suppressed"]  # 8 engaged < 11


def test_summary_json_has_the_issues_keys_and_validates_against_its_schema(export: Path, tmp_path: Path) -> None:
    write_report(report_for(export), tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(summary)
    assert list(summary)[:8] == [
        "schema", "as_of", "engagement_by_month", "modes", "duration_min", "caseload", "ed_linkage", "aftercare"
    ]  # fmt: skip
    assert summary["schema"] == 1 and summary["as_of"] == "2026-01-05"
    assert summary["engagement_by_month"][0] == {"month": 1, "eligible": 50, "engaged": 41, "share": 0.82}
    assert [(m["engaged"], m["eligible"]) for m in summary["engagement_by_month"]] == [
        (41, 50), (34, 45), (30, 42), (17, 30), (14, 26), (None, 19)
    ]  # fmt: skip
    assert summary["modes"]["telephone"] == {"contacts": 217, "share": 0.7233}
    assert summary["modes"]["video"] == {"contacts": None, "share": None}
    assert summary["duration_min"] == {"median": 25, "q1": 11, "q3": 45, "contacts": 300}
    assert summary["caseload"]["cap"] == 20 and all(10 <= p["patients"] <= 20 for p in summary["caseload"]["peers"])
    assert summary["ed_linkage"] == {
        "handoffs": 24, "linked": 22, "linked_1d": 12, "linked_7d": 17, "linked_30d": 20, "median_hours": 20.2
    }  # fmt: skip
    assert summary["aftercare"]["finished"] == 16 and summary["aftercare"]["with_aftercare_handoff"] == 12
    assert summary["server"] == "https://fhir.example.org:8443/R4"
    assert summary["suppress_below"] == 11 and summary["time_zone"] == "America/New_York"


def test_the_schema_rejects_a_summary_missing_an_issue_key(export: Path) -> None:
    summary = report_for(export).summary()
    del summary["ed_linkage"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(summary, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_suppression_off_publishes_the_small_cells(export: Path) -> None:
    summary = report_for(export, suppress_below=0).summary()
    assert summary["engagement_by_month"][5] == {"month": 6, "eligible": 19, "engaged": 8, "share": 0.4211}
    assert summary["modes"]["video"] == {"contacts": 7, "share": 0.0233}


def test_no_phi_and_no_credentials_in_any_output(export: Path, tmp_path: Path) -> None:
    write_report(report_for(export, suppress_below=0), tmp_path)
    text = "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    patients = list(rows(export / "patients.csv"))
    for row in patients:
        assert row["patient_mrn"] not in text
        assert row["birth_date"] not in text
    assert not any(f"{r['given_name']} {r['family_name']}" in text for r in patients)
    assert "Aftercare plan" not in text  # handoff notes
    assert "s3cret" not in text and "reporter" not in text and "token=abc" not in text


def test_the_page_is_self_contained(export: Path) -> None:
    from fhirpeer.program_report.render_html import render_page

    page = render_page(report_for(export))
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=", page, re.IGNORECASE)
    assert "@import" not in page and "url(http" not in page
    # the only URLs are the server and the namespace, printed as text
    assert set(re.findall(r"https?://[^\s<\"']+", page)) == {
        "https://fhir.example.org:8443/R4",
        "https://fhir.example.org",
    }
    assert page.count("<svg") == 6 and page.count("<table") == len(report_for(export).tables)
    assert 'class="suppressed"' in page and "Only primary suppression" in page
    assert "2026-01-05" in page and "America/New_York" in page


def test_headline_and_display_server(export: Path) -> None:
    assert headline(report_for(export)) == [
        "Program report as of 2026-01-05 (America/New_York)",
        "  engaged by program month — 1: 82% (41/50), 2: 76% (34/45), 3: 71% (30/42), 4: 57% (17/30), "
        "5: 54% (14/26), 6: suppressed (suppressed/19)",
        "  contact modes — telephone 72%, in person 25%, video suppressed",
        "  contact minutes — median 25 (quartiles 11, 45)",
        "  ED handoffs linked to a peer — 12 within 1 day, 17 within 7, of 24",
    ]
    assert headline(report_for(export, suppress_below=0))[1].endswith("6: 42% (8/19)")
    assert display_server("http://u:p@127.0.0.1:8080/fhir/?a=1") == "http://127.0.0.1:8080/fhir/"
    assert display_server(None) is None
