"""A server that cannot be reached: exit 3, quickly, naming the request that failed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fhirpeer.cli import main
from fhirpeer.demo.sample import generate_program
from tests.support.sync_run import sync


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_closed_port_exits_3(monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("FHIRPEER_MAX_ATTEMPTS", "2")
    started = time.monotonic()
    code = main(["check-server", "--server", f"http://127.0.0.1:{port}/fhir"])
    out = capsys.readouterr().err
    assert code == 3
    assert f"GET metadata: connection refused by 127.0.0.1:{port} after 2 attempts" in out
    assert "a rerun is safe" in out and "Error /" not in out  # no exception class chain
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_closed_port_exits_3_within_a_minute_with_default_settings(tmp_path: Path, capsys) -> None:
    export = tmp_path / "export"
    generate_program(export, patients=5, seed=1)
    port = closed_port()
    started = time.monotonic()
    code, _ = sync(f"http://127.0.0.1:{port}/fhir", "https://fhirpeer.test/unreachable", export, tmp_path)
    assert code == 3
    assert time.monotonic() - started < 60
    assert "a rerun is safe" in capsys.readouterr().err
