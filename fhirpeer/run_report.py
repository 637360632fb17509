"""The run report: counts per resource type, rejected records, what the run changed, and how it ended.

`RunReport.to_dict()` is the contract's `--report-json` document (with extra keys), described by the JSON
Schema shipped beside this module (`run_report.schema.json`, `schema_version` below); `summary()` is the
table printed at the end of a run. Neither ever holds resource content or cell values: business keys (row ids,
MRNs) appear in `rejected[].id`, `conflicts[].id`, `absent[].id` and `changes`, and are replaced by salted hashes
when `key_salt` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from .domain import FileSummary, InputWarning, Outcome, Rejection, ResourceType, Skipped, Stage


class RejectionLimit(Protocol):
    """What `check_rejection_limit` needs of `settings.RejectionLimit` (settings stands beside this module)."""

    def exceeded(self, rejected: int, total: int) -> bool: ...


#: Version of the `--report-json` document; bumped when a key changes meaning or disappears.
SCHEMA_VERSION = "3"
SCHEMA_FILE = "run_report.schema.json"

#: The outcomes every `counts` entry carries (others appear when they occurred).
REPORTED_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.CREATED,
    Outcome.UPDATED,
    Outcome.UNCHANGED,
    Outcome.FAILED,
    Outcome.SKIPPED,
)
#: The outcomes whose keys `changes` lists: what a run did to the server (conflicts come from `conflicts`).
CHANGE_OUTCOMES: tuple[Outcome, ...] = (Outcome.CREATED, Outcome.UPDATED, Outcome.LINKED)


def hash_key(key: str, salt: str) -> str:
    """A stable stand-in for a business key: `h:` and 16 hex digits of sha256(salt|key). The salt (the
    identifier namespace) keeps the same MRN from hashing alike across sites."""
    return "h:" + hashlib.sha256(f"{salt}|{key}".encode()).hexdigest()[:16]


def report_schema() -> dict[str, Any]:
    """The JSON Schema of `RunReport.to_dict()` (shipped in the package)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


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
    action: str  # reported | retracted | would retract | conflict | refused | gone

    def as_report(self) -> dict[str, str]:
        return {"file": self.file, "resourceType": self.resource_type, "id": self.key, "action": self.action}


@dataclass(frozen=True)
class ReportError:
    """Why a run did not finish cleanly: the exception family's category and its (PHI-free) message."""

    category: str
    message: str

    def as_report(self) -> dict[str, str]:
        return {"category": self.category, "message": self.message}


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
    kept_by_receiver: list[Conflict] = field(default_factory=list)  # referral Tasks/requests the receiver moved
    warnings: list[InputWarning] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    absent: list[Absent] = field(default_factory=list)  # with --full-export: synced before, not in this export
    retries: int = 0
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    exit_code: int = 0
    error: ReportError | None = None
    #: record the keys per type and outcome in `changes` (setting `report_keys`)
    record_keys: bool = True
    #: when set, keys are written hashed with this salt (setting `hash_keys_in_reports`)
    key_salt: str | None = None
    changes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def count(self, resource_type: str, outcome: str, n: int = 1, *, key: str | None = None) -> None:
        self.counts.setdefault(str(resource_type), Counter())[str(outcome)] += n
        if key is not None and self.record_keys and outcome in CHANGE_OUTCOMES:
            self.changes.setdefault(str(resource_type), {}).setdefault(str(outcome), []).append(key)

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

    def fail(self, category: str, message: str) -> None:
        self.error = ReportError(category, message)

    def check_rejection_limit(self, limit: RejectionLimit | None) -> bool:
        """Mark the run exit 6 (`max_rejected`) when more records were rejected than `limit` allows; True if so."""
        if limit is None or not limit.exceeded(len(self.rejected), self.records):
            return False
        self.exit_code = 6
        self.fail("max_rejected", f"{len(self.rejected)} of {self.records} record(s) rejected; max_rejected is {limit}")
        return True

    @property
    def written(self) -> int:
        return sum(c["created"] + c["updated"] for c in self.counts.values())

    @property
    def failed(self) -> int:
        return sum(c["failed"] for c in self.counts.values())

    @property
    def records(self) -> int:
        """Records this run dealt with, whatever their outcome."""
        return sum(sum(c.values()) for c in self.counts.values())

    def shown_key(self, key: str | None) -> str | None:
        """A key as reports show it: itself, or its salted hash when `key_salt` is set."""
        if key is None or self.key_salt is None:
            return key
        return hash_key(key, self.key_salt)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "run_id": self.run_id,
            "server": self.server,
            "strategy": self.strategy,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "error": self.error.as_report() if self.error else None,
            "keys_hashed": self.key_salt is not None,
            "counts": self.counts_dict(),
            "changes": self._changes() if self.record_keys else None,
            "rejected": [{**r.as_report(), "id": self.shown_key(r.id)} for r in self.rejected],
            "rejected_by_reason": dict(Counter(r.group for r in self.rejected).most_common()),
            "skipped_by_reason": dict(self.skipped_by_reason.most_common()),
            "conflicts": [{**c.as_report(), "id": self.shown_key(c.key)} for c in self.conflicts],
            "changed_by_receiver": [{**c.as_report(), "id": self.shown_key(c.key)} for c in self.kept_by_receiver],
            "warnings": [w.as_report() for w in self.warnings],
            "files": [f.as_report() for f in self.files],
            "absent": [{**a.as_report(), "id": self.shown_key(a.key)} for a in self.absent],
            "retries": self.retries,
        }

    def counts_dict(self) -> dict[str, dict[str, int]]:
        """The report's `counts`, per type in write order (without building the rest of `to_dict()`)."""
        return {t: _outcome_counts(self.counts[t]) for t in self.ordered_types()}

    def _changes(self) -> dict[str, dict[str, list[str]]]:
        """Per type: the keys created, updated, linked and in conflict (sorted; empty types left out)."""
        merged: dict[str, dict[str, list[str]]] = {}
        for rtype, by_outcome in self.changes.items():
            for outcome, keys in by_outcome.items():
                merged.setdefault(rtype, {}).setdefault(outcome, []).extend(keys)
        for c in self.conflicts:
            merged.setdefault(str(c.resource_type), {}).setdefault(str(Outcome.CONFLICT), []).append(c.key)
        ordered = [t for t in self.ordered_types() if t in merged] + sorted(set(merged) - set(self.counts))
        return {
            t: {
                str(o): sorted({str(self.shown_key(k)) for k in merged[t].get(str(o), [])})
                for o in (*CHANGE_OUTCOMES, Outcome.CONFLICT)
            }
            for t in ordered
        }

    def write_json(self, path: Path) -> None:
        """Write the report to `path`, atomically replacing what was there (a reader sees the old report or
        the new one, never half of one)."""
        write_atomically(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    def ordered_types(self) -> list[str]:
        """Types with counts, in write order (unknown ones last)."""
        known = [str(t) for t in ResourceType if str(t) in self.counts]
        return known + sorted(set(self.counts) - set(known))


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; keep what a plain write gave the job's log readers
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _outcome_counts(counter: Counter[str]) -> dict[str, int]:
    """The contract's four outcomes and `skipped` always, then any other outcome that occurred (valid …)."""
    counts = {str(o): counter[o] for o in REPORTED_OUTCOMES}
    counts.update({o: n for o, n in counter.items() if o not in counts and n})
    return counts
