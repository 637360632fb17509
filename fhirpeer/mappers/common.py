"""Shared pieces of the mappers: identifiers, conditional references, match URLs, labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from ..domain import ResourceType, Source
from ..mapping_files import CodedConcept, Coding, Mappings


@dataclass(frozen=True)
class Ref:
    """A business-key reference from one resource to another (e.g. Encounter → Patient MRN).

    An `optional` reference (Encounter.appointment → the contact's Appointment) is dropped from the resource when
    its target is nowhere on the server, instead of rejecting the record."""

    resource_type: ResourceType
    key: str
    column: str  # the input column it came from, for rejection messages
    optional: bool = False  # dropped from the resource when the target is nowhere, instead of rejecting it

    def __post_init__(self) -> None:
        if type(self.resource_type) is not ResourceType:  # the mappers pass the enum: skip the costly Enum call
            object.__setattr__(self, "resource_type", ResourceType(self.resource_type))


@dataclass
class MappedResource:
    """A FHIR resource ready to plan and write, with where it came from and what it points at.

    `only_if_exists`: written only when the server already holds this key (the Appointment of a contact that was
    completed after all, a resource marked entered-in-error); otherwise it is skipped, never created."""

    resource_type: ResourceType
    key: str
    resource: dict[str, Any]
    sources: tuple[Source, ...]
    refs: tuple[Ref, ...] = field(default_factory=tuple)
    only_if_exists: bool = False  # written only when the server already holds this key (an update, never a create)

    def __post_init__(self) -> None:
        if type(self.resource_type) is not ResourceType:
            self.resource_type = ResourceType(self.resource_type)


def identifier(m: Mappings, resource_type: str, key: str) -> dict[str, Any]:
    """The business-key identifier, with its Identifier.type where the mappings give one (a Patient's MR)."""
    ident: dict[str, Any] = {"system": m.system_for(resource_type), "value": key}
    kind = m.identifiers.types.get(str(resource_type))
    if kind is not None:
        ident = {"type": {"coding": [kind.as_fhir()]}, **ident}
    return ident


def identifier_token(system: str, value: str) -> str:
    """The FHIR token search value `system|value` (not URL-encoded: for search parameters)."""
    return f"{system}|{value}"


def match_url(m: Mappings, resource_type: str, key: str) -> str:
    """The conditional match URL for a business key: `Type?identifier=system|value`, URL-encoded.

    Keys are free of | , $ \\ (records.py); the rest is percent-encoded so the server decodes exactly `key`."""
    return f"{resource_type}?identifier={identifier_token(m.system_for(resource_type), _quoted(key))}"


@lru_cache(maxsize=65_536)
def _quoted(key: str) -> str:
    """A key percent-encoded for a match URL (cached: the same MRNs and staff ids are referenced over and over)."""
    return quote(key, safe="-._~:/")


def conditional_reference(m: Mappings, resource_type: str, key: str) -> dict[str, str]:
    """A conditional reference, resolved by the server inside a transaction (or by fhirpeer otherwise)."""
    return {"reference": match_url(m, resource_type, key)}


def codings(items: list[Coding]) -> list[dict[str, str]]:
    return [c.as_fhir() for c in items]


def concept(value: CodedConcept, local_system: str, local_code: str) -> dict[str, Any]:
    """A CodeableConcept: the mapped standard codings plus a local coding, and text."""
    return {
        "coding": [
            *codings(value.codings),
            {"system": local_system, "code": local_code, "display": value.text},
        ],
        "text": value.text,
    }


def with_security(m: Mappings, resource_type: str, resource: dict[str, Any], part2: bool) -> dict[str, Any]:
    if part2 and resource_type in m.security.apply_to and m.security.labels:
        resource["meta"] = {"security": codings(m.security.labels)}
    return resource


def fhir_datetime(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def human_name(family: str | None, given: str | None) -> list[dict[str, Any]]:
    if not family and not given:
        return []
    name: dict[str, Any] = {"use": "official"}
    if family:
        name["family"] = family
    if given:
        name["given"] = given.split()
    return [name]


def data_absent(m: Mappings) -> dict[str, Any]:
    """The data-absent-reason extension for an element US Core requires but the export leaves blank."""
    return {"extension": [{"url": m.roster.data_absent_reason_url, "valueCode": m.roster.data_absent_reason}]}


def period_of(start: datetime, minutes: int | None) -> dict[str, str]:
    """A Period from a start and, when known, a duration (`end` added in UTC: aware-datetime arithmetic in a DST
    zone is wall-clock arithmetic)."""
    period = {"start": fhir_datetime(start)}
    if minutes is not None:
        period["end"] = fhir_datetime(end_of(start, minutes))
    return period


def end_of(start: datetime, minutes: int) -> datetime:
    return (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(start.tzinfo)
