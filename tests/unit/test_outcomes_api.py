"""`fhirpeer.outcomes` without a server: the polling rule decides before anything is sent, the CSV comes complete
from the state store, and every failure carries an outcomes report (its JSON Schema holds)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

import fhirpeer
from fhirpeer.cli import main
from fhirpeer.cli.parser import date_or_datetime
from fhirpeer.program_report.outcomes_report import outcomes_report_schema
from fhirpeer.sync_engine.outcome_state import OutcomeRun, OutcomeStore, StoredOutcome
from fhirpeer.sync_engine.state import target_id

CLOSED = "http://127.0.0.1:9/fhir"  # nothing listens: any request fails at once
NS = "https://ns.test"
POLLED_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> fhirpeer.Settings:
    return fhirpeer.Settings(server=CLOSED, namespace=NS, state=tmp_path / "state.sqlite", max_attempts=1)


@pytest.fixture
def polled_before(settings: fhirpeer.Settings) -> None:
    """An earlier run polled the server at 09:00 and decided two handoffs."""
    store = OutcomeStore(settings.state, target_id(CLOSED, NS))
    decided = [
        StoredOutcome("H1", "sr1", "p1", "housing", "linked", "2026-11-20T10:00:00-05:00", 2.0, "task:completed",
                      None, "r0"),
        StoredOutcome("H2", "sr2", "p2", "legal", "not_linked", None, None, "task:rejected", "no-capacity", "r0"),
    ]  # fmt: skip
    run = OutcomeRun("r0", "2026-11-24T09:00:00.000Z", "2026-11-24T09:00:02.000Z", True, None,
                     "2026-11-24T09:00:00.500Z", 2, 2, 2, 0)  # fmt: skip
    store.record_run(run, decided, replace_all=True)
    store.close()


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_within_fifteen_minutes_the_csv_comes_from_the_store_and_the_server_is_not_asked(
    settings: fhirpeer.Settings, polled_before: None, tmp_path: Path
) -> None:
    out = tmp_path / "outcomes.csv"
    result = fhirpeer.outcomes(settings, out, now=POLLED_AT + timedelta(minutes=10))
    report = result.report
    assert (report.polled, report.exit_code, report.handoffs) == (False, 0, 2)
    assert report.counts == {"linked": 1, "in_progress": 0, "not_linked": 1, "pending": 0, "retracted": 0}
    assert any(w.startswith("not polled: run r0 polled this server 10 minute(s) ago") and "in 5 minute(s)" in w
               for w in report.warnings)  # fmt: skip
    rows = [(r["handoff_id"], r["outcome"], r["decided_at"], r["days_to_linkage"], r["reason"]) for r in csv_rows(out)]
    assert rows == [
        ("H1", "linked", "2026-11-20T10:00:00-05:00", "2.0", ""),
        ("H2", "not_linked", "", "", "no-capacity"),
    ]  # fmt: skip
    assert [o.handoff_id for o in result.outcomes] == ["H1", "H2"] and result.path == out
    jsonschema.validate(report.to_dict(), outcomes_report_schema())
    # a run served from the store does not restart the clock: at 09:15 the server is due again
    with pytest.raises(fhirpeer.ServerUnreachable):
        fhirpeer.outcomes(settings, out, now=POLLED_AT + timedelta(minutes=15))


@pytest.mark.parametrize("force", [False, True])
def test_after_fifteen_minutes_or_with_force_the_server_is_asked(
    settings: fhirpeer.Settings, polled_before: None, tmp_path: Path, force: bool
) -> None:
    now = POLLED_AT + (timedelta(minutes=1) if force else timedelta(minutes=16))
    with pytest.raises(fhirpeer.ServerUnreachable) as failed:
        fhirpeer.outcomes(settings, tmp_path / "outcomes.csv", now=now, force=force)
    report = failed.value.report
    assert (report.exit_code, report.error.category) == (3, "unreachable")
    jsonschema.validate(report.to_dict(), outcomes_report_schema())
    assert not (tmp_path / "outcomes.csv").exists()  # nothing written, nothing recorded: the next run asks again
    store = OutcomeStore(settings.state, target_id(CLOSED, NS))
    last = store.last_polled_run()
    assert last is not None and last.run_id == "r0"


def test_the_report_hashes_keys_when_the_site_asks(
    settings: fhirpeer.Settings, polled_before: None, tmp_path: Path
) -> None:
    store = OutcomeStore(settings.state, target_id(CLOSED, NS))
    assert store.outcomes()  # seeded
    hashed = settings.model_copy(update={"hash_keys_in_reports": True})
    report = fhirpeer.outcomes(hashed, tmp_path / "o.csv", now=POLLED_AT + timedelta(minutes=1)).report
    report.changes = {"linked": ["H1"]}
    document = report.to_dict()
    assert document["keys_hashed"] is True
    assert document["changes"]["linked"] == [fhirpeer.RunReport(command="x", key_salt=NS).shown_key("H1")]


def test_the_cli_writes_an_outcomes_report_for_a_run_that_could_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FHIRPEER_SERVER", raising=False)
    report = tmp_path / "report.json"
    code = main(["outcomes", "--out", str(tmp_path / "o.csv"), "--state", str(tmp_path / "s.sqlite"),
                 "--report-json", str(report)])  # fmt: skip
    assert code == 2
    assert "no server given" in capsys.readouterr().err
    document = json.loads(report.read_text())
    jsonschema.validate(document, outcomes_report_schema())
    assert (document["command"], document["exit_code"], document["error"]["category"]) == ("outcomes", 2, "config")


def test_the_cli_says_when_it_did_not_poll(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.sqlite"
    store = OutcomeStore(state, target_id(CLOSED, NS))
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="milliseconds")
    store.record_run(OutcomeRun("r0", two_minutes_ago, two_minutes_ago, True, None, two_minutes_ago, 0, 0, 0, 0))
    store.close()
    code = main(["outcomes", "--server", CLOSED, "--namespace", NS, "--state", str(state),
                 "--out", str(tmp_path / "o.csv")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not polled — written from the state store" in out
    assert "warning: not polled: run r0 polled this server 2 minute(s) ago" in out
    assert csv_rows(tmp_path / "o.csv") == []  # the header alone: no handoff decided yet


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-11-01", date(2026, 11, 1)),
        ("2026-11-01T08:00:00-05:00", datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
        ("2026-11-01T08:00:00Z", datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_since_takes_a_date_or_a_date_time(text: str, parsed: date) -> None:
    assert date_or_datetime(text) == parsed


def test_since_that_is_no_date_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["outcomes", "--out", str(tmp_path / "o.csv"), "--since", "last tuesday"])
    assert usage.value.code == 2
    assert "--since: must be an ISO 8601 date or date-time, not 'last tuesday'" in capsys.readouterr().err
