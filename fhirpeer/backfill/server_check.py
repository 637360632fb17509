"""Before a bulk import: does the server already hold any business key of the export under another id?

A bulk import stores each resource under its deterministic id. Sync would find the EHR's Patient with the same MRN
and point at it (ownership rules), or leave another writer's Encounter alone as a conflict; an import would put a
second resource with the same key beside it. So the import is refused when any key of the export is held under
another id — found the way the planner finds them: per type, one count of the resources carrying the type's
identifier system (nothing to look up on a server that holds none), else batched identifier searches of the
export's keys; Practitioners by NPI too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..bulk.key_sidecar import read_key_lines
from ..bulk.manifest import Manifest
from ..domain import ResourceType
from ..mapping_files import Mappings
from ..sync_engine.server_lookup import ServerLookup

#: Keys looked up per round of searches (ServerLookup splits them into requests of its own size).
_BATCH = 400


@dataclass(frozen=True)
class HeldElsewhere:
    """An export key the server holds under another id (the type, the key or NPI, the server's id)."""

    resource_type: str
    key: str
    server_id: str


def keys_held_elsewhere(
    lookup: ServerLookup, mappings: Mappings, directory: Path, manifest: Manifest, *, stop_after: int = 20
) -> list[HeldElsewhere]:
    """Up to `stop_after` export keys that the server holds under an id other than the export's."""
    found: list[HeldElsewhere] = []
    for rtype in manifest.import_order:
        system = mappings.system_for(rtype)
        if lookup.count(rtype, system) == 0:
            continue
        for batch in _batches(_keys_of(directory, manifest, rtype)):
            found += _held_elsewhere(lookup, rtype, system, batch)
            if len(found) >= stop_after:
                return found[:stop_after]
        if rtype == ResourceType.PRACTITIONER:
            npi_system = mappings.identifiers.npi_system
            for batch in _batches(_npis(directory, manifest, npi_system)):
                found += _held_elsewhere(lookup, rtype, npi_system, batch)
    return found[:stop_after]


def _held_elsewhere(lookup: ServerLookup, rtype: str, system: str, ids_by_key: dict[str, str]) -> list[HeldElsewhere]:
    matches = lookup.find(rtype, system, ids_by_key)
    return [
        HeldElsewhere(rtype, key, match.id)
        for key, ours in ids_by_key.items()
        for match in matches.get(key, [])
        if match.id != ours
    ]


def _keys_of(directory: Path, manifest: Manifest, rtype: str) -> Iterator[tuple[str, str]]:
    """(business key, the export's id) of every resource of a type, from the key sidecar."""
    for line in read_key_lines(directory, manifest):
        if line.resource_type == rtype:
            yield line.key, line.id


def _npis(directory: Path, manifest: Manifest, npi_system: str) -> Iterator[tuple[str, str]]:
    """(NPI, the export's id) of every Practitioner in the export that has one."""
    for output in manifest.outputs:
        if output.type != ResourceType.PRACTITIONER:
            continue
        with (directory / output.url).open("rb") as handle:
            for line in handle:
                resource = orjson.loads(line)
                for ident in resource.get("identifier") or []:
                    if ident.get("system") == npi_system and ident.get("value"):
                        yield ident["value"], resource["id"]


def _batches(pairs: Iterator[tuple[str, str]]) -> Iterator[dict[str, str]]:
    batch: dict[str, str] = {}
    for key, rid in pairs:
        batch[key] = rid
        if len(batch) >= _BATCH:
            yield batch
            batch = {}
    if batch:
        yield batch
