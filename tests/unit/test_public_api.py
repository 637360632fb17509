"""The library surface schedulers use: a pinned `__all__`, a light `import fhirpeer`, `py.typed`, and an API
that never configures logging, prints or reads the environment, and raises one exception family."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import responses

import fhirpeer
from fhirpeer.api import make_clients
from fhirpeer.demo.sample import generate_program
from tests.support.paths import FIXTURES, REPO

#: The public names. A change here is a change of the API: update the README and the version with it.
PUBLIC = [
    "Auth", "AuthError", "AwsImportSettings", "BasicAuth", "BearerToken", "BulkExportError", "BulkExportResult",
    "ClientCredentials", "ConfigError", "ConflictPolicy", "FatalError", "FhirpeerError", "FileSummary",
    "GoogleCredentials", "ImportKind", "ImportStatus", "InputFileError", "InputWarning", "InternalError",
    "LockHeldError", "NoAuth", "NotFhirBase", "Outcome", "OutcomesReport", "OutcomesResult", "Rejection",
    "RejectionLimitExceeded", "ReportOptions", "ResourceType", "RunAborted", "RunReport", "ServerCheck",
    "ServerError", "ServerUnreachable", "Settings", "SmartBackendServices", "StatePathError", "StateStatus",
    "SyncProgress", "TemporaryError", "WriteStrategy", "WrittenReport", "__version__", "auth_from_env",
    "check_server", "export_bulk", "import_bulk", "load_settings", "outcomes", "report_schema", "status", "sync",
    "validate", "write_metrics_textfile", "write_program_report",
]  # fmt: skip
HEAVY = ("requests", "jwt", "fhir", "pydantic", "yaml", "tenacity", "prometheus_client", "urllib3")


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert fhirpeer.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(fhirpeer, name) is not None
    assert sorted(dir(fhirpeer)) == sorted(set(dir(fhirpeer)))  # no duplicates
    with pytest.raises(AttributeError):
        _ = fhirpeer.not_a_name  # type: ignore[attr-defined]


def test_every_failure_is_one_family_with_its_exit_code() -> None:
    codes = {
        "ConfigError": 2, "StatePathError": 2, "NotFhirBase": 2, "InputFileError": 2, "ServerError": 3,
        "ServerUnreachable": 3, "AuthError": 3, "TemporaryError": 3, "FatalError": 3, "LockHeldError": 4,
        "RunAborted": 5, "RejectionLimitExceeded": 6, "InternalError": 70,
    }  # fmt: skip
    for name, code in codes.items():
        cls = getattr(fhirpeer, name)
        assert issubclass(cls, fhirpeer.FhirpeerError) and cls.exit_code == code, name


def test_import_fhirpeer_is_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import fhirpeer; t = time.perf_counter() - t; "
        f"print(t, [m for m in {HEAVY!r} if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    seconds, loaded = out.split(" ", 1)
    assert loaded.strip() == "[]"  # nothing heavy is imported until a name is used
    assert float(seconds) < 0.2


def test_the_package_is_typed() -> None:
    assert (Path(fhirpeer.__file__).parent / "py.typed").is_file()


def test_settings_never_read_the_environment_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FHIRPEER_BATCH_SIZE", "7")
    monkeypatch.setenv("FHIRPEER_AUTH", "bearer")
    monkeypatch.setenv("FHIRPEER_BEARER_TOKEN", "secret")
    settings = fhirpeer.Settings(server="http://127.0.0.1:9/fhir")
    assert settings.batch_size is None and settings.bundle_entries() == 500
    assert fhirpeer.load_settings(server="http://127.0.0.1:9/fhir").batch_size is None
    assert fhirpeer.Settings.from_env().batch_size == 7  # only when asked
    assert fhirpeer.Settings.from_env(environ={}).batch_size is None
    (client,) = make_clients(settings)
    assert isinstance(client.auth, fhirpeer.NoAuth)  # no credential unless one is passed
    assert isinstance(fhirpeer.auth_from_env(os.environ, settings.server), fhirpeer.BearerToken)


def test_the_api_leaves_logging_alone_and_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("fhirpeer")
    before = (list(logger.handlers), logger.level, logger.propagate)
    with pytest.raises(fhirpeer.InputFileError) as caught:
        fhirpeer.sync(tmp_path / "missing", settings=fhirpeer.Settings(server="http://127.0.0.1:9/fhir",
                                                                        state=tmp_path / "s.sqlite"))  # fmt: skip
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    assert capsys.readouterr() == ("", "")
    report = caught.value.report  # a run that stopped before it started still has a report
    assert report is not None and report.exit_code == 2 and report.error.category == "input"


def test_an_unexpected_exception_becomes_internal_error_with_a_report(tmp_path: Path, monkeypatch) -> None:
    export = tmp_path / "export"
    generate_program(export, patients=3, seed=2)

    def broken(*_: object) -> None:
        raise RuntimeError("Jane Doe")

    monkeypatch.setattr("fhirpeer.api.resource_types_of", broken)
    settings = fhirpeer.Settings(server="http://127.0.0.1:9/fhir", state=tmp_path / "s.sqlite")
    with pytest.raises(fhirpeer.InternalError) as caught:
        fhirpeer.sync(export, settings=settings)
    assert caught.value.exit_code == 70 and "Jane" not in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)  # the original, for a traceback
    assert caught.value.report is not None and caught.value.report.exit_code == 70


def test_check_server_returns_capabilities_strategies_and_blocking_problems_as_data() -> None:
    base = "https://ehr.example.org/fhir/r4"
    settings = fhirpeer.Settings(server=base)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{base}/metadata", json=json.loads((FIXTURES / "capability" / "cerner.json").read_text()))
        rsps.get(f"{base}/.well-known/smart-configuration", status=404)
        check = fhirpeer.check_server(settings)
    assert isinstance(check, fhirpeer.ServerCheck) and not check.ok
    assert check.blocking and all(isinstance(p, str) for p in check.blocking)
    data = check.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["strategies"]["Encounter"] is not None and data["strategies"]["CareTeam"] is None
    assert data["blocking"] == check.blocking


def test_status_returns_data(tmp_path: Path) -> None:
    found = fhirpeer.status(tmp_path / "none.sqlite")
    assert isinstance(found, fhirpeer.StateStatus) and not found.exists
    assert found.to_dict() == {
        "state": str(tmp_path / "none.sqlite"), "exists": False, "keys_hashed": False, "runs": [],
        "rejections": [], "conflicts": [],
    }  # fmt: skip


def test_the_readme_documents_every_exit_code() -> None:
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| exit | meaning |") :].split("\n\n", 1)[0]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.M)}
    raised = {getattr(fhirpeer, n).exit_code for n in PUBLIC if n.endswith("Error") or n in ("RunAborted",
              "RejectionLimitExceeded", "NotFhirBase")}  # fmt: skip
    assert documented == {0, 1, 130} | raised == {0, 1, 2, 3, 4, 5, 6, 70, 130}
