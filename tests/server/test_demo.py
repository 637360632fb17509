"""`fhirpeer demo` end to end: embedded server, sample program, sync, no-op rerun, incremental update."""

from __future__ import annotations

import re
from pathlib import Path

from fhirpeer.cli import main


def totals(line: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(created|updated|unchanged|rejected)\s+(\d+)", line)}


def test_demo_runs_end_to_end_and_shows_no_op_and_incremental_syncs(tmp_path: Path, capsys):
    folder = tmp_path / "demo"
    assert main(["demo", "--dir", str(folder), "--patients", "20"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = totals(next(line for line in lines if "first sync" in line))
    rerun = totals(next(line for line in lines if "rerun, same export" in line))
    incremental = totals(next(line for line in lines if "incremental sync" in line))
    changed = int(re.search(r"(\d+) records changed", out).group(1))
    assert first["created"] > 200 and first["rejected"] == 0
    assert rerun == {"created": 0, "updated": 0, "unchanged": first["created"], "rejected": 0}
    assert incremental["updated"] == changed == 5 and incremental["created"] == 0
    assert "curl -s 'http://127.0.0.1:" in out
    assert len(lines) < 40, "the demo's output should stay short"
    assert (folder / "server" / "sekmet.db").exists()  # the data stays where the user can see it
    assert (folder / "export" / "peer_contacts.csv").exists()
