"""The demo's folder handling and what it tells the user (the end-to-end run is in tests/server/test_demo.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fhirpeer.cli import main
from fhirpeer.demo import walkthrough
from tests.support.paths import REPO
from tests.support.requirements import require


def test_demo_refuses_to_wipe_a_folder_it_did_not_create(tmp_path: Path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert "not a demo folder" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").exists()


def test_the_default_demo_folder_keeps_git_status_clean() -> None:
    require(None if (REPO / ".git").exists() else "not a git checkout", "the .gitignore check")
    for path in ("fhirpeer-demo/server/sekmet.db", ".fhirpeer/state.sqlite"):  # the demo's and the state default
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, capture_output=True)
        assert ignored.returncode == 0, path


def test_the_printed_fhirpeer_is_the_one_beside_this_python(monkeypatch, tmp_path: Path) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("")
    script = bin_dir / "fhirpeer"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path)
    assert walkthrough.fhirpeer_command() == ".venv/bin/fhirpeer"  # what works after the Quickstart


class FakeServer:
    def __init__(self, alive_for: int) -> None:
        self.polls = 0
        self.alive_for = alive_for

    @property
    def running(self) -> bool:
        self.polls += 1
        return self.polls <= self.alive_for


def test_keep_running_returns_false_when_the_server_dies() -> None:
    server = FakeServer(alive_for=2)
    assert walkthrough._wait_while_running(server, interval=0.01) is False  # type: ignore[arg-type]
    assert server.polls == 3
