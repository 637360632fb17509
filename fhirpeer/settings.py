"""Run settings: defaults < config file (YAML) < FHIRPEER_* environment variables < command-line flags.

Secrets (passwords, tokens, client secrets, private keys) are never settings here: `fhirpeer.transport.auth`
reads them from the environment or from files only.
"""

from __future__ import annotations

import codecs
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from .domain import ROSTER_TYPES, ConflictPolicy, OwnershipPolicy, WriteStrategy
from .errors import ConfigError


class Settings(BaseSettings):
    """Everything a run can be configured with (no secrets)."""

    model_config = SettingsConfigDict(env_prefix="FHIRPEER_", extra="forbid", validate_default=True)

    server: str | None = None
    namespace: str | None = None  # overrides mappings/identifiers.yaml `namespace`
    mappings: Path | None = None  # a site's edited copy of mappings/
    site_timezone: str = "UTC"
    # how the site's spreadsheets save their CSV files
    encoding: str = "utf-8"  # a BOM is allowed; e.g. cp1252 for Excel's "CSV (Comma delimited)" on Windows
    delimiter: str | None = None  # None: recognised from each header (comma, semicolon or tab)
    date_formats: list[str] = []  # strptime patterns tried in order after ISO 8601, e.g. "%m/%d/%Y %I:%M %p"
    full_export: bool = False  # the export holds every record: what it lacks was removed at the source
    retract_absent: bool = False  # with full_export: mark records absent from it entered-in-error on the server
    part2_labels: bool = True
    send_text_contacts: bool = False
    state: Path = Path(".fhirpeer/state.sqlite")
    batch_size: int = 200
    workers: int = 1
    conflict_policy: ConflictPolicy = ConflictPolicy.SKIP
    # who owns the master data, per type (Patient, Practitioner, Organization); default create_if_absent
    ownership: dict[str, OwnershipPolicy] = {}
    # the EHR's own MRN identifier system (often an OID URN); default: `{namespace}/sid/patient-mrn`
    mrn_system: str | None = None
    # a Provenance per written Bundle (targets, fhirpeer's Device as agent, create/update, recorded)
    provenance: bool = True
    # client-assigned ids for what fhirpeer owns: auto = when the server declares updateCreate or is HAPI FHIR
    client_ids: Literal["auto", "always", "never"] = "auto"
    strategy: WriteStrategy | Literal["auto"] = "auto"
    # per resource type, e.g. {CareTeam: client_id_put} for a server without CareTeam identifier search
    strategy_per_type: dict[str, WriteStrategy] = {}
    timeout_connect: float = 5.0
    timeout_read: float = 120.0
    retry_budget_seconds: float = 900.0
    max_attempts: int = 6
    retry_after_cap: float = 120.0
    verify_tls: bool = True
    ca_bundle: Path | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("site_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown IANA time zone") from exc
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError("unknown encoding (e.g. utf-8, cp1252, latin-1, utf-16)") from exc
        return value

    @field_validator("delimiter", mode="before")
    @classmethod
    def _one_delimiter(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        named = _DELIMITER_NAMES.get(str(value).strip().casefold(), value)
        if named not in _DELIMITER_NAMES.values():
            raise ValueError("must be a comma, a semicolon or a tab (',', ';', 'tab')")
        return named

    @field_validator("date_formats")
    @classmethod
    def _strptime_patterns(cls, value: list[str]) -> list[str]:
        sample = datetime(2026, 11, 23, 14, 30, 5)
        for pattern in value:
            try:
                datetime.strptime(sample.strftime(pattern), pattern)
            except ValueError as exc:
                raise ValueError("each entry must be a strptime pattern such as %m/%d/%Y") from exc
            if "%" not in pattern:
                raise ValueError("each entry must be a strptime pattern such as %m/%d/%Y")
        return value

    @field_validator("batch_size", "workers", "max_attempts")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("ownership")
    @classmethod
    def _roster_types_only(cls, value: dict[str, OwnershipPolicy]) -> dict[str, OwnershipPolicy]:
        unknown = sorted(set(value) - {str(t) for t in ROSTER_TYPES})
        if unknown:
            raise ValueError(
                f"ownership applies to {', '.join(sorted(map(str, ROSTER_TYPES)))}, not {', '.join(unknown)}"
            )
        return value

    def ownership_of(self, resource_type: str) -> OwnershipPolicy:
        return self.ownership.get(str(resource_type), OwnershipPolicy.CREATE_IF_ABSENT)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)


_DELIMITER_NAMES = {",": ",", "comma": ",", ";": ";", "semicolon": ";", "\t": "\t", "tab": "\t"}


def _settings_class(config_file: Path | None) -> type[Settings]:
    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
            return tuple(sources)

    return _FileSettings


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the config file, FHIRPEER_* variables and explicit overrides (None = not given)."""
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError(f"config file not found: {config_file}")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        loaded = _settings_class(Path(config_file) if config_file else None)(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    return Settings.model_validate(loaded.model_dump())
