"""The demo's folder handling (the end-to-end run is in tests/server/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

from fhirpeer.cli import main


def test_demo_refuses_to_wipe_a_folder_it_did_not_create(tmp_path: Path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert "not a demo folder" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").exists()
