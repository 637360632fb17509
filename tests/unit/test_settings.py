"""Settings precedence, as the README promises: defaults < --config file < FHIRPEER_* environment < flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fhirpeer.cli.commands import _settings
from fhirpeer.cli.parser import build_parser
from fhirpeer.errors import ConfigError
from fhirpeer.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _no_fhirpeer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FHIRPEER_"):
            monkeypatch.delenv(name)


def cli_settings(*argv: str):
    return _settings(build_parser().parse_args(["sync", "--input", "x", *argv]))


def test_each_source_overrides_the_one_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("batch_size: 50\nworkers: 3\nsite_timezone: America/Chicago\n", encoding="utf-8")
    assert cli_settings().batch_size is None  # the default: the server's limit
    assert cli_settings("--config", str(config)).batch_size == 50  # the file
    monkeypatch.setenv("FHIRPEER_BATCH_SIZE", "60")
    from_env = cli_settings("--config", str(config))
    assert (from_env.batch_size, from_env.workers) == (60, 3)  # env beats the file; the file's other keys stay
    flagged = cli_settings("--config", str(config), "--batch-size", "70", "--timezone", "UTC")
    assert (flagged.batch_size, flagged.workers, flagged.site_timezone) == (70, 3, "UTC")  # flags beat both


def test_a_setting_given_nowhere_keeps_its_default(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: https://fhir.example.org/R4\n", encoding="utf-8")
    settings = load_settings(config)
    assert settings.server == "https://fhir.example.org/R4"
    assert settings.state == Path(".fhirpeer/state.sqlite") and settings.batch_size is None


def test_unknown_or_invalid_settings_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("batch_sise: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="batch_sise"):
        load_settings(config)
    with pytest.raises(ConfigError, match=r"FHIRPEER_WORKERS: workers: must be at least 1"):
        Settings.from_env(environ={"FHIRPEER_WORKERS": "0"})


def test_from_env_reads_only_the_mapping_it_is_given(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("workers: 3\nstate: /var/lib/fhirpeer/state.sqlite\n", encoding="utf-8")
    environ = {"FHIRPEER_WORKERS": "4", "FHIRPEER_STRATEGY_PER_TYPE": '{"CareTeam": "client_id_put"}'}
    settings = Settings.from_env(config, environ, workers=None, batch_size=10)
    assert (settings.workers, settings.batch_size) == (4, 10)  # env beats the file, overrides beat both
    assert settings.state == Path("/var/lib/fhirpeer/state.sqlite")
    assert settings.strategy_per_type == {"CareTeam": "client_id_put"}
    with pytest.raises(ConfigError, match="FHIRPEER_STRATEGY_PER_TYPE: must be a JSON object"):
        Settings.from_env(environ={"FHIRPEER_STRATEGY_PER_TYPE": "CareTeam=client_id_put"})


def test_yaml_errors_name_file_line_and_column_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: https://fhir.example.org/R4\nworkers: 2\n  batch_size: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value) == f"{config}:3:13: not valid YAML (mapping values are not allowed here)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_config_file_that_is_no_mapping_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("- server\n- state\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected settings as `name: value` lines"):
        load_settings(config)
    config.write_text("", encoding="utf-8")
    assert load_settings(config) == Settings()  # an empty file sets nothing


def test_invalid_values_name_where_they_were_set(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("\nworkers: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{config}:2: workers: must be at least 1"):
        load_settings(config)
    with pytest.raises(ConfigError, match=r"--batch-size: batch_size: must be at least 1"):
        load_settings(batch_size=0)


@pytest.mark.parametrize(
    ("text", "rejected", "total", "exceeded"),
    [("0", 1, 100, True), ("0", 0, 100, False), ("5", 5, 10, False), ("5", 6, 10, True),
     ("2%", 2, 100, False), ("2%", 3, 100, True), ("0.5%", 1, 100, True), ("10%", 1, 0, False)],
)  # fmt: skip
def test_max_rejected_is_a_count_or_a_percentage(text: str, rejected: int, total: int, exceeded: bool) -> None:
    limit = Settings(max_rejected=text).rejection_limit
    assert limit is not None and limit.exceeded(rejected, total) is exceeded


@pytest.mark.parametrize("text", ["-1", "lots", "150%", "2.5"])
def test_max_rejected_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigError, match="max_rejected"):
        load_settings(max_rejected=text)


def test_how_the_site_saves_its_files_from_config_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        'encoding: cp1252\ndelimiter: tab\ndate_formats: ["%m/%d/%Y %I:%M %p", "%m/%d/%Y"]\n'
        "full_export: true\nretract_absent: true\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert (settings.encoding, settings.delimiter, settings.date_formats) == (
        "cp1252",
        "\t",
        ["%m/%d/%Y %I:%M %p", "%m/%d/%Y"],
    )
    assert settings.full_export and settings.retract_absent
    flagged = cli_settings("--encoding", "latin-1", "--delimiter", ";", "--date-format", "%d.%m.%Y", "--full-export")
    assert (flagged.encoding, flagged.delimiter, flagged.date_formats, flagged.full_export) == (
        "latin-1",
        ";",
        ["%d.%m.%Y"],
        True,
    )
    defaults = cli_settings()
    assert (defaults.encoding, defaults.delimiter, defaults.date_formats, defaults.full_export) == (
        "utf-8",
        None,
        [],
        False,
    )
    assert defaults.retract_absent is False  # a config file setting only: no flag retracts anything


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        ("encoding", "utf-9", "unknown encoding"),
        ("delimiter", "|", "must be a comma, a semicolon or a tab"),
        ("date_formats", ["%m/%d/%Q"], "strptime pattern"),
        ("date_formats", ["month/day/year"], "strptime pattern"),
    ],
)
def test_bad_file_format_settings_are_config_errors(setting: str, value: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(**{setting: value})


def test_a_list_setting_comes_from_the_environment_as_json() -> None:
    settings = Settings.from_env(environ={"FHIRPEER_DATE_FORMATS": '["%m/%d/%Y"]', "FHIRPEER_DELIMITER": "tab"})
    assert (settings.date_formats, settings.delimiter) == (["%m/%d/%Y"], "\t")
    with pytest.raises(ConfigError, match="FHIRPEER_DATE_FORMATS: must be a JSON array"):
        Settings.from_env(environ={"FHIRPEER_DATE_FORMATS": "%m/%d/%Y"})


def test_bundle_entries_default_to_the_servers_documented_limit() -> None:
    assert Settings(server="http://127.0.0.1:8080/fhir").bundle_entries() == 500
    assert Settings().bundle_entries() == 500
    healthlake = "https://healthlake.us-east-1.amazonaws.com/datastore/abc/r4/"
    assert Settings(server=healthlake).bundle_entries() == 160
    assert Settings(server="https://healthlake-fips.us-east-2.amazonaws.com/datastore/x/r4/").bundle_entries() == 160
    assert Settings(server="https://s3.amazonaws.com/fhir").bundle_entries() == 500
    assert Settings(server=healthlake, batch_size=50).bundle_entries() == 50
