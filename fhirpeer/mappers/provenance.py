"""Provenance of what a run wrote, and the Device that is fhirpeer (the Provenance agent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain import ResourceType, Source
from ..mapping_files import Mappings
from .common import MappedResource, codings, fhir_datetime, identifier

#: Where a Device or Provenance "comes from" in reports: not an input file.
GENERATED = Source("(fhirpeer)", 0)


def map_device(m: Mappings, version: str) -> MappedResource:
    """The Device resource naming this fhirpeer installation (one per namespace)."""
    pm = m.provenance
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "identifier": [identifier(m, ResourceType.DEVICE, pm.device_key)],
        "status": "active",
        "deviceName": [{"name": pm.device_name, "type": "user-friendly-name"}],
        "version": [{"value": version}],
    }
    return MappedResource(ResourceType.DEVICE, pm.device_key, resource, (GENERATED,))


def map_provenance(
    m: Mappings, *, targets: list[str], activity: str, recorded: datetime, device: str, part2: bool
) -> dict[str, Any]:
    """A Provenance for resources one Bundle created or updated (`targets`: literal `Type/id` references)."""
    pm = m.provenance
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": t} for t in targets],
        "recorded": fhir_datetime(recorded),
        "activity": {"coding": [pm.activity[activity].as_fhir()]},
        "agent": [{"type": {"coding": [pm.agent_type.as_fhir()]}, "who": {"reference": device}}],
    }
    if part2 and m.security.labels:  # it names Part 2 records: as protected as they are
        resource["meta"] = {"security": codings(m.security.labels)}
    return resource
