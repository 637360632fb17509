"""Check one resource against the US Core must-have table (`us_core_must_haves.py`).

Problems are reported as 'path: message' with list indexes, never the values.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from .us_core_must_haves import US_CORE_MUST_HAVES, MustHave


def us_core_problems(resource: dict[str, Any]) -> list[str]:
    """The must-have elements this resource lacks (empty when it has them all, or its type has no entry)."""
    rtype = resource.get("resourceType", "")
    problems: list[str] = []
    for rule, parents, last in _compiled(rtype):
        if not _holds(resource, parents, last, rule.any_of):  # paths are built only for a resource that fails
            problems += [f"{where}: {_missing(rule)} ({rule.why})" for where in _violations(rtype, resource, rule)]
    return problems


@cache
def _compiled(rtype: str) -> tuple[tuple[MustHave, tuple[str, ...], str], ...]:
    """Each rule of a type with its element split once: (rule, parent steps, last step)."""
    compiled = []
    for rule in US_CORE_MUST_HAVES.get(rtype, ()):
        *parents, last = rule.element.split(".")
        compiled.append((rule, tuple(parents), last))
    return tuple(compiled)


def _holds(node: dict[str, Any], parents: tuple[str, ...], last: str, any_of: tuple[str, ...]) -> bool:
    """True exactly when `_violations` would yield nothing, without building any path."""
    if parents:
        step, rest = parents[0], parents[1:]
        return all(_holds(child, rest, last, any_of) for child in _child_objects(node, step))
    if any_of:
        return all(any(_present(child, name) for name in any_of) for child in _child_objects(node, last))
    return _present(node, last)


def _child_objects(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The objects `_children` yields, without their paths."""
    value = node.get(name)
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return [value] if isinstance(value, dict) else []


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
