"""Settings precedence, as the README promises: defaults < --config file < FHIRPEER_* environment < flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fhirpeer.cli.commands import _settings
from fhirpeer.cli.parser import build_parser
from fhirpeer.errors import ConfigError
from fhirpeer.settings import load_settings


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
    assert cli_settings().batch_size == 200  # the default
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
    assert settings.state == Path(".fhirpeer/state.sqlite") and settings.batch_size == 200


def test_unknown_or_invalid_settings_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("batch_sise: 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="batch_sise"):
        load_settings(config)
    monkeypatch.setenv("FHIRPEER_WORKERS", "0")
    with pytest.raises(ConfigError, match="workers"):
        load_settings()


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
