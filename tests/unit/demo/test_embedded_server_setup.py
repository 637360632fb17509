"""The embedded server without its optional dependency."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fhirpeer.demo.embedded_server import EmbeddedServer
from fhirpeer.errors import ConfigError


def test_missing_sekmet_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sekmet" else real_find_spec(name, *a)
    )
    with pytest.raises(ConfigError, match=r"pip install 'fhirpeer\[server\]'"):
        EmbeddedServer(tmp_path).start()
