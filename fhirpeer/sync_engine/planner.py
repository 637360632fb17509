"""Planner: decide, per mapped resource, what the server must do — create, update, nothing, point at the EHR's
own resource, or leave alone — from the state store and, where the state cannot tell, what the server holds.

Ownership rules:
- Master data (Patient, Practitioner, Organization) follows the type's `OwnershipPolicy`: `link` finds the EHR's
  resource by identifier and points at it, never writing it (a key not found is rejected); `create_if_absent`
  (default) links to a resource fhirpeer did not write, creates one (a conditional create) when none matches and
  updates only what fhirpeer created; `own` makes fhirpeer the system of record (it replaces a match).
- Every other type: a first write whose key matches a resource fhirpeer did not write is a conflict, left alone.
- What fhirpeer wrote carries its `meta.tag`, so a rerun that lost the state store adopts its own resources.

Addressing: resources fhirpeer owns go to a deterministic `Type/id` when the server accepts client ids (a retry
updates the same resource), else by conditional update on the identifier. An update of a resource fhirpeer wrote
carries If-Match on the version it wrote (conflict policy `skip`), so a change made on the server since is noticed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from ..bundles import WriteRequest
from ..content_hash import content_hash
from ..domain import ConflictPolicy, OwnershipPolicy, ResourceType
from ..mappers import MappedResource, match_url
from ..mappers.common import identifier_token
from ..mapping_files import Mappings
from ..transport.client import format_if_match
from .identity import is_owned, resource_id
from .outgoing import same_content
from .receiver import RECEIVER_KEPT, receiver_moved, requester_override, with_requester_status
from .server_lookup import Found, ServerLookup
from .state import OWNER_EHR, OWNER_FHIRPEER, OWNER_RECEIVER, StateStore, SyncedRow, Written


class Addressing(StrEnum):
    """How a resource fhirpeer creates gets its server id."""

    CLIENT_ID = "client_id"  # PUT Type/<deterministic id>
    CONDITIONAL = "conditional"  # PUT Type?identifier=system|key (the server assigns the id)
    SERVER_ID = "server_id"  # POST Type (no conditional update and no client ids: search first, then create)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"


@dataclass
class PlannedWrite:
    """One request the server must carry out for one resource."""

    item: MappedResource
    hash: str
    action: Action
    request: WriteRequest
    server_id: str | None = None  # the id the resource has (update) or gets (create with a client id)
    version_id: str | None = None  # the version fhirpeer last wrote or saw (sent as If-Match when set)
    body: dict[str, Any] | None = None  # sent instead of the mapped resource (the receiver's version, re-statused)
    prepared: dict[str, Any] | None = None  # what is sent, built ahead when every reference already resolved

    @property
    def resource_type(self) -> ResourceType:
        return self.item.resource_type

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def by_id(self) -> bool:
        """The request addresses `Type/id` (the body must carry that id)."""
        return self.request.url.startswith(f"{self.resource_type}/")

    def without_if_match(self, mappings: Mappings) -> WriteRequest:
        """The same write without If-Match (a retry after the resource was deleted, or `overwrite`)."""
        if self.by_id:
            return WriteRequest("PUT", f"{self.resource_type}/{self.server_id}")
        return WriteRequest("PUT", match_url(mappings, self.resource_type, self.key))


@dataclass
class Plan:
    """What one chunk of one type needs. `record` lists what the state store must learn without a write
    (resources adopted unchanged, EHR resources linked)."""

    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: list[MappedResource] = field(default_factory=list)
    linked: list[MappedResource] = field(default_factory=list)
    conflicts: list[tuple[MappedResource, str]] = field(default_factory=list)
    rejected: list[tuple[MappedResource, str]] = field(default_factory=list)
    skipped: list[tuple[MappedResource, str]] = field(default_factory=list)
    kept_by_receiver: list[tuple[MappedResource, str]] = field(default_factory=list)
    record: list[Written] = field(default_factory=list)


#: What fhirpeer would send for a mapped resource (references literal, its marks), to compare with the server's.
Intended = Callable[[MappedResource], dict[str, Any] | None]


@dataclass(frozen=True)
class PlannerConfig:
    """The per-run choices the planner applies."""

    ownership: dict[ResourceType, OwnershipPolicy]
    addressing: dict[ResourceType, Addressing]
    conflict_policy: ConflictPolicy = ConflictPolicy.SKIP
    owned_tag: dict[str, str] = field(default_factory=dict)


class Planner:
    """Plans chunks of one run. `lookup` is None in offline use (nothing is searched: the state store decides)."""

    def __init__(
        self,
        state: StateStore,
        lookup: ServerLookup | None,
        mappings: Mappings,
        config: PlannerConfig,
        intended: Intended,
    ):
        self.state = state
        self.lookup = lookup
        self.mappings = mappings
        self.config = config
        self.intended = intended
        self._search_needed: dict[ResourceType, bool] = {}

    # --- when must the server be asked? ------------------------------------------------------------------
    def search_needed(self, resource_type: ResourceType) -> bool:
        """Whether keys missing from the state store must be looked up on the server for this type.

        Master data always (it may be the EHR's). Other types only when the server holds resources with this
        type's identifier system that the state store does not account for (a lost store, a crash between a write
        and its record, or resources someone else wrote) — one count query per type and run."""
        if self.lookup is None:
            return False
        if resource_type.is_roster:
            return True
        if resource_type not in self._search_needed:
            held = self.lookup.count(resource_type, self.mappings.system_for(resource_type))
            self._search_needed[resource_type] = held is None or held > self.state.count_owned(resource_type)
        return self._search_needed[resource_type]

    # --- the plan ----------------------------------------------------------------------------------------
    def plan(self, items: Sequence[MappedResource], *, always_search: bool = False) -> Plan:
        """Plan resources of one type (the caller groups a chunk by type). With `always_search`, every key the
        state store does not know is searched on the server."""
        plan = Plan()
        if not items:
            return plan
        rtype = items[0].resource_type
        rows = self.state.lookup(rtype, (i.key for i in items))
        digests = {id(i): content_hash(i.resource) for i in items}
        unknown = [i for i in items if i.key not in rows]
        # a resource the receiver moved, whose row changed since: what does the receiver's version say now?
        moved = [i for i in items if i.key in rows and rows[i.key].owner == OWNER_RECEIVER
                 and rows[i.key].hash != digests[id(i)]]  # fmt: skip
        found = self._find_on_server(rtype, unknown, always=always_search)
        if moved and self.lookup is not None:
            found.update(self._find_on_server(rtype, moved, always=True))
        for item in items:
            digest, row = digests[id(item)], rows.get(item.key)
            if row is not None and row.owner == OWNER_RECEIVER and row.hash != digest:
                matches = found.get(item.key) or []
                if len(matches) == 1:
                    self._receivers(plan, item, digest, matches[0])
                else:
                    plan.writes.append(self._update(item, digest, row.server_id, row.version_id))
            elif row is not None:
                self._known(plan, item, digest, row)
            else:
                self._first_seen(plan, item, digest, found.get(item.key))
        return plan

    def _find_on_server(
        self, rtype: ResourceType, items: list[MappedResource], *, always: bool
    ) -> dict[str, list[Found]]:
        if not items or self.lookup is None or not (always or self.search_needed(rtype)):
            return {}
        found: dict[str, list[Found]] = {}
        by_system: dict[str, list[tuple[str, str]]] = {}
        for item in items:
            system, value = self.match_identifier(item)
            by_system.setdefault(system, []).append((item.key, value))
        for system, pairs in by_system.items():
            matches = self.lookup.find(rtype, system, [v for _, v in pairs]) if self.lookup else {}
            for key, value in pairs:
                found[key] = matches.get(value, [])
        return found

    def match_identifier(self, item: MappedResource) -> tuple[str, str]:
        """The identifier a resource is found by on the server: an NPI for a Practitioner that has one, else the
        business-key identifier."""
        if item.resource_type is ResourceType.PRACTITIONER:
            npi_system = self.mappings.identifiers.npi_system
            for ident in item.resource.get("identifier") or []:
                if ident.get("system") == npi_system and ident.get("value"):
                    return npi_system, ident["value"]
        return self.mappings.system_for(item.resource_type), item.key

    def _policy(self, rtype: ResourceType) -> OwnershipPolicy | None:
        return self.config.ownership.get(rtype, OwnershipPolicy.CREATE_IF_ABSENT) if rtype.is_roster else None

    def _known(self, plan: Plan, item: MappedResource, digest: str, row: SyncedRow) -> None:
        """A key the state store knows: fhirpeer wrote (or adopted) it, or linked it to the EHR's resource."""
        policy = self._policy(item.resource_type)
        if row.owner == OWNER_EHR or policy is OwnershipPolicy.LINK:
            plan.linked.append(item)
        elif row.hash == digest and row.owner == OWNER_RECEIVER:
            plan.kept_by_receiver.append((item, RECEIVER_KEPT))
        elif row.hash == digest:
            plan.unchanged.append(item)
        else:
            plan.writes.append(self._update(item, digest, row.server_id, row.version_id))

    def _first_seen(self, plan: Plan, item: MappedResource, digest: str, matches: list[Found] | None) -> None:
        """A key the state store does not know: what the server holds decides."""
        rtype, policy = item.resource_type, self._policy(item.resource_type)
        matches = matches or []
        if len(matches) > 1:
            system, value = self.match_identifier(item)
            plan.rejected.append((item, self._duplicate_reason(rtype, system, value, len(matches))))
            return
        if matches:
            self._adopt_or_link(plan, item, digest, matches[0], policy)
            return
        if item.only_if_exists:
            plan.skipped.append((item, f"no {rtype} was sent for this key before: nothing to update"))
        elif policy is OwnershipPolicy.LINK:
            system, value = self.match_identifier(item)
            plan.rejected.append(
                (item, f"no {rtype} with identifier {system}|{value} on the server (ownership policy link: "
                       "fhirpeer points at the EHR's record and never creates one); it lands once the EHR has it")
            )  # fmt: skip
        else:
            plan.writes.append(self._create(item, digest, policy))

    def _adopt_or_link(
        self, plan: Plan, item: MappedResource, digest: str, match: Found, policy: OwnershipPolicy | None
    ) -> None:
        ours = is_owned(match.resource, self.config.owned_tag) if self.config.owned_tag else True
        rtype = item.resource_type
        if policy is OwnershipPolicy.LINK or (not ours and policy is OwnershipPolicy.CREATE_IF_ABSENT):
            plan.linked.append(item)
            plan.record.append(Written(rtype, item.key, digest, match.id, match.version_id, OWNER_EHR))
        elif ours or policy is OwnershipPolicy.OWN:
            intended = self.intended(item)
            if ours and intended is not None and same_content(match.resource, intended):
                plan.unchanged.append(item)
                plan.record.append(Written(rtype, item.key, digest, match.id, match.version_id, OWNER_FHIRPEER))
            elif ours and intended is not None and receiver_moved(self.mappings, rtype, match.resource, intended):
                self._receivers(plan, item, digest, match)
            else:
                plan.writes.append(self._update(item, digest, match.id, match.version_id))
        else:
            plan.conflicts.append(
                (item, f"a {rtype} with this key is on the server (id {match.id}) and was not written by fhirpeer; "
                       "left alone")
            )  # fmt: skip

    def _receivers(self, plan: Plan, item: MappedResource, digest: str, match: Found) -> None:
        """The receiver moved this resource: leave it — unless fhirpeer's row cancels or retracts it, which the
        requester may always do (only the status is set on the receiver's version)."""
        intended = self.intended(item) or item.resource
        current = match.resource.get("status")
        if not receiver_moved(self.mappings, item.resource_type, match.resource, intended):
            plan.unchanged.append(item)
            plan.record.append(
                Written(item.resource_type, item.key, digest, match.id, match.version_id, OWNER_RECEIVER)
            )
        elif requester_override(self.mappings, item.resource_type, intended):
            write = self._update(item, digest, match.id, match.version_id)
            write.body = with_requester_status(match.resource, intended)
            plan.writes.append(write)
        else:
            plan.kept_by_receiver.append((item, f"changed by the receiver (now {current}); left alone"))
            plan.record.append(
                Written(item.resource_type, item.key, digest, match.id, match.version_id, OWNER_RECEIVER)
            )

    def _update(self, item: MappedResource, digest: str, server_id: str | None, version: str | None) -> PlannedWrite:
        rtype = item.resource_type
        if server_id is None:  # adopted by an older store without ids: find it by identifier
            return PlannedWrite(
                item, digest, Action.UPDATE, WriteRequest("PUT", match_url(self.mappings, rtype, item.key))
            )
        if self.config.conflict_policy is ConflictPolicy.OVERWRITE or version is None:
            return PlannedWrite(item, digest, Action.UPDATE, WriteRequest("PUT", f"{rtype}/{server_id}"), server_id)
        request = WriteRequest("PUT", f"{rtype}/{server_id}", if_match=format_if_match(version))
        return PlannedWrite(item, digest, Action.UPDATE, request, server_id, version)

    def _create(self, item: MappedResource, digest: str, policy: OwnershipPolicy | None) -> PlannedWrite:
        rtype = item.resource_type
        if policy is OwnershipPolicy.CREATE_IF_ABSENT:
            # a conditional create: an EHR record that appeared since the search is found, not duplicated
            system, value = self.match_identifier(item)
            request = WriteRequest(
                "POST", str(rtype), if_none_exist=f"identifier={identifier_token(system, _q(value))}"
            )
            return PlannedWrite(item, digest, Action.CREATE, request)
        addressing = self.config.addressing.get(rtype, Addressing.CONDITIONAL)
        if addressing is Addressing.CLIENT_ID:
            sid = resource_id(self.mappings.identifiers.namespace, rtype, item.key)
            return PlannedWrite(item, digest, Action.CREATE, WriteRequest("PUT", f"{rtype}/{sid}"), sid)
        if addressing is Addressing.SERVER_ID:
            return PlannedWrite(item, digest, Action.CREATE, WriteRequest("POST", str(rtype)))
        return PlannedWrite(item, digest, Action.CREATE, WriteRequest("PUT", match_url(self.mappings, rtype, item.key)))

    @staticmethod
    def _duplicate_reason(rtype: ResourceType, system: str, value: str, count: int) -> str:
        return (
            f"duplicate data on the server: {count} {rtype} resources carry identifier {system}|{value}; "
            "fhirpeer does not guess which one is meant — remove the extra copies, then rerun"
        )


def _q(value: str) -> str:
    """A value as it goes in a match URL (the same encoding as `match_url`)."""
    return quote(value, safe="-._~:/")
