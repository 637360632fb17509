"""Check one resource against the US Core must-have table (`us_core_must_haves.py`).

Problems are reported as 'path: message' with list indexes, never the values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .us_core_must_haves import US_CORE_MUST_HAVES, MustHave


def us_core_problems(resource: dict[str, Any]) -> list[str]:
    """The must-have elements this resource lacks (empty when it has them all, or its type has no entry)."""
    rtype = resource.get("resourceType", "")
    problems: list[str] = []
    for rule in US_CORE_MUST_HAVES.get(rtype, ()):
        problems += [f"{where}: {_missing(rule)} ({rule.why})" for where in _violations(rtype, resource, rule)]
    return problems


def _missing(rule: MustHave) -> str:
    return f"one of {', '.join(rule.any_of)} required" if rule.any_of else "required"


def _violations(rtype: str, resource: dict[str, Any], rule: MustHave) -> Iterator[str]:
    *parents, last = rule.element.split(".")
    for where, node in _instances(rtype, resource, parents):
        if rule.any_of:
            for child_where, child in _children(where, node, last):
                if not any(_present(child, name) for name in rule.any_of):
                    yield child_where
        elif not _present(node, last):
            yield f"{where}.{last}"


def _instances(where: str, node: dict[str, Any], steps: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object reached from `node` along `steps` (lists fan out), with its indexed path."""
    if not steps:
        yield where, node
        return
    for child_where, child in _children(where, node, steps[0]):
        yield from _instances(child_where, child, steps[1:])


def _children(where: str, node: dict[str, Any], name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    value = node.get(name)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield f"{where}.{name}[{i}]", item
    elif isinstance(value, dict):
        yield f"{where}.{name}", value


def _present(node: dict[str, Any], name: str) -> bool:
    """A value, or a primitive carrying only extensions (`_name`, e.g. data-absent-reason)."""
    return node.get(name) not in (None, "", [], {}) or bool(node.get(f"_{name}"))
