"""Rows a rerun need not read: a row whose fingerprint the state store holds is not parsed, only its key is taken.

A row's fingerprint is a hash of its cells as the record model would read them (the stripped, non-blank cell of each
record field, after header resolution), of what else its mapping reads (`RowSkip.context`: a contact's site kind and
its patient's enrollments) and of `RowSkip.digest` (mappings, options, reading settings, fhirpeer's version). Parsing
is a function of exactly these, so an equal fingerprint means an equal record: one that was accepted, mapped and
written when the fingerprint was recorded. A row read with warnings records its fingerprint with `WARNED` appended,
which no row fingerprint equals: it is read again on every run, so its warnings are reported again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from ..domain import Source

#: Appended to the fingerprint recorded for a row read with warnings (see the module docstring).
WARNED = "+warned"


class KnownRecord(Protocol):
    """What the state store knows of a record: the fingerprint it was last synced from."""

    @property
    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class RowKey:
    """The key of a row that was not parsed: its key cell, stripped (what the parsed record's `key` would be)."""

    key: str


@dataclass(frozen=True)
class Unchanged:
    """A row whose fingerprint the state store holds: its resources stand as synced. Like `Accepted` it has
    `record.key` and `source`, so the file's duplicate-key check takes it like any accepted row."""

    record: RowKey
    source: Source
    known: KnownRecord


@dataclass(frozen=True)
class RowSkip:
    """How a reader recognises unchanged rows. `known(keys)`: the state store's records of these keys (one call per
    batch of rows); `context(fields)`: what else a row's mapping reads, from its field values."""

    digest: str
    known: Callable[[list[str]], Mapping[str, KnownRecord]]
    context: Callable[[dict[str, str]], str] | None = None

    def fingerprint(self, fields: dict[str, str]) -> str:
        context = self.context(fields) if self.context is not None else ""
        cells = orjson.dumps(fields)  # in columns.yaml's field order, whatever the file's column order
        return hashlib.sha256(b"\n".join([self.digest.encode(), cells, context.encode()])).hexdigest()[:32]
