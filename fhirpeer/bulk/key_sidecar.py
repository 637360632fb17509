"""The key sidecar of an export folder (``fhirpeer-keys.ndjson``): one line per resource, what the state store must
learn once an import of the folder has succeeded.

    {"resourceType": "Encounter", "id": "fp…", "key": "C-0001", "hash": "…",
     "kind": "contacts", "record": "C-0001", "fingerprint": "…"}

``resourceType``, ``id``, ``key`` and ``hash`` are always there. ``kind``, ``record`` and ``fingerprint`` name the
input record the resource was mapped from; they are present only when every resource of that record is in the
export (a record with a rejected resource must be mapped again by the next sync), and the lines of one record are
consecutive. The sidecar holds business keys: it stays with the export and is never served or uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import BulkExportError
from .manifest import Manifest

__all__ = ["KeyLine", "RecordOrigin", "key_line", "read_key_lines"]


@dataclass(frozen=True)
class RecordOrigin:
    """The input record a resource was mapped from: its kind, key and fingerprint (`fhirpeer.pipeline`)."""

    kind: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class KeyLine:
    """One line of the key sidecar."""

    resource_type: str
    id: str
    key: str
    hash: str
    record: RecordOrigin | None = None


def key_line(line: KeyLine) -> bytes:
    """The sidecar line (compact JSON and a newline)."""
    data = {"resourceType": line.resource_type, "id": line.id, "key": line.key, "hash": line.hash}
    if line.record is not None:
        data.update(kind=line.record.kind, record=line.record.key, fingerprint=line.record.fingerprint)
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def read_key_lines(directory: Path, manifest: Manifest) -> Iterator[KeyLine]:
    """Stream the sidecar the manifest names, in the order it was written."""
    path = Path(directory) / manifest.keys_file
    try:
        handle = path.open(encoding="utf-8")
    except OSError:
        raise BulkExportError(f"{manifest.keys_file}: the key sidecar is missing") from None
    with handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield _parse(text, number, manifest.keys_file)


def _parse(text: str, number: int, name: str) -> KeyLine:
    try:
        data = json.loads(text)
        record = None
        if "fingerprint" in data:
            record = RecordOrigin(str(data["kind"]), str(data["record"]), str(data["fingerprint"]))
        return KeyLine(str(data["resourceType"]), str(data["id"]), str(data["key"]), str(data["hash"]), record)
    except (ValueError, KeyError, TypeError):
        raise BulkExportError(f"{name}: line {number} is not a key line") from None
