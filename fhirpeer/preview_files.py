"""Write what would be sent to a folder: FHIR NDJSON per type, or transaction Bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from .bundles import WriteRequest, bundle, entry, full_url
from .domain import ResourceType
from .mappers import MappedResource, match_url
from .mapping_files import Mappings


class NdjsonWriter:
    """One `<Type>.ndjson` file per resource type (the Bulk Data layout)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}

    def write(self, item: MappedResource) -> None:
        handle = self._files.get(item.resource_type)
        if handle is None:
            handle = (self.folder / f"{item.resource_type}.ndjson").open("w", encoding="utf-8")
            self._files[item.resource_type] = handle
        handle.write(json.dumps(item.resource, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


class BundleFolderWriter:
    """Transaction Bundles of conditional PUTs, one type and up to `batch_size` entries each, as fhirpeer would send
    them. A record can make resources of two types (a Practitioner and its PractitionerRole, an Appointment and an
    Encounter), so each type collects its own entries; when one is full, every type's pending entries are written,
    in write order, so a Bundle never comes before the one holding what it points at."""

    def __init__(self, folder: Path, mappings: Mappings, batch_size: int):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mappings = mappings
        self.batch_size = batch_size
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._n = 0

    def write(self, item: MappedResource) -> None:
        url = match_url(self.mappings, item.resource_type, item.key)
        fu = full_url(item.resource_type, item.key, self.mappings.identifiers.namespace)
        entries = self._pending.setdefault(str(item.resource_type), [])
        entries.append(entry(item.resource, WriteRequest("PUT", url), fu))
        if len(entries) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        for rtype in [str(t) for t in ResourceType if self._pending.get(str(t))]:
            self._n += 1
            path = self.folder / f"{self._n:05d}-{rtype}.json"
            path.write_text(json.dumps(bundle(self._pending[rtype]), ensure_ascii=False, indent=1), encoding="utf-8")
        self._pending = {}

    def close(self) -> None:
        self._flush()
