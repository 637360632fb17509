"""Writer: send planned writes to the server with the chosen strategy and say what happened to each.

Strategies (see `capabilities.py` for how one is chosen):
- transaction: Bundles of conditional PUTs. A refused Bundle is split in halves and retried until the
  refused entries are isolated, so every good record still lands.
- batch: Bundles whose entries succeed or fail one by one.
- conditional_put: one `PUT Type?identifier=…` per resource.
- search_then_write: search by identifier, then `PUT Type/id` or `POST` (no conditional update).
- client_id_put: `PUT Type/<id derived from the key>` (no identifier search; needs update-as-create).

Only temporary failures that outlived the retry budget, lost connectivity and refused credentials stop
the run; everything the server refuses for one record becomes that record's outcome.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .bundles import bundle, entry, full_url
from .client import FhirClient, parse_location
from .errors import FatalError, OutcomeIssue
from .mappers import Ref
from .mappings import Mappings
from .outcome import parse_operation_outcome, summarize_issues
from .planner import PlannedWrite
from .resolver import ReferenceResolver
from .state import content_hash

log = logging.getLogger("fhirpeer.writer")

_HAPI_CODE = re.compile(r"\bHAPI-\d{4}\b")

STRATEGIES = ("transaction", "batch", "conditional_put", "search_then_write", "client_id_put")


@dataclass
class WriteOutcome:
    write: PlannedWrite
    result: str  # created | updated | failed | conflict
    server_id: str | None = None
    version_id: str | None = None
    reason: str = ""


class Writer:
    """Sends PlannedWrites with one strategy through one client (one writer per worker thread)."""

    def __init__(
        self,
        client: FhirClient,
        mappings: Mappings,
        resolver: ReferenceResolver,
        *,
        strategy: str = "transaction",
        batch_size: int = 200,
        conflict_policy: str = "skip",
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy}")
        self.client = client
        self.mappings = mappings
        self.resolver = resolver
        self.strategy = strategy
        self.batch_size = batch_size
        self.conflict_policy = conflict_policy

    def write(
        self,
        writes: Sequence[PlannedWrite],
        on_done: Callable[[list[WriteOutcome]], None],
        strategy: str | None = None,
    ) -> None:
        """Write everything, calling `on_done` after each server round trip with its outcomes."""
        if strategy is not None and strategy != self.strategy:
            if strategy not in STRATEGIES:
                raise ValueError(f"unknown strategy {strategy}")
            self.strategy = strategy
        if self.strategy in ("transaction", "batch"):
            for start in range(0, len(writes), self.batch_size):
                chunk = list(writes[start : start + self.batch_size])
                if self.strategy == "transaction":
                    self._transaction(chunk, on_done)
                else:
                    on_done(self._batch(chunk))
        else:
            for w in writes:
                on_done([self._single(w)])

    # --- transaction ---------------------------------------------------------------------------
    def _transaction(self, writes: list[PlannedWrite], on_done: Callable[[list[WriteOutcome]], None]) -> None:
        entries = [self._entry(w, require_literal=False) for w in writes]
        try:
            response = self.client.transaction(bundle(entries, "transaction"))
        except FatalError as exc:
            if len(writes) == 1:
                on_done([self._refused_single(writes[0], exc)])
                return
            log.info("transaction of %d refused (HTTP %s); splitting to find the refused entries",
                     len(writes), exc.status)  # fmt: skip
            half = len(writes) // 2
            self._transaction(writes[:half], on_done)
            self._transaction(writes[half:], on_done)
            return
        on_done([self._from_entry_response(w, e) for w, e in zip(writes, response.get("entry") or [], strict=False)])

    def _entry(self, w: PlannedWrite, *, require_literal: bool) -> dict[str, Any]:
        resource = self.resolver.literal(w.item, require_all=require_literal) or w.item.resource
        request = w.request(self.mappings, if_match=self.conflict_policy == "skip")
        if request.url.startswith(f"{w.resource_type}/"):
            resource = {**resource, "id": w.server_id}
        return entry(resource, request, full_url(w.resource_type, w.key, self.mappings.identifiers.namespace))

    def _from_entry_response(self, w: PlannedWrite, e: dict[str, Any]) -> WriteOutcome:
        resp = e.get("response") or {}
        status = _entry_status(e)
        _, sid, version = parse_location(resp.get("location"))
        if version is None and resp.get("etag"):
            version = str(resp["etag"]).removeprefix("W/").strip('"') or None
        if status >= 400:
            issues = parse_operation_outcome(resp.get("outcome")) if resp.get("outcome") else []
            return WriteOutcome(w, "failed", reason=self._refusal_reason(w, status, issues))
        result = "created" if status == 201 else "updated"
        return WriteOutcome(w, result, sid or w.server_id, version)

    # --- batch -----------------------------------------------------------------------------------
    def _batch(self, writes: list[PlannedWrite]) -> list[WriteOutcome]:
        ready: list[PlannedWrite] = []
        outcomes: list[WriteOutcome] = []
        for w in writes:
            if self.resolver.literal(w.item, require_all=True) is None:
                outcomes.append(WriteOutcome(w, "failed", reason="a referenced record is not on the server"))
            else:
                ready.append(w)
        if not ready:
            return outcomes
        response = self.client.batch(bundle([self._entry(w, require_literal=True) for w in ready], "batch"))
        for w, e in zip(ready, response.get("entry") or [], strict=False):
            outcome = self._from_entry_response(w, e)
            if outcome.result == "failed" and self._if_match_failed(w, _entry_status(e)):
                outcome = self._resolve_conflict(w)
            outcomes.append(outcome)
        return outcomes

    # --- one request per resource ----------------------------------------------------------------
    def _single(self, w: PlannedWrite) -> WriteOutcome:
        resource = self.resolver.literal(w.item, require_all=True)
        if resource is None:
            return WriteOutcome(w, "failed", reason="a referenced record is not on the server")
        try:
            if self.strategy == "conditional_put" or (w.server_id and self.conflict_policy == "skip"):
                request = w.request(self.mappings, if_match=self.conflict_policy == "skip")
                if request.url.startswith(f"{w.resource_type}/"):
                    resource = {**resource, "id": w.server_id}
                res = self.client.put(request.url, resource, if_match=request.if_match)
            elif self.strategy == "client_id_put":
                sid = w.server_id or client_id(self.mappings.identifiers.namespace, w.resource_type, w.key)
                res = self.client.put(f"{w.resource_type}/{sid}", {**resource, "id": sid})
            else:
                res = self._search_then_write(w, resource)
        except FatalError as exc:
            return self._refused_single(w, exc)
        result = "created" if res.status == 201 else "updated"
        return WriteOutcome(w, result, res.id or w.server_id, res.version_id)

    def _search_then_write(self, w: PlannedWrite, resource: dict[str, Any]) -> Any:
        system = self.mappings.system_for(w.resource_type)
        found = [
            r["id"]
            for r in self.client.search(w.resource_type, [("identifier", f"{system}|{w.key}")])
            if any(i.get("system") == system and i.get("value") == w.key for i in r.get("identifier", []))
        ]
        if len(found) > 1:
            raise FatalError(f"{len(found)} resources on the server have this identifier", status=412)
        if found:
            return self.client.put(f"{w.resource_type}/{found[0]}", {**resource, "id": found[0]})
        return self.client.post(w.resource_type, resource)

    # --- refusals and conflicts ------------------------------------------------------------------
    def _refused_single(self, w: PlannedWrite, exc: FatalError) -> WriteOutcome:
        if self._if_match_failed(w, exc.status):
            return self._resolve_conflict(w)
        return WriteOutcome(w, "failed", reason=self._refusal_reason(w, exc.status, exc.issues))

    def _if_match_failed(self, w: PlannedWrite, status: int | None) -> bool:
        """A 412 on `PUT Type/id` with If-Match: the version changed (not a duplicate identifier)."""
        return status == 412 and bool(w.server_id and w.version_id) and self.conflict_policy == "skip"

    def _refusal_reason(self, w: PlannedWrite, status: int | None, issues: list[OutcomeIssue]) -> str:
        """Why the server refused one record, in words a program coordinator can act on (no PHI beyond the
        record's own business key, which the report carries anyway)."""
        codes = _hapi_codes(issues)
        detail = _issues_text(issues)
        if status == 412 and "HAPI-1092" in codes:
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

    def _resolve_conflict(self, w: PlannedWrite) -> WriteOutcome:
        """If-Match failed: the server's version is not the one fhirpeer wrote. Was the newer version
        ours (a write whose response was lost), is the resource gone, or did someone else change it?"""
        assert w.server_id is not None
        current = self.client.read(w.resource_type, w.server_id)
        if current is None:
            res = self.client.put(w.request(self.mappings, if_match=False).url, self._literal(w))
            return WriteOutcome(w, "created" if res.status == 201 else "updated", res.id, res.version_id)
        version = (current.get("meta") or {}).get("versionId")
        if same_content(current, self._literal(w)):
            return WriteOutcome(w, "updated", w.server_id, version)
        return WriteOutcome(
            w, "conflict", w.server_id, None,
            reason=f"changed on the server since fhirpeer wrote version {w.version_id} (now {version}); "
            "left alone",
        )  # fmt: skip

    def _literal(self, w: PlannedWrite) -> dict[str, Any]:
        return self.resolver.literal(w.item) or w.item.resource


def same_content(server_resource: dict[str, Any], intended: dict[str, Any]) -> bool:
    """Compare ignoring what the server adds (id, versionId, lastUpdated, source, narrative)."""
    return content_hash(_normalise(server_resource)) == content_hash(_normalise(intended))


def _normalise(resource: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k not in ("id", "text")}
    meta = {k: v for k, v in (out.get("meta") or {}).items() if k not in ("versionId", "lastUpdated", "source")}
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


def client_id(namespace: str, resource_type: str, key: str) -> str:
    """A deterministic, alphanumeric (never purely numeric) id for a business key."""
    return "fp" + hashlib.sha256(f"{namespace}|{resource_type}|{key}".encode()).hexdigest()[:40]


def _entry_status(e: dict[str, Any]) -> int:
    """The HTTP status of a transaction/batch response entry (``"412 Precondition Failed"`` → 412)."""
    text = str((e.get("response") or {}).get("status", "0")).split()
    return int(text[0]) if text and text[0].isdigit() else 0


def _hapi_codes(issues: list[OutcomeIssue]) -> set[str]:
    return {code for i in issues for code in _HAPI_CODE.findall(i.diagnostics or "")}


def _issues_text(issues: list[OutcomeIssue]) -> str:
    text = summarize_issues(issues)
    return f" ({text})" if text else ""
