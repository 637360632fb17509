"""Map a whole export folder in tests, the way `fhirpeer validate` and `fhirpeer sync` do."""

from __future__ import annotations

from pathlib import Path

from fhirpeer.domain import InputKind
from fhirpeer.input.folder import InputFolder
from fhirpeer.mapping_files import Mappings
from fhirpeer.pipeline import Item, MappingOptions, mapped_items
from fhirpeer.settings import Settings


def folder(input_dir: Path, mappings: Mappings, settings: Settings | None = None) -> InputFolder:
    return InputFolder.for_settings(input_dir, mappings, settings or Settings())


def options(settings: Settings | None = None) -> MappingOptions:
    settings = settings or Settings()
    return MappingOptions.of(settings)


def kind_items(input_dir: Path, mappings: Mappings, kind: InputKind, settings: Settings | None = None) -> list[Item]:
    """Every item of one kind, in file order."""
    return list(mapped_items(folder(input_dir, mappings, settings), kind, mappings, options(settings)))


def all_items(input_dir: Path, mappings: Mappings, settings: Settings | None = None) -> list[Item]:
    """Every item of every present kind, in write order."""
    f = folder(input_dir, mappings, settings)
    return [item for kind in f.check() for item in mapped_items(f, kind, mappings, options(settings))]
