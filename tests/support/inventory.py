"""Read back (and clean up) what a FHIR server holds for one identifier namespace.

Every request goes through :class:`fhirpeer.client.FhirClient` with the credentials the usual
``FHIRPEER_AUTH…`` variables describe (:func:`fhirpeer.auth.auth_from_env`), so the same helpers work
against the embedded server and against any server named by ``$FHIRPEER_TEST_SERVER``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from fhirpeer.errors import AuthError, FatalError
from fhirpeer.mapping_files import load_mappings
from fhirpeer.transport.auth import auth_from_env
from fhirpeer.transport.client import FhirClient

#: Resource types tests create, dependants first (the order they can be deleted in without breaking a
#: reference: ServiceRequest/CareTeam/Encounter point at Patient/Practitioner/Organization).
CLEANUP_ORDER = (
    "Communication",
    "Provenance",
    "Task",
    "Encounter",
    "Appointment",
    "EpisodeOfCare",
    "ServiceRequest",
    "CareTeam",
    "PractitionerRole",
    "Patient",
    "Practitioner",
    "Organization",
    "Device",
)
#: Statuses of a DELETE that mean "this server does not let us delete": ignored.
DELETE_REFUSED = (403, 405)


def fhir_client(base_url: str) -> FhirClient:
    """A client for ``base_url`` with the credentials from the ``FHIRPEER_AUTH…`` environment variables."""
    return FhirClient(base_url, auth=auth_from_env(os.environ, base_url))


def systems(namespace: str) -> dict[str, str]:
    """Identifier system per resource type fhirpeer writes, under ``namespace``."""
    return dict(load_mappings(namespace=namespace).identifiers.systems)


def namespace_systems(namespace: str) -> dict[str, str]:
    """Every identifier system tests use under ``namespace`` (fhirpeer's, plus Communication for the
    conditional-reference test), by resource type."""
    return {**systems(namespace), "Communication": f"{namespace}/sid/test-communication"}


def _held(client: FhirClient, resource_type: str, system: str) -> Iterable[dict[str, Any]]:
    """Resources of ``resource_type`` carrying an identifier of exactly ``system`` (checked client-side too:
    a server that ignores the identifier parameter returns everything)."""
    for resource in client.search(resource_type, [("identifier", f"{system}|"), ("_count", "200")]):
        if any(i.get("system") == system for i in resource.get("identifier", [])):
            yield resource


def inventory(base_url: str, namespace: str, resource_type: str) -> dict[str, list[dict[str, Any]]]:
    """key → every resource on the server carrying that business key (should be exactly one each)."""
    system = namespace_systems(namespace)[resource_type]
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with fhir_client(base_url) as client:
        for resource in _held(client, resource_type, system):
            for ident in resource.get("identifier", []):
                if ident.get("system") == system:
                    found[ident["value"]].append(resource)
    return dict(found)


def versions(base_url: str, namespace: str, resource_type: str) -> dict[str, str]:
    """key → versionId, asserting each key is held exactly once."""
    inv = inventory(base_url, namespace, resource_type)
    dupes = {k: len(v) for k, v in inv.items() if len(v) != 1}
    assert not dupes, f"{resource_type}: keys held more than once: {dupes}"
    return {k: v[0]["meta"]["versionId"] for k, v in inv.items()}


def delete_namespace(base_url: str, namespace: str, *, passes: int = 3) -> dict[str, int]:
    """Delete every resource carrying an identifier of one of ``namespace``'s systems; returns the number
    deleted per type.

    Searches ``Type?identifier=<system>|`` per type, dependants first, and deletes ``Type/id`` one by one
    (ids are collected before deleting, so paging is not disturbed). Only resources whose own identifiers
    carry the namespace's system are touched. A server answering 403 or 405 to DELETE is left alone for that
    type; one still referenced (409/412) is tried again in the next of up to ``passes`` rounds (which also
    catch a search that lagged behind recent writes).
    """
    wanted = namespace_systems(namespace)
    deleted: dict[str, int] = defaultdict(int)
    refused: set[str] = set()
    with fhir_client(base_url) as client:
        for _ in range(passes):
            found_any = False
            for rtype in CLEANUP_ORDER:
                if rtype in refused or rtype not in wanted:
                    continue
                ids = [r["id"] for r in _held(client, rtype, wanted[rtype]) if r.get("id")]
                for rid in ids:
                    found_any = True
                    try:
                        status = client.delete(f"{rtype}/{rid}")
                    except (AuthError, FatalError) as exc:
                        if exc.status in DELETE_REFUSED:
                            refused.add(rtype)
                            break
                        if exc.status in (409, 412):  # still referenced: the next pass tries again
                            continue
                        raise
                    if status < 300:
                        deleted[rtype] += 1
            if not found_any:
                break
    return dict(deleted)
