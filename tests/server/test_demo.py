"""`fhirpeer demo` end to end: embedded server, sample program, sync, no-op rerun, incremental update; the
commands it prints work, and `--keep-running` notices when its server dies."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from fhirpeer.cli import main
from tests.support.paths import REPO


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
    changed = re.search(r"(\d+) records changed in the export: (.*)", out)
    keys = changed.group(2).split(", ")
    contacts, handoffs, members = (sum(k.startswith(p) for k in keys) for p in ("C-", "H-", "T-"))
    assert first["created"] > 200 and first["rejected"] == 0
    assert rerun == {"created": 0, "updated": 0, "unchanged": first["created"], "rejected": 0}
    assert int(changed.group(1)) == len(keys) == contacts + handoffs + members == 5
    # a contact completed after all: its Encounter is created and its Appointment fulfilled; a completed handoff
    # updates its ServiceRequest and its referral Task; an ended member assignment, the CareTeam
    assert incremental["created"] == contacts
    assert incremental["updated"] == contacts + 2 * handoffs + members
    assert "Program report as of" in out and "engaged by program month" in out
    assert (folder / "report" / "report.html").exists() and (folder / "report" / "summary.json").exists()
    assert "curl" not in out.replace("browse the data with curl", "")  # the server is gone: no curl line for it
    assert "demo --keep-running" in out
    assert len(lines) < 40, "the demo's output should stay short"
    assert (folder / "server" / "sekmet.db").exists()  # the data stays where the user can see it
    assert (folder / "export" / "peer_contacts.csv").exists()

    status_line = next(line.strip() for line in lines if " status --state " in line)
    done = subprocess.run(shlex.split(status_line), capture_output=True, text=True, timeout=60)  # as printed
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^  [0-9a-f]{12} ", done.stdout, re.M)) == 3  # the demo's three syncs


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _start_kept_demo(folder: Path) -> tuple[subprocess.Popen[str], list[str]]:
    cmd = [sys.executable, "-m", "fhirpeer.cli", "demo", "--dir", str(folder), "--patients", "8", "--keep-running"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "server kept running" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("".join(lines) + (proc.stderr.read() if proc.stderr else ""))


def test_keep_running_prints_working_curl_lines_and_stops_cleanly(tmp_path: Path) -> None:
    proc, lines = _start_kept_demo(tmp_path / "demo")
    try:
        urls = [re.search(r"curl -s '([^']+)'", line)[1] for line in lines if "curl -s" in line]
        assert len(urls) >= 3
        for url in urls:
            answer = requests.get(url, timeout=10)
            assert answer.status_code == 200 and answer.json()["resourceType"] == "Bundle", url
        assert any(len(requests.get(u, timeout=10).json().get("entry", [])) for u in urls)
    finally:
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "server stopped" in out


def test_keep_running_notices_when_the_server_dies(tmp_path: Path) -> None:
    proc, _ = _start_kept_demo(tmp_path / "demo")
    try:
        (server,) = _children(proc.pid)
        os.kill(server, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3
    assert "stopped unexpectedly (exit status -9)" in err
    assert "Traceback" not in err
