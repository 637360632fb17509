"""A Provenance per written Bundle: what it created or updated (targets), fhirpeer's Device as the agent, the
activity, when. Where the server takes client ids, it goes inside the transaction Bundle it records (`entries`:
`PUT Provenance/<id>`, committed with the writes or not at all, no request of its own); writes it cannot cover
that way (conditional creates, which may find the EHR's record instead of writing; other strategies) are collected
from the writers' round trips and sent by the main thread after them (a Provenance points at resources that
exist). Never more than references: no PHI."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._version import __version__
from ..bundles import full_url
from ..content_hash import content_hash
from ..domain import Outcome, ResourceType
from ..errors import FatalError
from ..mappers.provenance import map_device, map_provenance
from ..mapping_files import Mappings
from ..transport.client import FhirClient
from .identity import resource_id
from .outgoing import Outgoing
from .planner import Action, PlannedWrite
from .state import StateStore, Written
from .strategies import WriteOutcome

#: Most targets one Provenance names (a Bundle's worth).
MAX_TARGETS = 500


@dataclass(frozen=True)
class ProvenanceTarget:
    """Where a run's Provenance goes and what it needs to know."""

    client: FhirClient
    mappings: Mappings
    state: StateStore
    run_id: str
    part2_labels: bool
    client_ids: dict[ResourceType, bool]


class ProvenanceWriter:
    def __init__(
        self, ctx: ProvenanceTarget, outgoing: Outgoing, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ):
        self.ctx = ctx
        self.outgoing = outgoing
        self.clock = clock
        self._groups: list[tuple[str, list[str]]] = []  # (activity, targets) per round trip
        self._lock = threading.Lock()
        self._device: str | None = None
        self._sent = 0
        self._in_bundle = True
        self.warnings: list[str] = []

    def add(self, outcomes: list[WriteOutcome]) -> None:
        """Remember what one round trip wrote (called from writer threads)."""
        by_activity: dict[str, list[str]] = {}
        for o in outcomes:
            if o.server_id and o.result in (Outcome.CREATED, Outcome.UPDATED):
                activity = "create" if o.result is Outcome.CREATED else "update"
                by_activity.setdefault(activity, []).append(f"{o.write.resource_type}/{o.server_id}")
        with self._lock:
            self._groups.extend(by_activity.items())

    def flush(self) -> None:
        """Send a Provenance per remembered round trip (small ones merged up to MAX_TARGETS targets)."""
        with self._lock:
            groups, self._groups = self._groups, []
        merged: list[tuple[str, list[str]]] = []
        for activity, targets in groups:
            if merged and merged[-1][0] == activity and len(merged[-1][1]) + len(targets) <= MAX_TARGETS:
                merged[-1][1].extend(targets)
            else:
                merged.append((activity, list(targets)))
        for activity, targets in merged:
            self._send(activity, targets)

    # --- inside the transaction (writer threads) -----------------------------------------------------------
    def covers(self, w: PlannedWrite) -> bool:
        """A `PUT Type/id` lands as planned when its transaction commits, so its Provenance can go with it (a
        Provenance entry needs a client id too: a retried transaction must not create a second one)."""
        return (
            self._device is not None
            and self._in_bundle
            and self.ctx.client_ids.get(ResourceType.PROVENANCE, False)
            and w.by_id
        )

    def refused_in_bundle(self) -> None:
        """From now on, Provenance follows the writes (the server refused it inside a transaction)."""
        self._in_bundle = False

    def entries(self, writes: Sequence[PlannedWrite]) -> list[dict[str, Any]]:
        """`PUT Provenance/<id>` entries, one per activity, for the covered writes of one transaction; the
        activity is the planned one (the transaction that creates a resource is the one recorded)."""
        by_activity: dict[str, list[str]] = {}
        for w in writes:
            if self.covers(w):
                activity = "create" if w.action is Action.CREATE else "update"
                by_activity.setdefault(activity, []).append(f"{w.resource_type}/{w.server_id}")
        out = []
        for activity, targets in by_activity.items():
            pid, resource = self._numbered(activity, targets)
            request = {"method": "PUT", "url": f"Provenance/{pid}"}
            fullurl = full_url("Provenance", pid, self.ctx.mappings.identifiers.namespace)
            out.append({"fullUrl": fullurl, "resource": {**resource, "id": pid}, "request": request})
        return out

    # --- after the writes (main thread) ----------------------------------------------------------------------
    def ensure_device(self) -> None:
        """Write fhirpeer's Device before the first write of the run (Provenance entries point at it)."""
        if self._device is None:
            self._write_device()

    def _send(self, activity: str, targets: list[str]) -> None:
        client = self.ctx.client
        if self._device is None:
            self._write_device()
        pid, resource = self._numbered(activity, targets)
        try:
            if self.ctx.client_ids.get(ResourceType.PROVENANCE, False):
                client.put(f"Provenance/{pid}", {**resource, "id": pid})
            else:
                client.post("Provenance", resource, idempotent=False)
        except FatalError as exc:
            self.warnings.append(f"Provenance for {len(targets)} resource(s) refused by the server (HTTP {exc.status})")

    def _numbered(self, activity: str, targets: list[str]) -> tuple[str, dict[str, Any]]:
        """The next Provenance of the run: its id (from the run id and a counter, used where the server takes
        client ids) and the resource."""
        if self._device is None:
            raise RuntimeError("fhirpeer's Device is written before any Provenance")
        resource = map_provenance(self.ctx.mappings, targets=targets, activity=activity, recorded=self.clock(),
                                  device=self._device, part2=self.ctx.part2_labels)  # fmt: skip
        resource["meta"] = {
            **resource.get("meta", {}),
            "tag": [self.outgoing.owned_tag],
            "source": self.outgoing.source,
        }
        with self._lock:
            self._sent += 1
            n = self._sent
        return resource_id(self.ctx.mappings.identifiers.namespace, "Provenance", f"{self.ctx.run_id}/{n}"), resource

    def _write_device(self) -> str:
        """PUT fhirpeer's Device once per run (only when it changed) and return its reference."""
        m, client, state = self.ctx.mappings, self.ctx.client, self.ctx.state
        item = map_device(m, __version__)
        digest = content_hash(item.resource)
        row = state.lookup(ResourceType.DEVICE, [item.key]).get(item.key)
        if row is not None and row.hash == digest and row.server_id:
            self._device = f"Device/{row.server_id}"
            return self._device
        body = self.outgoing.resource(item) or item.resource
        if self.ctx.client_ids.get(ResourceType.DEVICE, False):
            did = row.server_id if row and row.server_id else resource_id(m.identifiers.namespace, "Device", item.key)
            res = client.put(f"Device/{did}", {**body, "id": did})
        else:
            res = client.put(f"Device?identifier={m.system_for(ResourceType.DEVICE)}|{item.key}", body)
        state.record_written([Written(ResourceType.DEVICE, item.key, digest, res.id, res.version_id)], self.ctx.run_id)
        self._device = f"Device/{res.id}"
        return self._device
