"""--metrics-textfile: the Prometheus text format, parsed back with the library's own parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fhirpeer import RunReport, write_metrics_textfile
from fhirpeer.domain import Outcome, Rejection, ResourceType


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            found[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "command")))] = s.value
    return found


def test_a_run_becomes_gauges_of_the_last_run(tmp_path: Path) -> None:
    report = RunReport(command="sync", exit_code=1, seconds=12.5, finished_at="2026-11-24T02:31:00Z", retries=4)
    report.count(ResourceType.PATIENT, Outcome.CREATED, 3)
    report.count(ResourceType.ENCOUNTER, Outcome.UNCHANGED, 40)
    report.count(ResourceType.ENCOUNTER, Outcome.FAILED)
    report.reject(Rejection("peer_contacts.csv", 9, "C-9", "mode", "mode: unknown value", ResourceType.ENCOUNTER))
    path = tmp_path / "textfile" / "fhirpeer.prom"
    write_metrics_textfile(report, path)
    got = samples(path)
    assert got[("fhirpeer_sync_records", (("outcome", "created"), ("resource_type", "Patient")))] == 3
    assert got[("fhirpeer_sync_records", (("outcome", "unchanged"), ("resource_type", "Encounter")))] == 40
    assert got[("fhirpeer_sync_exit_code", ())] == 1
    assert got[("fhirpeer_sync_success", ())] == 1
    assert got[("fhirpeer_sync_rejected_records", ())] == 1
    assert got[("fhirpeer_sync_written_records", ())] == 3
    assert got[("fhirpeer_sync_retries", ())] == 4
    assert got[("fhirpeer_sync_duration_seconds", ())] == 12.5
    assert got[("fhirpeer_sync_last_run_timestamp_seconds", ())] == 1795487460.0
    assert "C-9" not in path.read_text()  # figures only, never keys
    assert [p.name for p in path.parent.iterdir()] == ["fhirpeer.prom"]


def test_a_failed_run_says_so(tmp_path: Path) -> None:
    report = RunReport(command="sync", exit_code=5)
    write_metrics_textfile(report, tmp_path / "m.prom")
    got = samples(tmp_path / "m.prom")
    assert got[("fhirpeer_sync_exit_code", ())] == 5 and got[("fhirpeer_sync_success", ())] == 0
