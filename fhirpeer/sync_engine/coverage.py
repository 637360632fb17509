"""Records that an earlier run synced and this export no longer holds: counted, so a truncated export is noticed.

Nothing is deleted (a record that leaves the export stays on the server). By default the count costs O(1)
memory: per chunk, how many of the export's keys the state store knows, against the live count taken when the
run started. When the site declares a full export, the keys seen go to a temporary SQLite table instead, so the
absent ones can be listed (and, when `retract_absent` is set, retracted — see `retraction.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..domain import InputKind, Rejection, ResourceType
from ..records import Accepted, TeamRows
from .state import AbsentRow, StateStore


class ExportCoverage:
    """How much of what earlier runs synced this export still holds, per resource type."""

    def __init__(self, state: StateStore, *, keep_keys: bool):
        self.state = state
        self.keep_keys = keep_keys
        self.before = state.count_live()  # taken before this run writes anything
        self._known: Counter[str] = Counter()
        if keep_keys:
            state.start_seen_keys()

    def note(self, kind: InputKind, rows: Iterable[Accepted | TeamRows | Rejection]) -> None:
        """Count (or remember) the keys of one chunk of `kind`'s records as read. A row rejected on input is in the
        export too, but only a key set can take it: a count would take the duplicate of an accepted row twice, so
        the count says "not in this export or rejected in it"."""
        keys: list[str] = []
        for row in rows:
            if isinstance(row, Rejection):
                if self.keep_keys and row.id:
                    keys.append(_record_key(row))
            else:
                keys.append(row.team_id if isinstance(row, TeamRows) else row.record.key)
        for resource_type in types_of_kind(kind):
            if self.keep_keys:
                self.state.remember_seen(str(resource_type), keys)
            else:
                self._known[str(resource_type)] += self.state.count_known(str(resource_type), keys)

    def absent_count(self, resource_type: ResourceType) -> int:
        if self.keep_keys:
            return len(self.state.absent(str(resource_type)))
        return max(self.before.get(str(resource_type), 0) - self._known[str(resource_type)], 0)

    def absent(self, resource_type: ResourceType) -> list[AbsentRow]:
        """Each absent record (key, server id, version, owner); only with a declared full export."""
        if not self.keep_keys:
            raise RuntimeError("absent keys are kept only for a full export")
        return self.state.absent(str(resource_type))


def _record_key(rejection: Rejection) -> str:
    """The key of the resource a rejected row would have made (a care-team row's key is team/staff)."""
    assert rejection.id is not None
    if rejection.resource_type is ResourceType.CARE_TEAM:
        return rejection.id.split("/", 1)[0]
    return rejection.id


def types_of_kind(kind: InputKind) -> tuple[ResourceType, ...]:
    """The resource types whose records come from `kind`'s file."""
    return kind.resource_types
