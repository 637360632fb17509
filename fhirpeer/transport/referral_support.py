"""What a server's CapabilityStatement says about closing the loop on warm handoffs. Pure functions, no HTTP.

Gravity's referral management (SDOH Clinical Care IG) works only if three parties can do their part:

* fhirpeer creates and updates the referral Task (``create`` / ``update`` on Task);
* the receiver finds the Tasks addressed to it — it polls ``Task?owner=<itself>``;
* ``fhirpeer outcomes`` reads the Tasks back by their ServiceRequest (``Task?focus=``), and asks only for what
  changed since its last run (``_lastUpdated``, on Task and on the other resources it reads).

``check-server`` shows the answers; ``sync`` and ``outcomes`` turn what is missing into warnings (never a failed
run: the loop degrades, the sync does not stop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .capabilities import ServerCapabilities

#: What `fhirpeer outcomes` searches with `_lastUpdated` to find what changed since its last run.
INCREMENTAL_TYPES = ("ServiceRequest", "Task", "Encounter", "EpisodeOfCare")


@dataclass(frozen=True)
class ReferralTaskSupport:
    """The server's declared support for referral Tasks and for reading outcomes back."""

    listed: bool
    create: bool
    update: bool
    search: bool
    by_focus: bool
    by_owner: bool
    by_last_updated: bool
    #: the types `fhirpeer outcomes` reads that cannot be searched by `_lastUpdated` (read in full every run)
    not_incremental: tuple[str, ...] = ()

    def sync_warnings(self) -> list[str]:
        """What a sync of handoffs should say (nothing when the Task cannot be written at all: the strategy plan
        says that already)."""
        if not (self.create or self.update):
            return []
        if self.by_owner:
            return []
        return [
            "Task: the server does not declare search by owner — a receiver cannot ask for the referral Tasks "
            "addressed to it (Task?owner=), so it must learn of its handoffs some other way"
        ]

    def outcomes_warnings(self) -> list[str]:
        """What `fhirpeer outcomes` should say about how it has to read this server."""
        warnings: list[str] = []
        if not (self.listed and self.search):
            warnings.append(
                "Task: the server does not offer Task search — outcomes are decided from the ServiceRequests and "
                "the Encounters and EpisodeOfCare that refer to them; whatever a receiver records on a Task is "
                "not seen"
            )
        elif not self.by_focus:
            warnings.append(
                "Task: the server does not declare search by focus — fhirpeer's own Tasks are read by their "
                "identifier (the handoff key); Tasks another system created for a handoff are looked for by "
                "patient, and are missed if that search is not supported either"
            )
        if self.not_incremental:
            warnings.append(
                f"{', '.join(self.not_incremental)}: the server does not declare search by _lastUpdated — each "
                "outcomes run reads these in full and picks out what changed here"
            )
        return warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "create": self.create,
            "update": self.update,
            "search": {"focus": self.by_focus, "owner": self.by_owner, "_lastUpdated": self.by_last_updated},
            "not_incremental": list(self.not_incremental),
        }


def referral_task_support(caps: ServerCapabilities) -> ReferralTaskSupport:
    """The referral-loop view of a parsed CapabilityStatement."""
    task = caps.resource("Task")
    searchable = task.search_type

    def declares(param: str) -> bool:
        return searchable and param in task.search_params

    not_incremental = tuple(
        t
        for t in INCREMENTAL_TYPES
        if not (caps.resource(t).search_type and "_lastUpdated" in caps.resource(t).search_params)
    )
    return ReferralTaskSupport(
        listed=task.listed,
        create=task.create,
        update=task.update,
        search=searchable,
        by_focus=declares("focus"),
        by_owner=declares("owner"),
        by_last_updated=declares("_lastUpdated"),
        not_incremental=not_incremental,
    )
