"""Resolve business-key references to server ids.

Mapped resources point at each other by business key (`Patient?identifier=…` plus a `Ref`). Before a resource is
sent, every reference fhirpeer can resolve becomes a literal `Type/id`: from what this run wrote or planned, from
the state store (rosters are written before dependants), or by searching the server for keys that exist there but
not in this export. What is learned is kept in a bounded cache; the state store answers the rest, so memory stays
flat however large the export.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, cast

import orjson

from ..domain import ResourceType
from ..mappers import MappedResource, match_url
from ..mapping_files import Mappings
from .server_lookup import ServerLookup
from .state import StateStore

#: How many (type, key) → id answers stay in memory; beyond that the state store is asked again. Enough for the
#: chunks in flight (the engine passes more for larger chunks): ids are derived or in the state store, so a larger
#: cache only holds memory a large export would grow by.
CACHE_SIZE = 20_000
_ABSENT = ""  # cached "nowhere": neither in the state store nor on the server


class ReferenceResolver:
    def __init__(
        self,
        state: StateStore,
        lookup: ServerLookup | None,
        mappings: Mappings,
        *,
        cache_size: int = CACHE_SIZE,
        search_needed: Callable[[ResourceType], bool] | None = None,
    ):
        self.state = state
        self.lookup = lookup
        self.mappings = mappings
        self.cache_size = cache_size
        # whether a key the state store lacks may still be on the server (default: always ask the server)
        self.search_needed = search_needed or (lambda resource_type: True)
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
        """Find ids for these (type, key) pairs: state first, then one OR-search per chunk of keys. What is
        settled is decided from the answers themselves, never from what the bounded cache still holds (a large
        prefetch may push its own first answers out of it)."""
        wanted: dict[str, set[str]] = {}
        for rtype, key in refs:
            entry = (str(rtype), key)
            if entry in self._ids:
                self._ids.move_to_end(entry)  # in use: the least recently used go first
            else:
                wanted.setdefault(str(rtype), set()).add(key)
        for rtype, keys in wanted.items():
            stored = self.state.server_ids(rtype, keys)
            for key, sid in stored.items():
                self._remember(rtype, key, sid)
            missing = sorted(keys - stored.keys())
            found: set[str] = set()
            if missing and search_server and self.lookup is not None and self.search_needed(ResourceType(rtype)):
                for key, matches in self.lookup.find(rtype, self.mappings.system_for(rtype), missing).items():
                    if matches:
                        found.add(key)
                        self._remember(rtype, key, matches[0].id)
            for key in missing:
                if key not in found:
                    self._remember(rtype, key, _ABSENT)

    def known(self, resource_type: str, key: str) -> bool | None:
        """True/False once prefetched (exists, or will: somewhere / nowhere), None when never asked. A key the
        cache no longer holds is looked up in the state store again."""
        entry = (str(resource_type), key)
        if entry not in self._ids:
            sid = self.state.server_ids(entry[0], [key]).get(key)
            if not sid:
                return None
            self._remember(entry[0], key, sid)
        return self._ids[entry] != _ABSENT

    def resolved(self, item: MappedResource) -> bool:
        """Whether every reference of `item` is settled now: its target's id is known, or it is known to be nowhere
        (so `literal` gives today what it would give later)."""
        for ref in item.refs:
            known = self.known(ref.resource_type, ref.key)
            if known is None or (known and self.server_id(ref.resource_type, ref.key) is None):
                return False
        return True

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
        return rewrite_references(item.resource, replace)


def rewrite_references(resource: dict[str, Any], replace: dict[str, str | None]) -> dict[str, Any]:
    """A copy of a resource with every `reference` found in `replace` rewritten (None: the element holding the
    reference is dropped; a list it leaves empty goes too).

    Done on the resource's compact JSON, where a reference is the exact bytes `"reference":"<url>"` (quotes inside
    strings are escaped, so the pattern cannot match text), and parsed back: several times faster than walking the
    dicts, and it is done for every resource sent. A dropped reference that is not the whole of its element (a
    Reference with a display, one of several in a list) falls back to the walk."""
    data = orjson.dumps(resource)
    for url, target in replace.items():
        needle = b'"reference":' + orjson.dumps(url)
        if target is not None:
            data = data.replace(needle, b'"reference":' + orjson.dumps(target))
            continue
        dropped = _without_lone_reference(data, needle)
        if dropped is None:
            return cast(dict[str, Any], _rewritten(resource, replace))
        data = dropped
    return cast(dict[str, Any], orjson.loads(data))


_ELEMENT_NAME = re.compile(rb"[A-Za-z][A-Za-z0-9_]*")


def _without_lone_reference(data: bytes, needle: bytes) -> bytes | None:
    """`data` without each element that holds just this reference — `,"name":{"reference":…}` or
    `,"name":[{"reference":…}]` (never the first of its object: resourceType is, so a comma comes before it) — or
    None when the reference also sits anywhere else."""
    ref = b"{" + needle + b"}"
    while (start := data.find(ref)) != -1:
        end = start + len(ref)
        if data[start - 1 : start] == b"[" and data[end : end + 1] == b"]":
            start, end = start - 1, end + 1
        comma = data.rfind(b',"', 0, start)
        if data[start - 2 : start] != b'":' or comma == -1 or not _ELEMENT_NAME.fullmatch(data[comma + 2 : start - 2]):
            return None
        data = data[:comma] + data[end:]
    return None if needle in data else data


def _rewritten(node: Any, replace: dict[str, str | None]) -> Any:
    """`rewrite_references` by walking the JSON data: a deep copy, rewritten in one pass."""
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
