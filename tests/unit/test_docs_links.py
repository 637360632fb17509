"""The documents that ship in the repository link only to files in it (or to the web), and the README links the
input contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fhirpeer.domain import InputKind
from fhirpeer.mapping_files import load_mappings
from fhirpeer.records import RECORD_MODELS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_relative_links_stay_in_the_repository_and_resolve(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert "shared/spec" not in text
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"


def test_the_readme_links_the_input_contract() -> None:
    assert "(docs/input-contract.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_input_contract_names_every_file_and_column_fhirpeer_reads() -> None:
    contract = (ROOT / "docs" / "input-contract.md").read_text(encoding="utf-8")
    mappings = load_mappings()
    for kind in InputKind:
        section = contract.split(f"### {mappings.columns[kind].file}", 1)
        assert len(section) == 2, mappings.columns[kind].file
        table = section[1].split("\n### ", 1)[0]
        for field in RECORD_MODELS[kind].model_fields:
            assert re.search(rf"^\| [^|]*\b{field}\b", table, re.MULTILINE), f"{kind.value}.{field}"
