"""Fixtures of the server tests: the write strategy a test runs under, and a small sample export."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirpeer.domain import WriteStrategy
from tests.support.exports import generate_export

#: Parametrize a test over every write strategy: only for tests whose outcome depends on how fhirpeer writes.
EVERY_STRATEGY = pytest.mark.parametrize("strategy", [str(s) for s in WriteStrategy], indirect=True)


@pytest.fixture
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The write strategy forced for this test (`auto`, the server's choice, unless parametrized)."""
    chosen = getattr(request, "param", "auto")
    monkeypatch.setenv("FHIRPEER_STRATEGY", chosen)
    return chosen


@pytest.fixture
def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    generate_export(out, patients=24, seed=3)
    return out
