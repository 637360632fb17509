"""Every exit code the CLI can give without a real server (those that need one are in tests/server/
test_operations.py): what it prints — one line, never a traceback unless -v —, the report it writes for every
run, and the run it records in the state store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import responses

from fhirpeer import status
from fhirpeer.cli import main
from fhirpeer.demo.sample import generate_program
from fhirpeer.sync_engine.state import RunLock, StateStore
from tests.support.paths import FIXTURES, REPO
from tests.support.reports import read_report
from tests.support.sync_run import rows, write_rows

CLOSED = "http://127.0.0.1:9/fhir"  # loopback (the placeholder namespace is fine), nothing listens on port 9
REMOTE = "https://ehr.example.org/fhir/r4"
NAMESPACE = "https://peer.hospital.example"


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "export"
    generate_program(out, patients=4, seed=5)
    return out


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def sync_args(export: Path, tmp_path: Path, *extra: str, server: str = CLOSED) -> list[str]:
    return [
        "sync", "--server", server, "--input", str(export), "--state", str(tmp_path / "state.sqlite"),
        "--report-json", str(tmp_path / "report.json"), "--no-progress", *extra,
    ]  # fmt: skip


def assert_one_error_line(err: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("fhirpeer: error: ") and len(err.strip().splitlines()) <= 2, err


# --- 2: usage, configuration, state path, input file, not a FHIR base -----------------------------------


def test_garbage_config_file_exits_2_naming_file_line_and_column(export, tmp_path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: http://127.0.0.1:9/fhir\nbatch_size: [200\nworkers: 2\n", encoding="utf-8")
    (tmp_path / "report.json").write_text('{"exit_code": 0}\n')  # yesterday's report
    code, err = run(capsys, *sync_args(export, tmp_path, "--config", str(config)))
    assert code == 2
    assert_one_error_line(err)
    assert f"{config}:3:8: not valid YAML" in err, err
    report = read_report(tmp_path / "report.json")  # replaced, not left in place
    assert report["exit_code"] == 2 and report["error"]["category"] == "config"
    assert report["counts"] == {} and report["command"] == "sync"


def test_unknown_setting_is_named_with_its_line(export, tmp_path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: http://127.0.0.1:9/fhir\n\nbatch_sise: 5\n", encoding="utf-8")
    code, err = run(capsys, *sync_args(export, tmp_path, "--config", str(config)))
    assert code == 2
    assert f"{config}:3: batch_sise: Extra inputs are not permitted" in err, err


def test_state_path_that_is_a_directory_exits_2(export, tmp_path, capsys) -> None:
    (tmp_path / "state.sqlite").mkdir()
    code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 2
    assert_one_error_line(err)
    assert "is a directory; --state names the SQLite file" in err
    assert read_report(tmp_path / "report.json")["error"]["category"] == "state_path"


def test_state_path_that_is_no_sqlite_file_exits_2_and_is_left_alone(export, tmp_path, capsys) -> None:
    state = tmp_path / "state.sqlite"
    state.write_text("patient list, not a database\n")
    code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 2
    assert "is not an SQLite database" in err
    assert state.read_text() == "patient list, not a database\n"
    code, err = run(capsys, "status", "--state", str(state))
    assert code == 2 and "is not an SQLite database" in err


def test_input_file_error_exits_2_and_the_run_shows_in_status(export, tmp_path, capsys) -> None:
    broken = tmp_path / "broken"
    generate_program(broken, patients=3, seed=1)
    contacts = rows(broken / "peer_contacts.csv")
    write_rows(broken / "peer_contacts.csv", [{k: v for k, v in r.items() if k != "mode"} for r in contacts])
    code, err = run(capsys, *sync_args(broken, tmp_path))
    assert code == 2
    assert "peer_contacts.csv" in err and "mode" in err
    found = status(tmp_path / "state.sqlite")
    assert [(r["status"], r["exit_code"], r["written"], r["error"]["category"]) for r in found.runs] == [
        ("not_started", 2, 0, "input")
    ]


def test_placeholder_namespace_is_refused_against_a_remote_server(export, tmp_path, capsys) -> None:
    with responses.RequestsMock() as rsps:  # not one request may be sent
        code, err = run(capsys, *sync_args(export, tmp_path, server=REMOTE))
        assert len(rsps.calls) == 0
    assert code == 2
    assert "shipped placeholder https://fhir.example.org" in err and "ehr.example.org" in err
    assert "--namespace URI" in err and "FHIRPEER_NAMESPACE" in err
    assert read_report(tmp_path / "report.json")["exit_code"] == 2


def test_placeholder_namespace_is_fine_on_loopback(export, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FHIRPEER_MAX_ATTEMPTS", "1")
    code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 3 and "placeholder" not in err  # it got as far as trying to connect


def capability(name: str = "hapi.json") -> dict:
    return json.loads((FIXTURES / "capability" / name).read_text())


def test_a_url_that_is_no_fhir_base_exits_2_and_suggests_the_base(export, tmp_path, capsys) -> None:
    root = "https://ehr.example.org"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{root}/metadata", status=404, body="<html>Not Found</html>")
        rsps.get(f"{root}/fhir/metadata", json=capability())
        code, err = run(capsys, *sync_args(export, tmp_path, "--namespace", NAMESPACE, server=root))
        methods = {c.request.method for c in rsps.calls}
    assert code == 2
    assert_one_error_line(err)
    assert f"{root} answers, but is not a FHIR base URL (GET metadata: HTTP 404); did you mean {root}/fhir ?" in err
    assert methods == {"GET"}
    assert read_report(tmp_path / "report.json")["error"]["category"] == "not_fhir_base"


def test_sample_refuses_non_positive_counts(tmp_path, capsys) -> None:
    for value in ("-1", "0", "many"):
        with pytest.raises(SystemExit) as stop:
            main(["sample", "--out", str(tmp_path / "out"), "--patients", value])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "--patients: must be a whole number of at least 1" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# --- 6: more rejected than --max-rejected (a sync against a real server: tests/server/test_operations.py) -----


def test_validate_past_max_rejected_exits_6_with_the_full_report(tmp_path, capsys) -> None:
    golden = FIXTURES / "golden" / "export"  # 6 rows with a bad required cell (and 4 bad optional cells) in ~70
    report = tmp_path / "report.json"
    code, err = run(capsys, "validate", "--input", str(golden), "--max-rejected", "5", "--report-json", str(report))
    assert code == 6
    doc = read_report(report)
    total = sum(sum(c.values()) for c in doc["counts"].values())
    assert f"fhirpeer: error: 6 of {total} record(s) rejected; max_rejected is 5" in err
    assert doc["exit_code"] == 6 and len(doc["rejected"]) == 6 and doc["error"]["category"] == "max_rejected"
    assert 100 * 6 / total < 25
    code, _ = run(capsys, "validate", "--input", str(golden), "--max-rejected", "25%")
    assert code == 1  # within the allowance


# --- 3: unreachable, credentials refused ------------------------------------------------------------------


def test_unreachable_server_exits_3_naming_host_and_cause_and_says_a_rerun_is_safe(
    export, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FHIRPEER_MAX_ATTEMPTS", "1")
    code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 3
    assert "GET metadata: connection refused by 127.0.0.1:9" in err
    assert "a rerun is safe" in err and "Error /" not in err
    report = read_report(tmp_path / "report.json")
    assert (report["exit_code"], report["error"]["category"]) == (3, "unreachable")
    assert [(r["status"], r["exit_code"]) for r in status(tmp_path / "state.sqlite").runs] == [("not_started", 3)]


def test_refused_credentials_exit_3_without_claiming_a_rerun_helps(export, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FHIRPEER_AUTH", "bearer")
    monkeypatch.setenv("FHIRPEER_BEARER_TOKEN", "expired-token")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{REMOTE}/metadata", status=401)
        code, err = run(capsys, *sync_args(export, tmp_path, "--namespace", NAMESPACE, server=REMOTE))
        sent = [c.request.headers.get("Authorization") for c in rsps.calls]
    assert code == 3
    assert "refused: HTTP 401" in err and "credentials were refused" in err
    assert "rerun is safe" not in err and "expired-token" not in err
    assert sent and all(h == "Bearer expired-token" for h in sent)  # the CLI took the credential from the env
    assert read_report(tmp_path / "report.json")["error"]["category"] == "auth"


# --- 4: locked --------------------------------------------------------------------------------------------


def test_a_second_sync_on_a_locked_state_exits_4_and_is_listed(export, tmp_path, capsys) -> None:
    StateStore(tmp_path / "state.sqlite").close()
    with RunLock(tmp_path / "state.sqlite"):
        code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 4
    assert "another fhirpeer sync is running" in err and "nothing was done" in err
    assert read_report(tmp_path / "report.json")["error"]["category"] == "locked"
    assert [(r["status"], r["exit_code"]) for r in status(tmp_path / "state.sqlite").runs] == [("not_started", 4)]


# --- 70: internal errors ----------------------------------------------------------------------------------


def test_an_internal_error_is_one_line_without_its_message_and_a_traceback_only_with_v(
    export, tmp_path, capsys, monkeypatch
) -> None:
    def broken(*_: object) -> None:
        raise KeyError("Jane Doe 1961-02-03")  # a bug whose text carries data

    monkeypatch.setattr("fhirpeer.api.resource_types_of", broken)
    code, err = run(capsys, *sync_args(export, tmp_path))
    assert code == 70
    assert err == "fhirpeer: internal error: KeyError (run with -v for the traceback)\n"
    report = read_report(tmp_path / "report.json")
    assert report["error"] == {"category": "internal", "message": "internal error: KeyError"}
    code, err = run(capsys, *sync_args(export, tmp_path, "-v"))
    assert code == 70 and "Traceback" in err and "broken" in err


def test_an_internal_error_in_the_cli_itself_is_70_too(tmp_path, capsys, monkeypatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise ValueError("MRN 000123")

    monkeypatch.setattr("fhirpeer.cli.commands.status", broken)
    code, err = run(capsys, "status", "--state", str(tmp_path / "s.sqlite"))
    assert (code, err) == (70, "fhirpeer: internal error: ValueError (run with -v for the traceback)\n")


# --- status under `| head` --------------------------------------------------------------------------------


def test_status_into_a_closed_pipe_keeps_quiet(tmp_path) -> None:
    store = StateStore(tmp_path / "state.sqlite", "t")
    for n in range(2000):  # far more than a pipe buffer holds
        store.record_refused_run(f"run{n:04d}", "sync", CLOSED, exit_code=3, error=("unreachable", "refused"))
    store.close()
    cmd = [sys.executable, "-m", "fhirpeer.cli", "status", "--state", str(tmp_path / "state.sqlite"), "--runs", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0, err
    assert first.startswith(b"runs") and err == ""
