"""A run's figures in the Prometheus text format, for node-exporter's textfile collector.

A nightly job overwrites one `*.prom` file per run, so every metric describes the last run: gauges, not counters
(a counter that restarts at every run is a gauge in disguise). `prometheus_client.write_to_textfile` writes a
temporary file and renames it, so the collector never reads half a file.
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path

from .run_report import RunReport


def _timestamp(iso: str) -> float:
    """Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SSZ` report time (now when the run has none)."""
    try:
        return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return time.time()


def write_metrics_textfile(report: RunReport, path: str | Path) -> None:
    """Write the run's metrics to `path` (e.g. `/var/lib/node_exporter/textfile/fhirpeer.prom`)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    labels = {"command": report.command}  # sync, sync --dry-run or validate
    names = list(labels)

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, names, registry=registry).labels(**labels).set(value)

    records = Gauge(
        "fhirpeer_sync_records", "Records of the last run, by resource type and outcome.",
        [*names, "resource_type", "outcome"], registry=registry,
    )  # fmt: skip
    for rtype in report.ordered_types():
        for outcome, n in report.counts[rtype].items():
            records.labels(**labels, resource_type=rtype, outcome=outcome).set(n)
    gauge("fhirpeer_sync_exit_code", "Exit code of the last run (0 ok, 1 some rejected; see the README).",
          report.exit_code)  # fmt: skip
    gauge("fhirpeer_sync_success", "1 when the last run finished with exit code 0 or 1, else 0.",
          1 if report.exit_code in (0, 1) else 0)  # fmt: skip
    gauge("fhirpeer_sync_rejected_records", "Records the last run rejected.", len(report.rejected))
    gauge("fhirpeer_sync_conflicts", "Records the last run left alone because they changed on the server.",
          len(report.conflicts))  # fmt: skip
    gauge("fhirpeer_sync_written_records", "Records the last run created or updated on the server.", report.written)
    gauge("fhirpeer_sync_retries", "HTTP retries the last run made.", report.retries)
    gauge("fhirpeer_sync_duration_seconds", "Wall time of the last run.", report.seconds)
    gauge("fhirpeer_sync_last_run_timestamp_seconds", "When the last run ended (Unix time).",
          _timestamp(report.finished_at))  # fmt: skip
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(target), registry)
