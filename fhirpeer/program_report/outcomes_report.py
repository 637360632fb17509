"""The report of a `fhirpeer outcomes` run: what a scheduler needs to know about the handoff outcomes it wrote.

`OutcomesReport.to_dict()` is the `--report-json` document of `fhirpeer outcomes`, described by the JSON Schema
shipped beside this module (`outcomes_report.schema.json`, `outcomes_report_schema()`). It holds counts, handoff
keys (hashed when `key_salt` is set), times and warnings — never resource content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..run_report import ReportError, hash_key, write_atomically
from .model import OUTCOMES

#: Version of the outcomes `--report-json` document; bumped when a key changes meaning or disappears.
SCHEMA_VERSION = "1"
SCHEMA_FILE = "outcomes_report.schema.json"


def outcomes_report_schema() -> dict[str, Any]:
    """The JSON Schema of `OutcomesReport.to_dict()` (shipped in the package)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


@dataclass
class OutcomesReport:
    """What one `fhirpeer outcomes` run read, decided and wrote."""

    run_id: str = ""
    server: str | None = None
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    exit_code: int = 0
    error: ReportError | None = None
    #: the server was asked (False: the last poll was too recent, the CSV came from the state store)
    polled: bool = False
    #: every handoff was read (a first run, or a server that gave no clock last time)
    full_read: bool = False
    #: the `_lastUpdated` lower bound this run asked with (UTC, ISO 8601), None on a full read
    since: str | None = None
    #: the server's clock when this run began reading: the next run asks for what changed after it
    mark: str | None = None
    out: str | None = None
    #: handoffs in the CSV, and how many of them have each outcome
    handoffs: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: how many handoffs this run decided again (their evidence changed, or it is within the safety overlap)
    redecided: int = 0
    #: new outcome → the handoffs that are new or whose outcome changed since the last run
    changes: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    retries: int = 0
    #: when set, handoff keys are written hashed with this salt (setting `hash_keys_in_reports`)
    key_salt: str | None = None

    @property
    def changed(self) -> int:
        return sum(len(keys) for keys in self.changes.values())

    def fail(self, category: str, message: str) -> None:
        self.error = ReportError(category, message)

    @classmethod
    def stopped(
        cls, exit_code: int, category: str, message: str, *, server: str | None = None, at: str = ""
    ) -> OutcomesReport:
        """The report of a run that stopped before it read anything: its exit code and error, no counts."""
        report = cls(server=server, started_at=at, finished_at=at, exit_code=exit_code)
        report.fail(category, message)
        return report

    def to_dict(self) -> dict[str, Any]:
        def shown(key: str) -> str:
            return key if self.key_salt is None else hash_key(key, self.key_salt)

        return {
            "schema_version": SCHEMA_VERSION,
            "command": "outcomes",
            "run_id": self.run_id,
            "server": self.server,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "error": self.error.as_report() if self.error else None,
            "keys_hashed": self.key_salt is not None,
            "polled": self.polled,
            "full_read": self.full_read,
            "since": self.since,
            "mark": self.mark,
            "out": self.out,
            "handoffs": self.handoffs,
            "counts": {o: self.counts.get(o, 0) for o in OUTCOMES},
            "redecided": self.redecided,
            "changed": self.changed,
            "changes": {o: sorted(shown(k) for k in self.changes.get(o, [])) for o in OUTCOMES},
            "warnings": self.warnings,
            "retries": self.retries,
        }

    def write_json(self, path: Path) -> None:
        """Write the report to `path`, atomically replacing what was there."""
        write_atomically(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")
