"""The program report end to end against a real server (issue 16): `fhirpeer sample --cohort penn`, `fhirpeer
sync`, then `fhirpeer report` reads the program back from the server and reproduces the Penn program's published
figures exactly — engagement 41/50 … 8/19, modes within one point of 73/26/3, duration median 25 (quartiles 11
and 45) — with EpisodeOfCare written from enrollments.csv and Encounters pointing at them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import requests

from fhirpeer.cli import main
from tests.support.sync_run import rows, sync

AS_OF = date(2026, 1, 5)
TZ = ["--timezone", "America/New_York"]


@pytest.fixture
def penn(tmp_path: Path) -> Path:
    export = tmp_path / "export"
    assert main(["sample", "--cohort", "penn", "--out", str(export), "--as-of", AS_OF.isoformat()]) == 0
    return export


def report(base_url: str, namespace: str, out: Path, *extra: str) -> dict:
    code = main(["report", "--server", base_url, "--namespace", namespace, "--as-of", AS_OF.isoformat(),
                 "--out", str(out), *TZ, *extra])  # fmt: skip
    assert code == 0
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def search_all(base_url: str, resource_type: str, params: dict[str, str]) -> list[dict]:
    found: list[dict] = []
    url: str | None = f"{base_url}/{resource_type}"
    query: dict[str, str] | None = {**params, "_count": "200"}
    while url:
        bundle = requests.get(url, params=query, timeout=60).json()
        found += [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"]
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
        query = None
    return found


def test_the_penn_cohort_synced_and_read_back_reproduces_the_published_figures(
    fhir_base_url: str, test_namespace: str, penn: Path, tmp_path: Path
) -> None:
    code, run = sync(fhir_base_url, test_namespace, penn, tmp_path, *TZ)
    assert code == 0, run.get("error")
    assert run["counts"]["EpisodeOfCare"]["created"] == len(rows(penn / "enrollments.csv"))

    summary = report(fhir_base_url, test_namespace, tmp_path / "report", "--suppress-below", "0")
    engagement = [(m["engaged"], m["eligible"]) for m in summary["engagement_by_month"]]
    assert engagement == [(41, 50), (34, 45), (30, 42), (17, 30), (14, 26), (8, 19)]
    shares = {mode: round(100 * v["share"]) for mode, v in summary["modes"].items()}
    for mode, published in {"telephone": 73, "in_person": 26, "video": 3}.items():
        assert abs(shares[mode] - published) <= 1, (mode, shares)
    assert (summary["duration_min"]["median"], summary["duration_min"]["q1"], summary["duration_min"]["q3"]) == (
        25, 11, 45
    )  # fmt: skip
    assert summary["as_of"] == AS_OF.isoformat() and summary["suppress_below"] == 0
    assert all(10 <= p["patients"] <= 20 for p in summary["caseload"]["peers"]), summary["caseload"]
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000

    # what the EHR now holds: one EpisodeOfCare per enrollment, and completed contacts inside them point at them
    system = f"{test_namespace}/sid/enrollment"
    episodes = search_all(fhir_base_url, "EpisodeOfCare", {"identifier": f"{system}|"})
    assert {e["identifier"][0]["value"] for e in episodes} == {
        r["enrollment_id"] for r in rows(penn / "enrollments.csv")
    }
    episode_ids = {e["id"] for e in episodes}
    encounters = search_all(fhir_base_url, "Encounter", {"identifier": f"{test_namespace}/sid/peer-contact|"})
    linked = [e for e in encounters if e.get("episodeOfCare")]
    assert linked and all(r["reference"].split("/")[-1] in episode_ids for e in linked for r in e["episodeOfCare"])
    assert all("42CFRPart2" in {c["code"] for c in e["meta"]["security"]} for e in episodes)


def test_small_counts_are_suppressed_by_default_and_a_rerun_sends_nothing(
    fhir_base_url: str, test_namespace: str, penn: Path, tmp_path: Path
) -> None:
    assert sync(fhir_base_url, test_namespace, penn, tmp_path, *TZ)[0] == 0
    code, rerun = sync(fhir_base_url, test_namespace, penn, tmp_path, *TZ)
    assert code == 0 and sum(c["created"] + c["updated"] for c in rerun["counts"].values()) == 0
    summary = report(fhir_base_url, test_namespace, tmp_path / "report")
    month6 = summary["engagement_by_month"][5]
    assert month6["engaged"] is None and month6["share"] is None  # 8 < 11
    assert summary["engagement_by_month"][0]["engaged"] == 41
    text = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "report").iterdir())
    for row in rows(penn / "patients.csv"):
        assert row["patient_mrn"] not in text
