"""The receiver owns what it changed (Gravity SDOH referral management).

Once the receiving organization has moved a referral Task (accepted, in-progress, completed, rejected, failed …) or
completed the ServiceRequest, a later sync with an older export row never moves it back. The requester may still
cancel it or mark it entered-in-error: then only the status (and its reason) are set on the receiver's version.
"""

from __future__ import annotations

from typing import Any

from ..domain import ResourceType
from ..mapping_files import Mappings

#: ServiceRequest statuses only the performer sets.
SERVICE_REQUEST_RECEIVER_STATUSES = frozenset({"completed"})
#: ServiceRequest statuses the requester may still set over a receiver's change.
SERVICE_REQUEST_REQUESTER_OVERRIDES = frozenset({"revoked", "entered-in-error"})

#: The types whose receiver-side changes fhirpeer leaves alone.
RECEIVER_OWNED_TYPES = frozenset({ResourceType.TASK, ResourceType.SERVICE_REQUEST})
#: Why a resource the receiver moved, whose export row did not change since, was left alone.
RECEIVER_KEPT = "changed by the receiver since fhirpeer wrote it; left alone"


def _statuses(m: Mappings, resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    if resource_type == ResourceType.TASK:
        return frozenset(m.task.receiver_statuses), frozenset(m.task.requester_overrides)
    return SERVICE_REQUEST_RECEIVER_STATUSES, SERVICE_REQUEST_REQUESTER_OVERRIDES


def receiver_moved(m: Mappings, resource_type: str, on_server: dict[str, Any], intended: dict[str, Any]) -> bool:
    """The server's copy is in a status only the receiver sets, and fhirpeer's would move it elsewhere."""
    if resource_type not in RECEIVER_OWNED_TYPES:
        return False
    receiver, _ = _statuses(m, resource_type)
    current = on_server.get("status")
    return current in receiver and intended.get("status") != current


def changed_by_receiver(
    m: Mappings, resource_type: str, on_server: dict[str, Any], written_version: str | None
) -> bool:
    """The server's copy is no longer the version fhirpeer wrote, and stands in a status only the receiver sets
    (what `fhirpeer outcomes` sees, without a row of the export to compare with)."""
    if resource_type not in RECEIVER_OWNED_TYPES:
        return False
    receiver, _ = _statuses(m, resource_type)
    meta = on_server.get("meta") if isinstance(on_server.get("meta"), dict) else {}
    return on_server.get("status") in receiver and meta.get("versionId") != written_version


def requester_override(m: Mappings, resource_type: str, intended: dict[str, Any]) -> bool:
    """fhirpeer's copy cancels or retracts: the requester may do that whatever the receiver did."""
    _, overrides = _statuses(m, resource_type)
    return intended.get("status") in overrides


def with_requester_status(on_server: dict[str, Any], intended: dict[str, Any]) -> dict[str, Any]:
    """The receiver's version with only fhirpeer's status (and its reason) set."""
    merged = {k: v for k, v in on_server.items() if k != "statusReason"}
    merged["status"] = intended["status"]
    if "statusReason" in intended:
        merged["statusReason"] = intended["statusReason"]
    return merged
