"""report.html rendered by headless Chromium (Debian's ``chromium``): the plots and tables are there.

Skipped when Chromium is absent, unless ``$CI`` is set: on CI its absence fails the test. The screenshot is
kept in the test's temporary directory; its path is printed (``pytest -s`` shows it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fhirpeer.demo.penn_cohort import generate_penn_cohort
from fhirpeer.program_report import build_report, write_report
from tests.support.cohort_model import cohort_model
from tests.support.requirements import require

NY = ZoneInfo("America/New_York")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require(None if found else "chromium is not installed (apt-get install chromium)", "rendering the report")
    assert found is not None
    return found


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_page_renders_with_its_plots_and_tables(tmp_path: Path) -> None:
    binary = chromium()
    as_of = date(2026, 1, 5)
    generate_penn_cohort(tmp_path / "export", as_of)
    report = build_report(
        cohort_model(tmp_path / "export"),
        as_of=as_of,
        tz=NY,
        server="http://127.0.0.1:8080/fhir",
        namespace="https://fhir.example.org",
        generated_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )
    page = write_report(report, tmp_path / "report")[0]
    url = page.resolve().as_uri()

    dom = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<svg") == 6
    assert len(re.findall(r"<rect\b", html)) > 20  # bars, bands, boxes were laid out, not just declared
    assert html.count("<table") == len(report.tables)
    for table in report.tables:
        assert f'data-table="{table.name}"' in html
    assert "Initial" in html and "Stabilization" in html  # the stage bands
    assert 'class="suppressed"' in html
    assert "41 / 50" in html and "2026-01-05" in html

    shot = tmp_path / "report.png"
    taken = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,2400", url)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG_SIGNATURE and shot.stat().st_size > 50_000
    print(f"report screenshot: {shot}")
