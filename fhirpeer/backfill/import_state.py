"""After a complete bulk import: leave the state store as the sync of the same export would have left it.

From the key sidecar, streamed in chunks: one `synced` row per resource (type, key, content hash, the deterministic
id, the version the server gave it, owner fhirpeer) and one `records` row per input record whose every resource was
exported (kind, key, fingerprint, types) — so the next `sync` of the same export skips every record before mapping
it and sends nothing. The versions are read back from the server (`_id` searches) so that a later update carries
If-Match, as one after a sync does; without them (no server access) such an update is sent without it.

Each chunk's rows are recorded in one transaction, resources before their records: a crash part-way leaves rows a
rerun of the import (or the next sync) simply confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..bulk.key_sidecar import KeyLine, RecordOrigin, read_key_lines
from ..bulk.manifest import Manifest
from ..domain import Outcome
from ..run_report import RunReport
from ..sync_engine.state import OWNER_FHIRPEER, RecordSynced, StateStore, Written
from ..transport.client import FhirClient

#: Sidecar lines recorded per state store transaction.
CHUNK = 1000
#: Ids per version search (`_id=a,b,…` keeps the URL well under 8 KB).
IDS_PER_SEARCH = 100


class VersionReader:
    """The current versionId of resources by id, through `_id` searches returning only the id (and meta)."""

    def __init__(self, client: FhirClient):
        self.client = client

    def versions(self, resource_type: str, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), IDS_PER_SEARCH):
            chunk = ids[start : start + IDS_PER_SEARCH]
            params = [("_id", ",".join(chunk)), ("_elements", "id"), ("_count", str(len(chunk)))]
            for resource in self.client.search(resource_type, params):
                version = (resource.get("meta") or {}).get("versionId")
                if isinstance(resource.get("id"), str) and isinstance(version, str):
                    found[resource["id"]] = version
        return found


@dataclass
class _OpenRecord:
    origin: RecordOrigin
    types: list[str] = field(default_factory=list)
    complete: bool = True  # False once one of its resources was not recorded: the next sync maps it again


@dataclass
class ImportRecorder:
    """Records one import's sidecar in the state store and counts, per type, what it created, updated or left
    unchanged (as the state store knew it before)."""

    state: StateStore
    run_id: str
    report: RunReport
    versions: VersionReader | None = None
    elsewhere: int = 0  # resources whose key the state store holds under another id: left as they were
    unversioned: int = 0
    _open: _OpenRecord | None = None

    def record(self, directory: Path, manifest: Manifest) -> None:
        for chunk in _chunks(read_key_lines(directory, manifest), CHUNK):
            self._record_chunk(chunk)
        if self._open is not None and self._open.complete:
            self.state.record_records([self._finished(self._open)], self.run_id)
        self._open = None

    def _record_chunk(self, lines: list[KeyLine]) -> None:
        by_type: dict[str, list[KeyLine]] = {}
        for line in lines:
            by_type.setdefault(line.resource_type, []).append(line)
        written: list[Written] = []
        left: set[int] = set()  # the lines not recorded (by identity)
        for rtype, typed in by_type.items():
            known = self.state.lookup(rtype, (k.key for k in typed))
            versions = self.versions.versions(rtype, [k.id for k in typed]) if self.versions else {}
            for line in typed:
                row = known.get(line.key)
                if row is not None and row.server_id not in (None, line.id):
                    self.elsewhere += 1
                    left.add(id(line))
                    continue
                if row is None:
                    outcome = Outcome.CREATED
                else:
                    outcome = Outcome.UNCHANGED if row.hash == line.hash else Outcome.UPDATED
                self.report.count(rtype, outcome, key=line.key)
                version = versions.get(line.id)
                self.unversioned += version is None
                written.append(Written(rtype, line.key, line.hash, line.id, version, OWNER_FHIRPEER))
        self.state.record_written(written, self.run_id)
        self.state.record_records(list(self._records_done(lines, left)), self.run_id)

    def _records_done(self, lines: Iterable[KeyLine], left: set[int]) -> Iterator[RecordSynced]:
        """The complete records whose last resource is in these lines (a record's lines are consecutive)."""
        for line in lines:
            if line.record is None:
                continue
            if self._open is not None and self._open.origin != line.record:
                if self._open.complete:
                    yield self._finished(self._open)
                self._open = None
            if self._open is None:
                self._open = _OpenRecord(line.record)
            self._open.types.append(line.resource_type)
            self._open.complete = self._open.complete and id(line) not in left

    @staticmethod
    def _finished(record: _OpenRecord) -> RecordSynced:
        origin = record.origin
        return RecordSynced(origin.kind, origin.key, origin.fingerprint, tuple(record.types))


def _chunks(lines: Iterator[KeyLine], size: int) -> Iterator[list[KeyLine]]:
    chunk: list[KeyLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
