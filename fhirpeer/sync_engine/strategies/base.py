"""What every write strategy shares: the interface, the outcome of one write, and how refusals and If-Match
conflicts are explained.

A strategy sends planned writes (each already carrying its request: `PUT Type/id`, a conditional update or a
conditional create, with If-Match where it applies) through one client, grouped its own way, and reports after
each server round trip what happened to each of them (`on_done`). Only temporary failures that outlived the
retry budget, lost connectivity and refused credentials stop the run; everything the server refuses for one
record becomes that record's outcome.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ...bundles import entry, full_url
from ...domain import Outcome, WriteStrategy
from ...errors import FatalError, OutcomeIssue
from ...mappers import Ref
from ...mapping_files import Mappings
from ...transport.client import FhirClient, WriteResult, parse_etag, parse_location
from ...transport.operation_outcome import hapi_message_codes, parse_operation_outcome, summarize_issues
from ..identity import is_owned
from ..outgoing import Outgoing, same_content
from ..planner import Action, Addressing, PlannedWrite
from ..receiver import receiver_moved, requester_override, with_requester_status
from ..resolver import ReferenceResolver


@dataclass
class WriteOutcome:
    """What happened to one planned write. LINKED: a conditional create found the EHR's resource."""

    write: PlannedWrite
    result: Outcome  # CREATED | UPDATED | LINKED | FAILED | CONFLICT
    server_id: str | None = None
    version_id: str | None = None
    reason: str = ""
    receiver: bool = False  # the write set fhirpeer's status on a version the receiver had moved
    provenance_recorded: bool = False  # its Provenance was in the same transaction (none is sent after it)


OnDone = Callable[[list[WriteOutcome]], None]


class BundleProvenance(Protocol):
    """Provenance written inside the transaction whose writes it records (atomic with them)."""

    def covers(self, w: PlannedWrite) -> bool:
        """Whether this write's Provenance can go in its own transaction: it lands as planned when the
        transaction commits (`PUT Type/id`; a conditional create may find the EHR's record instead)."""
        ...

    def entries(self, writes: Sequence[PlannedWrite]) -> list[dict[str, Any]]:
        """The Provenance Bundle entries (one per activity) for the covered writes among `writes`."""
        ...

    def refused_in_bundle(self) -> None:
        """The server took a write but refused it with its Provenance: for the rest of the run, Provenance goes
        after the writes (its refusal then is a warning, not the cause of a split Bundle each time)."""
        ...


#: Statuses a server answers a stale If-Match with: 412 (FHIR RESTful API), 409 (HAPI FHIR, HAPI-0989).
VERSION_CONFLICT_STATUSES = frozenset({409, 412})
#: HAPI's codes for a conditional reference inside a transaction that matches several resources: HAPI-1092 in
#: HAPI's documentation, HAPI-2207 in what HAPI 8.8 answers (tests/fixtures/http/hapi/, captured).
CONDITIONAL_REFERENCE_MATCHED_TWICE = frozenset({"HAPI-1092", "HAPI-2207"})


