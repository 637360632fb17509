"""The value types every stage shares: resource types, input kinds, where a record came from, why one is not
synced, and the outcomes and strategies a run reports.

This module depends on nothing else in fhirpeer, so the readers, the mappers, the state store, the writer and the
report can all use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ResourceType(StrEnum):
    """The FHIR resource types fhirpeer writes, in write order: what a resource points at is written first."""

    ORGANIZATION = "Organization"
    PRACTITIONER = "Practitioner"
    PATIENT = "Patient"
    PRACTITIONER_ROLE = "PractitionerRole"
    CARE_TEAM = "CareTeam"
    SERVICE_REQUEST = "ServiceRequest"
    TASK = "Task"
    EPISODE_OF_CARE = "EpisodeOfCare"
    APPOINTMENT = "Appointment"
    ENCOUNTER = "Encounter"
    DEVICE = "Device"
    PROVENANCE = "Provenance"

    @property
    def is_roster(self) -> bool:
        """Master data an EHR usually owns (patients, staff, sites): subject to the ownership policy."""
        return self in ROSTER_TYPES


#: Master data: found on the server and pointed at, or created, per the ownership policy.
ROSTER_TYPES: frozenset[ResourceType] = frozenset(
    {ResourceType.ORGANIZATION, ResourceType.PRACTITIONER, ResourceType.PATIENT}
)


#: Types a server may be unable to take without stopping a sync: it goes on without them, with a warning.
OPTIONAL_TYPES: frozenset[ResourceType] = frozenset(
    {ResourceType.TASK, ResourceType.EPISODE_OF_CARE, ResourceType.APPOINTMENT, ResourceType.PRACTITIONER_ROLE,
     ResourceType.DEVICE, ResourceType.PROVENANCE}
)  # fmt: skip


class InputKind(StrEnum):
    """One kind of input file; its value is its key in `mappings/columns.yaml`."""

    SITES = "sites"
    STAFF = "staff"
    PATIENTS = "patients"
    CARE_TEAM = "care_team"
    HANDOFFS = "handoffs"
    ENROLLMENTS = "enrollments"
    CONTACTS = "contacts"

    @property
    def resource_type(self) -> ResourceType:
        """The resource type a record of this kind becomes (its main one: a handoff also makes a Task)."""
        return _RESOURCE_OF_KIND[self]

    @property
    def resource_types(self) -> tuple[ResourceType, ...]:
        """Every resource type a record of this kind can become, in write order."""
        return _RESOURCES_OF_KIND.get(self, (self.resource_type,))


_RESOURCE_OF_KIND: dict[InputKind, ResourceType] = {
    InputKind.SITES: ResourceType.ORGANIZATION,
    InputKind.STAFF: ResourceType.PRACTITIONER,
    InputKind.PATIENTS: ResourceType.PATIENT,
    InputKind.CARE_TEAM: ResourceType.CARE_TEAM,
    InputKind.HANDOFFS: ResourceType.SERVICE_REQUEST,
    InputKind.ENROLLMENTS: ResourceType.EPISODE_OF_CARE,
    InputKind.CONTACTS: ResourceType.ENCOUNTER,
}
_RESOURCES_OF_KIND: dict[InputKind, tuple[ResourceType, ...]] = {
    InputKind.STAFF: (ResourceType.PRACTITIONER, ResourceType.PRACTITIONER_ROLE),
    InputKind.HANDOFFS: (ResourceType.SERVICE_REQUEST, ResourceType.TASK),
    InputKind.CONTACTS: (ResourceType.APPOINTMENT, ResourceType.ENCOUNTER),
}


class Stage(StrEnum):
    """Where a record was stopped."""

    INPUT = "input"  # the row itself (a bad required cell, a duplicate key)
    REFERENCE = "reference"  # it points at a record that is neither in the export nor on the server
    MAPPING = "mapping"  # the resource fhirpeer built failed its own R4 checks (a fhirpeer bug)
    SERVER = "server"  # the server refused it


class Outcome(StrEnum):
    """What a run did with one record; the report counts these per resource type."""

    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"  # an EHR resource found on the server and pointed at, never written
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"  # left alone: someone else changed it, or it is not fhirpeer's
    CHANGED_BY_RECEIVER = "changed_by_receiver"  # a referral's receiver moved it on: left alone, as it should be
    FAILED = "failed"
    SKIPPED = "skipped"
    VALID = "valid"  # offline (`fhirpeer validate`): passed every check, nothing sent
    RETRACTED = "retracted"  # absent from a declared full export: marked entered-in-error on the server
    ONLY_IF_EXISTS = "only_if_exists"  # offline: valid, sent only when the server already holds its key


#: Outcomes that put (or leave) a record on the server.
ON_SERVER_OUTCOMES: frozenset[Outcome] = frozenset(
    {Outcome.CREATED, Outcome.UPDATED, Outcome.LINKED, Outcome.UNCHANGED, Outcome.CHANGED_BY_RECEIVER}
)


class WriteStrategy(StrEnum):
    """How fhirpeer writes one resource type; members in order of preference."""

    TRANSACTION = "transaction"
    BATCH = "batch"
    CONDITIONAL_PUT = "conditional_put"
    SEARCH_THEN_WRITE = "search_then_write"
    CLIENT_ID_PUT = "client_id_put"


class OwnershipPolicy(StrEnum):
    """Who owns a kind of master data (Patient, Practitioner, Organization) on the server."""

    LINK = "link"  # the EHR: find its resource by identifier and point at it; never write it
    CREATE_IF_ABSENT = "create_if_absent"  # the EHR, but fhirpeer creates what is missing (and updates only that)
    OWN = "own"  # fhirpeer is the system of record (a program-owned server): it replaces what matches


class ConflictPolicy(StrEnum):
    """What to do with a resource fhirpeer wrote that was changed on the server since."""

    SKIP = "skip"
    OVERWRITE = "overwrite"


@dataclass(frozen=True)
class Source:
    """Where a record came from: enough to find it again, nothing of its content."""

    file: str
    line: int


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be synced, and why (file, physical line, key, column — never a cell value)."""

    file: str
    line: int
    id: str | None
    column: str | None
    reason: str
    resource_type: ResourceType
    stage: Stage = Stage.INPUT

    def as_report(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "id": self.id,
            "column": self.column,
            "reason": self.reason,
            "resourceType": str(self.resource_type),
            "stage": str(self.stage),
        }

    @property
    def group(self) -> str:
        """What rejections are grouped by in summaries: the file and the reason."""
        return f"{self.file} {self.reason}"

    @property
    def where(self) -> str:
        """``staff.csv:2`` — the record's place, for messages that name a root cause."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Skipped:
    """A valid record that is deliberately not sent (a text contact, say), with the reason."""

    resource_type: ResourceType
    key: str
    reason: str
    file: str = ""

    @property
    def group(self) -> str:
        """What skipped records are counted by in summaries: the file and the reason."""
        return f"{self.file} {self.reason}" if self.file else self.reason


@dataclass(frozen=True)
class InputWarning:
    """Something worth a look that loses no record: a dropped optional cell, an unexpected file, records an
    earlier run synced that this export lacks (file, line when known, column — never a cell value). A warning
    about the server rather than a file has no file."""

    file: str | None
    line: int | None
    column: str | None
    reason: str

    def as_report(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}

    @property
    def group(self) -> str:
        """What warnings are grouped by in summaries: file, column and reason (not the line)."""
        return " ".join(p for p in (self.file, f"{self.column}:" if self.column else None, self.reason) if p)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        column = f" {self.column}:" if self.column else ""
        return f"{where}{column} {self.reason}".strip()


@dataclass(frozen=True)
class FileSummary:
    """How one input file was read: physical lines (header and blank lines included) → records → resources
    (care_team.csv: member rows → CareTeams), and the delimiter found."""

    file: str
    lines: int
    records: int
    resources: int | None = None  # only where records and resources differ (care teams)
    delimiter: str = ","

    def as_report(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"file": self.file, "lines": self.lines, "records": self.records}
        if self.resources is not None:
            doc["resources"] = self.resources
        doc["delimiter"] = self.delimiter
        return doc
