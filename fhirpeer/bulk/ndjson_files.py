"""Write mapped resources to NDJSON bulk files: one series of parts per resource type, a manifest, a key sidecar.

Resources arrive one at a time, already mapped (deterministic ``id``, literal ``Type/id`` references, Part 2
labels); nothing is mapped or kept here beyond one open file per resource type, so memory stays flat however big
the export. A part is closed when it holds ``max_resources_per_part`` resources or the next line would take it past
``max_bytes_per_part`` (a single resource larger than that gets a part of its own).

Crash safety: everything is written into a hidden staging folder inside the output folder and fsynced; only when
the caller closes the writer are the files renamed into place, and ``manifest.json`` is written last, atomically.
An export that dies part-way therefore leaves no manifest, and a manifest never lists a truncated file (its sizes
and SHA-256 sums say so if a file is changed later). With ``overwrite`` the previous manifest is removed first,
before any of its files is touched.

The sidecar ``fhirpeer-keys.ndjson`` has one line per resource, ``{"resourceType", "id", "key", "hash"}``: the
business key and content hash fhirpeer records in its state store once an import has succeeded. It holds business
keys: it stays with the export and is never served or uploaded as import input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .._version import __version__
from ..content_hash import content_hash
from .errors import BulkExportError
from .manifest import (
    IMPORT_ORDER,
    KEYS_FILE,
    MANIFEST_FILE,
    Manifest,
    OutputFile,
    fsync_directory,
    import_order_for,
    part_file_name,
    read_manifest,
    write_manifest,
)

__all__ = ["DEFAULT_MAX_BYTES_PER_PART", "DEFAULT_MAX_RESOURCES_PER_PART", "NdjsonExportWriter"]

#: Azure's import guidance asks for files of at least 20k resources or 50 MB; both limits stay configurable.
DEFAULT_MAX_RESOURCES_PER_PART = 20_000
DEFAULT_MAX_BYTES_PER_PART = 64 * 1024 * 1024

_STAGING_PREFIX = ".fhirpeer-export-"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # R4 id datatype: http://hl7.org/fhir/R4/datatypes.html#id
_PART_OR_SIDECAR = re.compile(r"[A-Z][A-Za-z]{0,63}\.\d{4,9}\.ndjson|" + re.escape(KEYS_FILE))


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _OpenPart:
    """The part currently being written for one resource type."""

    name: str
    handle: IO[bytes]
    count: int = 0
    size: int = 0

    def __post_init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, line: bytes) -> None:
        self.handle.write(line)
        self.digest.update(line)
        self.count += 1
        self.size += len(line)

    def finish(self, resource_type: str) -> OutputFile:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return OutputFile(resource_type, self.name, self.count, self.size, self.digest.hexdigest())


class NdjsonExportWriter:
    """Stream resources into ``out_dir`` as NDJSON parts; use as a context manager (an exception aborts).

    ``namespace`` is the identifier namespace the resources were mapped under (recorded in the manifest).
    ``type_order`` is the import order (rosters first); types it does not name go last, alphabetically.
    ``overwrite`` allows an ``out_dir`` that already holds an export (its files are replaced); otherwise
    ``out_dir`` must be empty or absent.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        namespace: str,
        max_resources_per_part: int = DEFAULT_MAX_RESOURCES_PER_PART,
        max_bytes_per_part: int = DEFAULT_MAX_BYTES_PER_PART,
        overwrite: bool = False,
        type_order: Iterable[str] = IMPORT_ORDER,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_resources_per_part < 1:
            raise BulkExportError("max_resources_per_part must be at least 1")
        if max_bytes_per_part < 1:
            raise BulkExportError("max_bytes_per_part must be at least 1")
        self.out_dir = Path(out_dir)
        self.namespace = namespace
        self.max_resources_per_part = max_resources_per_part
        self.max_bytes_per_part = max_bytes_per_part
        self.overwrite = overwrite
        self.type_order = tuple(type_order)
        self._clock = clock
        self._staging: Path | None = None
        self._open: dict[str, _OpenPart] = {}
        self._finished: list[OutputFile] = []
        self._parts_started: dict[str, int] = {}
        self._keys: IO[bytes] | None = None
        self._keys_digest = hashlib.sha256()
        self._keys_count = 0
        self._transaction_time = ""
        self._closed = False
        self.manifest: Manifest | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> NdjsonExportWriter:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Check ``out_dir``, clear a previous export when allowed, and create the staging folder."""
        if self._closed:
            raise BulkExportError("the export is already closed")
        if self._staging is not None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._clear_previous_export()
        self._transaction_time = _instant(self._clock())
        self._staging = self.out_dir / f"{_STAGING_PREFIX}{secrets.token_hex(6)}.partial"
        self._staging.mkdir()
        self._keys = (self._staging / KEYS_FILE).open("xb")

    def add(self, resource: Mapping[str, Any], *, key: str, content_hash: str | None = None) -> None:
        """Append one resource to its type's current part, and its key line to the sidecar.

        ``content_hash`` defaults to :func:`fhirpeer.state.content_hash` of the resource (what sync compares).

        Raises:
            BulkExportError: no valid ``resourceType`` or ``id``, an empty key, or a reference that is not literal.
        """
        if self._closed:
            raise BulkExportError("the export is already closed")
        self.open()
        resource_type, resource_id = _type_and_id(resource)
        if not isinstance(key, str) or not key:
            raise BulkExportError(f"{resource_type}/{resource_id}: the business key is empty")
        _check_references(resource, f"{resource_type}/{resource_id}")
        line = (json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self._part_for(resource_type, len(line)).write(line)
        digest = content_hash if content_hash is not None else _hash(resource)
        key_line = {"resourceType": resource_type, "id": resource_id, "key": key, "hash": digest}
        self._write_key((json.dumps(key_line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))

    def close(self) -> Manifest:
        """Finish every part, move the files into ``out_dir`` and write the manifest last; returns it."""
        if self.manifest is not None:
            return self.manifest
        if self._closed:
            raise BulkExportError("the export was aborted; nothing to close")
        self.open()
        assert self._staging is not None and self._keys is not None
        for resource_type, part in self._open.items():
            self._finished.append(part.finish(resource_type))
        self._open.clear()
        self._keys.flush()
        os.fsync(self._keys.fileno())
        self._keys.close()
        order = import_order_for((o.type for o in self._finished), self.type_order)
        rank = {t: i for i, t in enumerate(order)}
        outputs = tuple(sorted(self._finished, key=lambda o: (rank[o.type], o.url)))
        for name in [*(o.url for o in outputs), KEYS_FILE]:
            os.replace(self._staging / name, self.out_dir / name)
        fsync_directory(self.out_dir)
        manifest = Manifest(
            transaction_time=self._transaction_time,
            namespace=self.namespace,
            fhirpeer_version=__version__,
            import_order=order,
            outputs=outputs,
            keys_file=KEYS_FILE,
            keys_count=self._keys_count,
            keys_sha256=self._keys_digest.hexdigest(),
        )
        write_manifest(self.out_dir, manifest)
        shutil.rmtree(self._staging, ignore_errors=True)
        self._closed = True
        self.manifest = manifest
        return manifest

    def abort(self) -> None:
        """Drop everything written so far; ``out_dir`` is left without a manifest."""
        for part in self._open.values():
            part.handle.close()
        self._open.clear()
        if self._keys is not None:
            self._keys.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        self._closed = True

    # --- counters ----------------------------------------------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Resources written so far, per type."""
        totals: dict[str, int] = {}
        for output in self._finished:
            totals[output.type] = totals.get(output.type, 0) + output.count
        for resource_type, part in self._open.items():
            totals[resource_type] = totals.get(resource_type, 0) + part.count
        return totals

    # --- plumbing ----------------------------------------------------------------------------------------

    def _part_for(self, resource_type: str, line_size: int) -> _OpenPart:
        part = self._open.get(resource_type)
        if part is not None and (
            part.count >= self.max_resources_per_part or part.size + line_size > self.max_bytes_per_part
        ):
            self._finished.append(part.finish(resource_type))
            part = None
        if part is None:
            assert self._staging is not None
            number = self._parts_started.get(resource_type, 0) + 1
            self._parts_started[resource_type] = number
            name = part_file_name(resource_type, number)
            part = _OpenPart(name, (self._staging / name).open("xb"))
            self._open[resource_type] = part
        return part

    def _write_key(self, line: bytes) -> None:
        assert self._keys is not None
        self._keys.write(line)
        self._keys_digest.update(line)
        self._keys_count += 1

    def _clear_previous_export(self) -> None:
        entries = [p for p in self.out_dir.iterdir()]
        if not entries:
            return
        if not self.overwrite:
            raise BulkExportError(f"{self.out_dir}: not empty (pass overwrite to replace a previous export)")
        manifest_path = self.out_dir / MANIFEST_FILE
        if manifest_path.exists():
            read_manifest(self.out_dir)  # refuse to clear a folder whose manifest is not fhirpeer's
            manifest_path.unlink()
            fsync_directory(self.out_dir)
        for path in entries:
            if path.name.startswith(_STAGING_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and _PART_OR_SIDECAR.fullmatch(path.name):
                path.unlink()


def _type_and_id(resource: Mapping[str, Any]) -> tuple[str, str]:
    resource_type = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if not isinstance(resource_type, str) or not _RESOURCE_TYPE.fullmatch(resource_type):
        raise BulkExportError("a resource without a valid resourceType cannot be written")
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not _FHIR_ID.fullmatch(resource_id):
        raise BulkExportError(
            f"{resource_type}: a resource without a valid id cannot be written (bulk import needs ids)"
        )
    return resource_type, resource_id


def _check_references(node: Any, where: str, path: str = "") -> None:
    """Bulk import resolves no conditional (``Type?…``) or bundle-local (``urn:uuid:…``) references: refuse them."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            child = f"{path}.{name}" if path else str(name)
            if name == "reference" and isinstance(value, str) and ("?" in value or value.startswith("urn:")):
                raise BulkExportError(f"{where}: {child} is not a literal reference")
            if isinstance(value, Mapping | list):
                _check_references(value, where, child)
    elif isinstance(node, list):
        for item in node:
            _check_references(item, where, path)


def _hash(resource: Mapping[str, Any]) -> str:
    return content_hash(dict(resource))


def _instant(moment: datetime) -> str:
    """A FHIR instant in UTC with milliseconds: ``2026-01-05T10:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