class Strategy(ABC):
    """Sends PlannedWrites through one client (one instance per worker thread)."""

    name: ClassVar[WriteStrategy]
    #: Every key without a state row is searched on the server before it is written (not just when the server
    #: holds more than the state store knows).
    always_search: ClassVar[bool] = False
    #: One all-or-nothing request may hold writes of several types (written in write order), so consecutive
    #: types of a chunk share full Bundles instead of a Bundle each; it also carries their Provenance.
    mixes_types: ClassVar[bool] = False

    @classmethod
    def addressing(cls, client_ids: bool) -> Addressing:
        """How resources this strategy creates are addressed, given whether the server takes client ids."""
        return Addressing.CLIENT_ID if client_ids else Addressing.CONDITIONAL

    def __init__(
        self,
        client: FhirClient,
        mappings: Mappings,
        resolver: ReferenceResolver,
        outgoing: Outgoing,
        *,
        batch_size: int = 200,
        provenance: BundleProvenance | None = None,
    ):
        self.client = client
        self.mappings = mappings
        self.resolver = resolver
        self.outgoing = outgoing
        self.batch_size = batch_size
        self.provenance = provenance

    @abstractmethod
    def write(self, writes: Sequence[PlannedWrite], on_done: OnDone) -> None:
        """Write everything, calling `on_done` after each server round trip with its outcomes."""

    # --- shared pieces ---------------------------------------------------------------------------------
    def body(self, w: PlannedWrite, *, require_literal: bool) -> dict[str, Any] | None:
        """The resource as sent (None when a reference cannot be made literal and must be)."""
        if w.body is not None:
            return {**w.body, "id": w.server_id} if w.by_id else w.body
        if w.prepared is not None:
            return w.prepared
        return self.outgoing.resource(w.item, require_all=require_literal, body_id=w.server_id if w.by_id else None)

    def bundle_entry(self, w: PlannedWrite, *, require_literal: bool) -> dict[str, Any] | None:
        """The Bundle entry for a write (None when a reference cannot be made literal and must be)."""
        resource = self.body(w, require_literal=require_literal)
        if resource is None:
            return None
        return entry(resource, w.request, full_url(w.resource_type, w.key, self.mappings.identifiers.namespace))

    def entry_outcome(self, w: PlannedWrite, e: dict[str, Any]) -> WriteOutcome:
        """The outcome of one entry of a transaction- or batch-response Bundle."""
        resp = e.get("response") or {}
        status = entry_status(e)
        _, sid, version = parse_location(resp.get("location"))
        if status >= 400:
            issues = parse_operation_outcome(resp.get("outcome")) if resp.get("outcome") else []
            return WriteOutcome(w, Outcome.FAILED, reason=self.refusal_reason(w, status, issues))
        return self.success(w, status, sid or w.server_id, version or parse_etag(resp.get("etag")))

    def from_write_result(self, w: PlannedWrite, res: WriteResult) -> WriteOutcome:
        return self.success(w, res.status, res.id or w.server_id, res.version_id)

    def success(self, w: PlannedWrite, status: int, server_id: str | None, version: str | None) -> WriteOutcome:
        """A 2xx answer. A conditional create answered 200 found a resource that already matched: fhirpeer's own
        (a retry after a lost response) or the EHR's (created since fhirpeer looked) — read it to tell which."""
        if w.request.if_none_exist and status == 200 and server_id:
            current = self.client.read(w.resource_type, server_id)
            if current is not None and not is_owned(current, self.outgoing.owned_tag):
                return WriteOutcome(w, Outcome.LINKED, server_id, (current.get("meta") or {}).get("versionId"))
            return WriteOutcome(w, Outcome.CREATED, server_id, version)
        if w.action is Action.CREATE:
            result = Outcome.CREATED if status == 201 or w.request.if_none_exist else Outcome.UPDATED
        else:
            result = Outcome.CREATED if status == 201 else Outcome.UPDATED
        return WriteOutcome(w, result, server_id, version)

    def refused(self, w: PlannedWrite, exc: FatalError) -> WriteOutcome:
        """The outcome of a write the server refused on its own (not inside a Bundle)."""
        if self.if_match_failed(w, exc.status):
            return self.resolve_conflict(w)
        return WriteOutcome(w, Outcome.FAILED, reason=self.refusal_reason(w, exc.status, exc.issues))

    def if_match_failed(self, w: PlannedWrite, status: int | None) -> bool:
        """`PUT Type/id` with If-Match refused because the version changed (not a duplicate identifier).

        The FHIR spec answers 412; HAPI FHIR answers 409 (HAPI-0989, "version conflict")."""
        return status in VERSION_CONFLICT_STATUSES and bool(w.request.if_match)

    def refusal_reason(self, w: PlannedWrite, status: int | None, issues: list[OutcomeIssue]) -> str:
        """Why the server refused one record, in words a program coordinator can act on (no PHI beyond the
        record's own business key, which the report carries anyway)."""
        codes = hapi_message_codes(issues)
        detail = _issues_text(issues)
        if status == 412 and codes & CONDITIONAL_REFERENCE_MATCHED_TWICE:
            columns = ", ".join(dict.fromkeys(r.column for r in w.item.refs)) or "a reference"
            return (
                f"duplicate data on the server: a record this {w.resource_type} points at ({columns}) is "
                f"held more than once there; remove the extra copies, then rerun{detail}"
            )
        if status == 412:
            return (
                f"duplicate data on the server: more than one {w.resource_type} carries business key "
                f"{w.key} (identifier {self.mappings.system_for(w.resource_type)}); fhirpeer does not guess "
                f"which one to update — remove the extra copies, then rerun{detail}"
            )
        if status == 404 and ("HAPI-1091" in codes or self._unresolved_refs(w)):
            refs = self._unresolved_refs(w) or list(w.item.refs)
            named = ", ".join(dict.fromkeys(f"{r.column} → {r.resource_type}" for r in refs))
            return f"a referenced record was not found on the server ({named or 'a reference'}){detail}"
        return f"server refused: HTTP {status}{detail}"

    def _unresolved_refs(self, w: PlannedWrite) -> list[Ref]:
        """The references of a write that fhirpeer could not make literal (sent as conditional references)."""
        return [r for r in w.item.refs if not self.resolver.known(r.resource_type, r.key)]

    def resolve_conflict(self, w: PlannedWrite) -> WriteOutcome:
        """If-Match failed: the server's version is not the one fhirpeer wrote. Was the newer version ours (a write
        whose response was lost), is the resource gone, or did someone else change it?"""
        if w.server_id is None:
            raise ValueError("resolve_conflict needs a write to a known server id")
        current = self.client.read(w.resource_type, w.server_id)
        intended = self.body(w, require_literal=False) or w.item.resource
        if current is None:
            res = self.client.put(f"{w.resource_type}/{w.server_id}", intended)
            return self.from_write_result(w, res)
        version = (current.get("meta") or {}).get("versionId")
        if same_content(current, intended):
            return WriteOutcome(w, Outcome.UPDATED, w.server_id, version)
        if receiver_moved(self.mappings, w.resource_type, current, intended):
            return self._receiver_moved(w, current, intended, version)
        return WriteOutcome(
            w, Outcome.CONFLICT, w.server_id, None,
            reason=f"changed on the server since fhirpeer wrote version {w.version_id} (now {version}); left alone",
        )  # fmt: skip

    def _receiver_moved(
        self, w: PlannedWrite, current: dict[str, Any], intended: dict[str, Any], version: str | None
    ) -> WriteOutcome:
        """The receiver moved the referral on: leave it, unless fhirpeer cancels or retracts it (then only the
        status is set, on the receiver's version)."""
        if not requester_override(self.mappings, w.resource_type, intended):
            reason = f"changed by the receiver (now {current.get('status')}); left alone"
            return WriteOutcome(w, Outcome.CHANGED_BY_RECEIVER, w.server_id, version, reason)
        body = with_requester_status(current, intended)
        try:
            res = self.client.put(f"{w.resource_type}/{w.server_id}", body, if_match=version)
        except FatalError as exc:
            return WriteOutcome(w, Outcome.CONFLICT, w.server_id, None, self.refusal_reason(w, exc.status, exc.issues))
        return WriteOutcome(w, Outcome.UPDATED, res.id or w.server_id, res.version_id, receiver=True)


