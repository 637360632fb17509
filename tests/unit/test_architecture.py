"""The import graph of the package: no circle, no lower layer importing a higher one, the CSV reader imported
only by the reading stage, and the CLI on the public API.

Layers, lowest first; a module may import modules of lower layers, and modules of its own group (subpackage or
module) — never a higher layer, and never a sibling group of its own layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fhirpeer

PACKAGE = Path(fhirpeer.__file__).parent

LAYERS: list[list[str]] = [
    [
        "fhirpeer._version",
        "fhirpeer.domain",
        "fhirpeer.errors",
        "fhirpeer.contract",
        "fhirpeer.r4_value_sets",
        "fhirpeer.content_hash",
        "fhirpeer.cell_values",
    ],
    ["fhirpeer.records", "fhirpeer.settings", "fhirpeer.run_report", "fhirpeer.transport", "fhirpeer.namespace_guard"],
    ["fhirpeer.mapping_files", "fhirpeer.run_metrics"],
    ["fhirpeer.input", "fhirpeer.mappers", "fhirpeer.bundles"],
    ["fhirpeer.checks", "fhirpeer.pipeline", "fhirpeer.preview_files"],
    ["fhirpeer.sync_engine", "fhirpeer.offline_validation", "fhirpeer.program_report", "fhirpeer.bulk"],
    ["fhirpeer.backfill"],  # the bulk path end to end: sync's mapping and state store with the bulk library
    ["fhirpeer.api"],
    ["fhirpeer.outcomes_api"],  # `fhirpeer outcomes` on top of the API's clients
    ["fhirpeer"],  # the package itself: lazy names only
    ["fhirpeer.demo"],
    ["fhirpeer.cli"],
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every fhirpeer module `path` imports (relative imports resolved; `from x import name` counts `x.name` when
    that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fhirpeer"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("fhirpeer"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found - {name}


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def group_of(module: str) -> tuple[int, str]:
    """(layer index, group prefix) of a module: the longest matching group prefix."""
    best: tuple[int, str] | None = None
    for index, groups in enumerate(LAYERS):
        for group in groups:
            if (module == group or module.startswith(group + ".")) and (best is None or len(group) > len(best[1])):
                best = (index, group)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        group_of(module)


def test_no_import_goes_up_or_sideways() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        layer, group = group_of(module)
        for target in targets:
            t_layer, t_group = group_of(target)
            if t_layer > layer or (t_layer == layer and t_group != group):
                wrong.append(f"{module} → {target}")
    assert wrong == []


def test_no_import_circle() -> None:
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(module: str, path: list[str]) -> bool:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycle.extend([*path[path.index(target) :], target] if target in path else [module, target])
                return True
            if state.get(target) is None and visit(target, [*path, target]):
                return True
        state[module] = 2
        return False

    for module in sorted(GRAPH):
        if state.get(module) is None and visit(module, [module]):
            break
    assert cycle == []


def test_only_the_reading_stage_imports_the_csv_reader() -> None:
    importers = {m for m, targets in GRAPH.items() if "fhirpeer.input.csv_files" in targets}
    assert importers <= {"fhirpeer.input.folder"}


def test_the_cli_uses_the_public_api_only() -> None:
    allowed = {"fhirpeer"} | {m for m in MODULES if m.startswith(("fhirpeer.cli", "fhirpeer.demo"))}
    outside = {f"{m} → {t}" for m, targets in GRAPH.items() if m.startswith("fhirpeer.cli") for t in targets}
    assert {edge for edge in outside if edge.split(" → ")[1] not in allowed} == set()
