"""No patient data in logs, stderr, stdout, the run report or the state store — even when the server
refuses records and echoes their content back, and with the most verbose logging."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.exports import generate_export
from tests.support.fault_proxy import FaultProxy
from tests.support.paths import REPO
from tests.support.sync_run import rows, write_rows

PLANTED = {
    "family": "Quixote-Marsh",
    "given": "Zebulon",
    "birth": "1937-11-03",
    "family2": "Vorhees",
    "given2": "Xanthippe",
    "birth2": "1944-06-17",
    "note": "Zebulon sleeps behind the Elm Street laundromat",
    "bad_birth": "Zebulon-1937",
}


def plant(export: Path) -> None:
    patients = rows(export / "patients.csv")
    patients[0].update(family_name=PLANTED["family"], given_name=PLANTED["given"], birth_date=PLANTED["birth"])
    patients[1].update(family_name=PLANTED["family2"], given_name=PLANTED["given2"], birth_date=PLANTED["birth2"])
    patients[2]["birth_date"] = PLANTED["bad_birth"]  # dropped with a warning, cell value must not be echoed
    write_rows(export / "patients.csv", patients)
    handoffs = rows(export / "handoffs.csv")
    handoffs[0]["note"] = PLANTED["note"]
    write_rows(export / "handoffs.csv", handoffs)


def refuse_planted(method: str, path: str, body: bytes) -> tuple[int, bytes] | None:
    """Act like a server that refuses Xanthippe's record and the note, echoing them unquoted and quoted."""
    text = body.decode("utf-8", "replace")
    for marker in (PLANTED["given2"], "laundromat"):
        if method in ("POST", "PUT") and marker in text:
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "error", "code": "processing",
                    "diagnostics": f'HAPI-0450: cannot store {PLANTED["given2"]} {PLANTED["family2"]} born '
                                   f'{PLANTED["birth2"]}: "{PLANTED["note"]}"',
                    "expression": [f"Patient.name.where(family='{PLANTED['family2']}')"],
                }],
            }  # fmt: skip
            return 422, json.dumps(outcome).encode()
    return None


def test_planted_phi_never_leaves_through_logs_reports_or_state(fhir_base_url, test_namespace, tmp_path):
    export = tmp_path / "export"
    generate_export(export, patients=12, seed=4)
    plant(export)
    report_path = tmp_path / "report.json"
    state = tmp_path / "state.sqlite"
    with FaultProxy(fhir_base_url, refuse=refuse_planted) as proxy:
        proc = subprocess.run(
            [sys.executable, "-m", "fhirpeer.cli", "sync", "--server", proxy.base_url, "--input", str(export),
             "--state", str(state), "--namespace", test_namespace, "--report-json", str(report_path),
             "-v", "--log-format", "json", "--batch-size", "5"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
        )  # fmt: skip
        status = subprocess.run(
            [sys.executable, "-m", "fhirpeer.cli", "status", "--state", str(state)],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
        )  # fmt: skip
        refused = sum(1 for e in proxy.events if e.fault == "refused")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert refused > 0, "the server never refused anything: the test would prove nothing"
    report = json.loads(report_path.read_text())
    reasons = " ".join(r["reason"] for r in report["rejected"])
    assert "HAPI-0450" in reasons  # the refusal is reported, by code
    assert any(w["column"] == "birth_date" for w in report["warnings"])
    assert proc.stderr.count("\n") > 20, "verbose logging produced almost nothing"
    for line in proc.stderr.splitlines():
        json.loads(line)  # JSON lines, nothing else
    state_dump = "\n".join(sqlite3.connect(state).iterdump())
    assert state_dump.count('INSERT INTO "synced"') > 50, "the state store recorded almost nothing"
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr, "report": report_path.read_text(),
               "status": status.stdout + status.stderr, "state": state_dump}  # fmt: skip
    for where, text in outputs.items():
        for name, value in PLANTED.items():
            assert value not in text, f"{name} leaked into {where}"