class SingleRequestStrategy(Strategy):
    """A strategy that sends one request per resource; subclasses say how a resource without a known id is
    written."""

    def write(self, writes: Sequence[PlannedWrite], on_done: OnDone) -> None:
        for w in writes:
            on_done([self._one(w)])

    def _one(self, w: PlannedWrite) -> WriteOutcome:
        resource = self.body(w, require_literal=True)
        if resource is None:
            return WriteOutcome(w, Outcome.FAILED, reason="a referenced record is not on the server")
        try:
            res = self.send(w, resource)
        except FatalError as exc:
            return self.refused(w, exc)
        return self.from_write_result(w, res)

    def send(self, w: PlannedWrite, resource: dict[str, Any]) -> WriteResult:
        """The planned request as one HTTP call."""
        request = w.request
        if request.method == "POST":
            return self.client.post(str(w.resource_type), resource, if_none_exist=request.if_none_exist)
        return self.client.put(request.url, resource, if_match=request.if_match)


def entry_status(e: dict[str, Any]) -> int:
    """The HTTP status of a transaction/batch response entry (``"412 Precondition Failed"`` → 412)."""
    text = str((e.get("response") or {}).get("status", "0")).split()
    return int(text[0]) if text and text[0].isdigit() else 0


def _issues_text(issues: list[OutcomeIssue]) -> str:
    text = summarize_issues(issues)
    return f" ({text})" if text else ""
