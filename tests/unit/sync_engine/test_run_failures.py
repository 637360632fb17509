"""How a server failure part-way through a run is classified (the engine's top level)."""

from __future__ import annotations

from fhirpeer.domain import Outcome
from fhirpeer.errors import AuthError, RunAborted, ServerUnreachable, TemporaryError
from fhirpeer.run_report import RunReport
from fhirpeer.sync_engine.engine import _server_failure


def report(written: int) -> RunReport:
    r = RunReport(command="sync")
    if written:
        r.count("Patient", Outcome.CREATED, written)
    return r


def test_a_failure_after_writes_aborts_the_run_with_exit_5() -> None:
    cause = TemporaryError("POST transaction (200 entries): HTTP 503 after 6 attempts", status=503)
    error = _server_failure(cause, report(40))
    assert isinstance(error, RunAborted) and error.exit_code == 5 and error.cause is cause
    assert "HTTP 503 after 6 attempts" in str(error) and "40 record(s) were confirmed and recorded" in str(error)
    assert error.report is not None and error.report.written == 40
    assert "rerun finishes the job" in error.advice


def test_before_any_write_it_stays_the_server_failure_with_exit_3() -> None:
    cause = ServerUnreachable("GET Patient search: connection refused by 127.0.0.1:9 after 6 attempts")
    error = _server_failure(cause, report(0))
    assert error is cause and error.exit_code == 3 and error.report is not None


def test_refused_credentials_stay_exit_3_even_after_writes() -> None:
    cause = AuthError("POST transaction refused: HTTP 401 after re-authentication", status=401)
    error = _server_failure(cause, report(10))
    assert error is cause and error.exit_code == 3 and "rerun will not help" in error.advice
