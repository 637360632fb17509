"""The manifest of a bulk export folder: which NDJSON files hold which resources, and in what order to import them.

The JSON document is modelled on the FHIR Bulk Data export manifest ("Response - Complete Status",
http://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---complete-status): ``transactionTime``,
``requiresAccessToken``, ``output`` (``type``, ``url``, ``count``) and ``error``. There ``url`` is absolute; here it
is the file name relative to the manifest, because the same folder is later served over loopback or uploaded to a
bucket. The specification reserves ``extension`` (a JSON object) for server-specific content: fhirpeer's own keys live
under ``extension.fhirpeer`` — format version, fhirpeer version, identifier namespace, the order types must be imported
in (rosters first), each file's size and SHA-256, and the key sidecar.

Only what is needed to find and check the files is here: no resource content, no business keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BulkExportError

__all__ = [
    "FORMAT_VERSION",
    "IMPORT_ORDER",
    "KEYS_FILE",
    "MANIFEST_FILE",
    "Manifest",
    "OutputFile",
    "import_order_for",
    "part_file_name",
    "read_manifest",
    "sha256_of",
    "verify_files",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"
KEYS_FILE = "fhirpeer-keys.ndjson"
FORMAT_VERSION = 1

#: Referenced before referencing: rosters first, then what points at them (Encounter points at nearly everything).
IMPORT_ORDER: tuple[str, ...] = (
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "CareTeam",
    "ServiceRequest",
    "Task",
    "EpisodeOfCare",
    "Appointment",
    "Encounter",
)

_PART_NAME = re.compile(r"(?P<type>[A-Z][A-Za-z]{0,63})\.(?P<part>\d{4,9})\.ndjson")
_CHUNK = 1 << 20


def part_file_name(resource_type: str, part: int) -> str:
    """``Encounter.0001.ndjson`` for part 1 of the Encounter files."""
    return f"{resource_type}.{part:04d}.ndjson"


def import_order_for(types: Iterable[str], order: Iterable[str] = IMPORT_ORDER) -> tuple[str, ...]:
    """``types`` sorted by ``order``; types it does not name follow, alphabetically."""
    present = set(types)
    ranked = [t for t in order if t in present]
    return (*ranked, *sorted(present - set(ranked)))


@dataclass(frozen=True)
class OutputFile:
    """One NDJSON part: its resource type, file name (relative to the manifest), resource count, size and hash."""

    type: str
    url: str
    count: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``; ``outputs`` are listed in import order."""

    transaction_time: str
    namespace: str
    fhirpeer_version: str
    import_order: tuple[str, ...]
    outputs: tuple[OutputFile, ...]
    keys_file: str = KEYS_FILE
    keys_count: int = 0
    keys_sha256: str = ""
    format_version: int = FORMAT_VERSION
    file_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "file_names", frozenset(o.url for o in self.outputs))

    def counts(self) -> dict[str, int]:
        """Resources per type, in import order."""
        totals: dict[str, int] = {t: 0 for t in self.import_order}
        for output in self.outputs:
            totals[output.type] = totals.get(output.type, 0) + output.count
        return totals

    @property
    def total(self) -> int:
        """Resources in all parts."""
        return sum(o.count for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict."""
        return {
            "transactionTime": self.transaction_time,
            "requiresAccessToken": False,
            "output": [{"type": o.type, "url": o.url, "count": o.count} for o in self.outputs],
            "error": [],
            "extension": {
                "fhirpeer": {
                    "formatVersion": self.format_version,
                    "fhirpeerVersion": self.fhirpeer_version,
                    "namespace": self.namespace,
                    "importOrder": list(self.import_order),
                    "files": {o.url: {"bytes": o.bytes, "sha256": o.sha256} for o in self.outputs},
                    "keys": {"url": self.keys_file, "count": self.keys_count, "sha256": self.keys_sha256},
                }
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Manifest:
        """Parse and check a manifest document; BulkExportError names the first problem."""
        try:
            own = document["extension"]["fhirpeer"]
            version = int(own["formatVersion"])
            if version != FORMAT_VERSION:
                raise BulkExportError(f"{MANIFEST_FILE}: format version {version} is not supported")
            files = own["files"]
            order = tuple(str(t) for t in own["importOrder"])
            outputs = []
            for item in document["output"]:
                name = str(item["url"])
                details = files[name]
                outputs.append(
                    OutputFile(
                        str(item["type"]), name, int(item["count"]), int(details["bytes"]), str(details["sha256"])
                    )
                )
            keys = own["keys"]
            manifest = cls(
                transaction_time=str(document["transactionTime"]),
                namespace=str(own["namespace"]),
                fhirpeer_version=str(own["fhirpeerVersion"]),
                import_order=order,
                outputs=tuple(outputs),
                keys_file=str(keys["url"]),
                keys_count=int(keys["count"]),
                keys_sha256=str(keys["sha256"]),
                format_version=version,
            )
        except KeyError as exc:
            raise BulkExportError(f"{MANIFEST_FILE}: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise BulkExportError(f"{MANIFEST_FILE}: malformed ({type(exc).__name__})") from None
        manifest.check()
        return manifest

    def check(self) -> None:
        """File names are plain part names of their own type, and every type is in the import order."""
        for output in self.outputs:
            match = _PART_NAME.fullmatch(output.url)
            if not match or match["type"] != output.type:
                raise BulkExportError(f"{MANIFEST_FILE}: {output.url!r} is not a part file name for {output.type}")
            if output.type not in self.import_order:
                raise BulkExportError(f"{MANIFEST_FILE}: {output.type} is missing from the import order")
        if len(self.file_names) != len(self.outputs):
            raise BulkExportError(f"{MANIFEST_FILE}: a file is listed twice")
        if "/" in self.keys_file or self.keys_file.startswith("."):
            raise BulkExportError(f"{MANIFEST_FILE}: the key sidecar name is not a plain file name")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically (temporary file, fsync, rename, fsync of the folder)."""
    target = Path(directory) / MANIFEST_FILE
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd, tmp_name = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    fsync_directory(Path(directory))
    return target


def read_manifest(directory: Path, *, verify: bool = False) -> Manifest:
    """Read and check ``directory/manifest.json``; with ``verify`` also every file's size and hash."""
    path = Path(directory) / MANIFEST_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BulkExportError(f"{path}: no manifest (the export did not finish, or this is not an export)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BulkExportError(f"{path}: unreadable ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise BulkExportError(f"{path}: not a JSON object")
    manifest = Manifest.from_json(document)
    if verify:
        verify_files(Path(directory), manifest)
    return manifest


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Every file the manifest lists is present with the recorded size and SHA-256."""
    entries = [(o.url, o.bytes, o.sha256) for o in manifest.outputs]
    if manifest.keys_sha256:
        entries.append((manifest.keys_file, -1, manifest.keys_sha256))
    for name, size, digest in entries:
        path = directory / name
        if not path.is_file():
            raise BulkExportError(f"{name}: listed in the manifest but missing")
        if size >= 0 and path.stat().st_size != size:
            raise BulkExportError(f"{name}: size differs from the manifest (truncated or replaced)")
        if sha256_of(path) != digest:
            raise BulkExportError(f"{name}: content differs from the manifest (SHA-256 mismatch)")


def fsync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
