"""Resolve business-key references to server ids.

Mapped resources point at each other by business key (`Patient?identifier=…` plus a `Ref`). Before a resource is
sent, every reference fhirpeer can resolve becomes a literal `Type/id`: from what this run wrote or planned, from
the state store (rosters are written before dependants), or by searching the server for keys that exist there but
not in this export. What is learned is kept in a bounded cache; the state store answers the rest, so memory stays
flat however large the export.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from ..mappers import MappedResource, match_url
from ..mapping_files import Mappings
from .server_lookup import ServerLookup
from .state import StateStore

#: How many (type, key) → id answers stay in memory; beyond that the state store is asked again.
CACHE_SIZE = 100_000
_ABSENT = ""  # cached "nowhere": neither in the state store nor on the server


class ReferenceResolver:
    def __init__(
        self, state: StateStore, lookup: ServerLookup | None, mappings: Mappings, *, cache_size: int = CACHE_SIZE
    ):
        self.state = state
        self.lookup = lookup
        self.mappings = mappings
        self.cache_size = cache_size
        self._ids: OrderedDict[tuple[str, str], str | None] = OrderedDict()  # None: will exist, id not yet known

    def _remember(self, resource_type: str, key: str, server_id: str | None) -> None:
        entry = (str(resource_type), key)
        self._ids[entry] = server_id
        self._ids.move_to_end(entry)
        while len(self._ids) > self.cache_size:
            self._ids.popitem(last=False)

    def learn(self, resource_type: str, key: str, server_id: str | None) -> None:
        """A resource of this key is on the server under `server_id`."""
        if server_id:
            self._remember(resource_type, key, server_id)

    def expect(self, resource_type: str, key: str, server_id: str | None) -> None:
        """A resource of this key will be written before anything that points at it is sent (its id, when known
        already: a client-assigned one)."""
        if (str(resource_type), key) not in self._ids or server_id:
            self._remember(resource_type, key, server_id)

    def prefetch(self, refs: Iterable[tuple[str, str]], *, search_server: bool = True) -> None:
        """Find ids for these (type, key) pairs: state first, then one OR-search per chunk of keys."""
        wanted: dict[str, set[str]] = {}
        for rtype, key in refs:
            if (str(rtype), key) not in self._ids:
                wanted.setdefault(str(rtype), set()).add(key)
        for rtype, keys in wanted.items():
            for key, sid in self.state.server_ids(rtype, keys).items():
                self._remember(rtype, key, sid)
            missing = sorted(k for k in keys if (rtype, k) not in self._ids)
            if missing and search_server and self.lookup is not None:
                found = self.lookup.find(rtype, self.mappings.system_for(rtype), missing)
                for key, matches in found.items():
                    if matches:
                        self._remember(rtype, key, matches[0].id)
            for key in missing:
                if (rtype, key) not in self._ids:
                    self._remember(rtype, key, _ABSENT)

    def known(self, resource_type: str, key: str) -> bool | None:
        """True/False once prefetched (exists, or will: somewhere / nowhere), None when never asked."""
        entry = (str(resource_type), key)
        if entry not in self._ids:
            return None
        return self._ids[entry] != _ABSENT

    def server_id(self, resource_type: str, key: str) -> str | None:
        """The server id of a key, when known (from the cache, else the state store)."""
        sid = self._ids.get((str(resource_type), key))
        if sid:
            return sid
        return self.state.server_ids(str(resource_type), [key]).get(key)

    def literal(self, item: MappedResource, *, require_all: bool = False) -> dict[str, Any] | None:
        """A copy of the resource with every known reference made literal; optional references that point
        nowhere are dropped. With `require_all`, None when a required reference cannot be made literal (writes
        outside a transaction cannot leave references for the server to resolve)."""
        replace: dict[str, str | None] = {}
        for ref in item.refs:
            sid = self.server_id(ref.resource_type, ref.key) if self.known(ref.resource_type, ref.key) else None
            url = match_url(self.mappings, ref.resource_type, ref.key)
            if sid:
                replace[url] = f"{ref.resource_type}/{sid}"
            elif ref.optional:
                replace[url] = None
            elif require_all:
                return None
        if not replace:
            return item.resource
        return _rewritten(item.resource, replace)


def _rewritten(node: Any, replace: dict[str, str | None]) -> Any:
    """A deep copy of JSON data with every `reference` found in `replace` rewritten (None: the element holding the
    reference is dropped), in one pass."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if isinstance(v, dict | list):
                v = _rewritten(v, replace)
                if v is _DROP:
                    continue
            out[k] = v
        ref = out.get("reference")
        if isinstance(ref, str) and ref in replace:
            target = replace[ref]
            if target is None:
                return _DROP
            out["reference"] = target
        return out
    if isinstance(node, list):
        items = [_rewritten(v, replace) if isinstance(v, dict | list) else v for v in node]
        kept = [v for v in items if v is not _DROP]
        return kept if kept or not items else _DROP
    return node


_DROP: Any = object()
