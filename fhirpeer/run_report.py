"""The run report: counts per resource type, rejected records, and what the run did.

`RunReport.to_dict()` is the contract's `--report-json` document (with extra keys). It never holds resource
content or cell values: rejections and warnings name files, lines, keys, columns and reasons.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .domain import FileSummary, InputWarning, Outcome, Rejection, ResourceType, Skipped, Stage

#: The outcomes every `counts` entry carries (others appear when they occurred).
REPORTED_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.CREATED,
    Outcome.UPDATED,
    Outcome.UNCHANGED,
    Outcome.FAILED,
    Outcome.SKIPPED,
)


@dataclass
class Conflict:
    resource_type: str
    key: str
    reason: str

    def as_report(self) -> dict[str, str]:
        return {"resourceType": self.resource_type, "id": self.key, "reason": self.reason}


@dataclass(frozen=True)
class Absent:
    """A record an earlier run synced that a declared full export no longer holds (and what was done with it)."""

    file: str
    resource_type: str
    key: str
    action: str  # reported | retracted | would retract | conflict | gone

    def as_report(self) -> dict[str, str]:
        return {"file": self.file, "resourceType": self.resource_type, "id": self.key, "action": self.action}


@dataclass
class RunReport:
    """What one run (validate, dry run or sync) found and did."""

    command: str
    run_id: str = ""
    server: str | None = None
    strategy: str | None = None
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[InputWarning] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    absent: list[Absent] = field(default_factory=list)  # with --full-export: synced before, not in this export
    retries: int = 0
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    exit_code: int = 0

    def count(self, resource_type: str, outcome: str, n: int = 1) -> None:
        self.counts.setdefault(str(resource_type), Counter())[str(outcome)] += n

    def reject(self, rejection: Rejection) -> None:
        self.rejected.append(rejection)

    def reject_record(self, rejection: Rejection) -> None:
        """List a rejection and count it as a failed resource — except a care-team member row refused on input:
        its team still syncs without it, and CareTeam counts count teams."""
        self.rejected.append(rejection)
        if not (rejection.resource_type is ResourceType.CARE_TEAM and rejection.stage is Stage.INPUT):
            self.count(rejection.resource_type, Outcome.FAILED)

    def skip(self, skipped: Skipped) -> None:
        self.count(skipped.resource_type, Outcome.SKIPPED)
        self.skipped_by_reason[skipped.group] += 1

    def warn(self, reason: str, file: str | None = None, line: int | None = None, column: str | None = None) -> None:
        self.warnings.append(InputWarning(file, line, column, reason))

    @property
    def written(self) -> int:
        return sum(c["created"] + c["updated"] for c in self.counts.values())

    @property
    def failed(self) -> int:
        return sum(c["failed"] for c in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "run_id": self.run_id,
            "server": self.server,
            "strategy": self.strategy,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "counts": {t: _outcome_counts(self.counts[t]) for t in self.ordered_types()},
            "rejected": [r.as_report() for r in self.rejected],
            "rejected_by_reason": dict(Counter(r.group for r in self.rejected).most_common()),
            "skipped_by_reason": dict(self.skipped_by_reason.most_common()),
            "conflicts": [c.as_report() for c in self.conflicts],
            "warnings": [w.as_report() for w in self.warnings],
            "files": [f.as_report() for f in self.files],
            "absent": [a.as_report() for a in self.absent],
            "retries": self.retries,
        }

    def write_json(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def ordered_types(self) -> list[str]:
        """Types with counts, in write order (unknown ones last)."""
        known = [str(t) for t in ResourceType if str(t) in self.counts]
        return known + sorted(set(self.counts) - set(known))


def _outcome_counts(counter: Counter[str]) -> dict[str, int]:
    """The contract's four outcomes and `skipped` always, then any other outcome that occurred (valid …)."""
    counts = {str(o): counter[o] for o in REPORTED_OUTCOMES}
    counts.update({o: n for o, n in counter.items() if o not in counts and n})
    return counts
