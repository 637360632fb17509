"""A Provenance per written Bundle: what it created or updated (targets), fhirpeer's Device as the agent, the
activity, when. Collected from the writers' round trips and sent by the main thread after each type's writes (a
Provenance points at resources that exist). Never more than references: no PHI."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .._version import __version__
from ..content_hash import content_hash
from ..domain import Outcome, ResourceType
from ..errors import FatalError
from ..mappers.provenance import map_device, map_provenance
from ..mapping_files import Mappings
from ..transport.client import FhirClient
from .identity import resource_id
from .outgoing import Outgoing
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

    def _send(self, activity: str, targets: list[str]) -> None:
        m, client = self.ctx.mappings, self.ctx.client
        device = self._device or self._write_device()
        resource = map_provenance(m, targets=targets, activity=activity, recorded=self.clock(), device=device,
                                  part2=self.ctx.part2_labels)  # fmt: skip
        resource["meta"] = {
            **resource.get("meta", {}),
            "tag": [self.outgoing.owned_tag],
            "source": self.outgoing.source,
        }
        self._sent += 1
        try:
            if self.ctx.client_ids.get(ResourceType.PROVENANCE, False):
                pid = resource_id(m.identifiers.namespace, "Provenance", f"{self.ctx.run_id}/{self._sent}")
                client.put(f"Provenance/{pid}", {**resource, "id": pid})
            else:
                client.post("Provenance", resource, idempotent=False)
        except FatalError as exc:
            self.warnings.append(f"Provenance for {len(targets)} resource(s) refused by the server (HTTP {exc.status})")

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
