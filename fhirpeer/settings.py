"""Run settings: defaults < config file (YAML) < FHIRPEER_* environment variables < explicit overrides (flags).

`Settings` is a plain model: building one never reads the environment or a file. `load_settings(config_file,
**overrides)` reads a config file; `Settings.from_env(config_file, environ, **overrides)` adds the FHIRPEER_*
variables of `environ` — the CLI uses it, and so can a scheduler that wants the CLI's behaviour.

Secrets (passwords, tokens, client secrets, private keys) are never settings here: `fhirpeer.transport.auth`
reads them (from an environment mapping or files) only where the caller asks it to.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .domain import ROSTER_TYPES, ConflictPolicy, OwnershipPolicy, WriteStrategy
from .errors import ConfigError

ENV_PREFIX = "FHIRPEER_"
_LIMIT = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<percent>%?)\s*$")


@dataclass(frozen=True)
class RejectionLimit:
    """`max_rejected`: at most `count` records, or at most `percent` % of the records read."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> RejectionLimit:
        match = _LIMIT.match(text)
        if not match:
            raise ValueError("must be a number of records (50) or a percentage (2%)")
        if match["percent"]:
            percent = float(match["number"])
            if percent > 100:
                raise ValueError("a percentage must be at most 100%")
            return cls(percent=percent)
        if "." in match["number"]:
            raise ValueError("a number of records must be a whole number")
        return cls(count=int(match["number"]))

    def exceeded(self, rejected: int, total: int) -> bool:
        if self.count is not None:
            return rejected > self.count
        assert self.percent is not None
        return total > 0 and 100.0 * rejected / total > self.percent

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.count)


# Entries per Bundle when `batch_size` is not set: 500, Azure Health Data Services' documented maximum per Bundle
# (Microsoft Learn, "FHIR service: supported features" — batch and transaction bundles), which HAPI FHIR, Smile CDR
# and Medplum take as well; AWS HealthLake takes 160 resources per Bundle, not adjustable (AWS HealthLake developer
# guide, "Endpoints and quotas": resources per bundle).
DEFAULT_BUNDLE_ENTRIES = 500
BUNDLE_ENTRY_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"healthlake(-fips)?\.[a-z0-9-]+\.amazonaws\.com"), 160),
)


class Settings(BaseModel):
    """Everything a run can be configured with (no secrets)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

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
    batch_size: int | None = None  # entries per Bundle; None: `bundle_entries()` picks the server's limit
    workers: int = 1
    conflict_policy: ConflictPolicy = ConflictPolicy.SKIP
    # who owns the master data, per type (Patient, Practitioner, Organization); default create_if_absent
    ownership: dict[str, OwnershipPolicy] = {}
    # the EHR's own MRN identifier system (often an OID URN); default: `{namespace}/sid/patient-mrn`
    mrn_system: str | None = None
    # a Provenance per written Bundle (targets, fhirpeer's Device as agent, create/update, recorded)
    provenance: bool = True
    # a referral Task per handoff (Gravity SDOH): all kinds, none, or a list of handoff kinds
    referral_tasks: Literal["all", "none"] | list[str] = "all"
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
    # "50" records or "2%" of the records read; more rejected records make a finished run exit 6
    max_rejected: str | None = None
    # list the keys created, updated, linked and in conflict per type in the run report (`changes`)
    report_keys: bool = True
    # replace business keys in reports and `status` by a salted sha256 prefix (for sites that protect MRNs)
    hash_keys_in_reports: bool = False

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

    def bundle_entries(self) -> int:
        """Entries per written Bundle: `batch_size` when set, else the largest the server is known to take."""
        if self.batch_size is not None:
            return self.batch_size
        host = (urlsplit(self.server).hostname or "") if self.server else ""
        for host_pattern, limit in BUNDLE_ENTRY_LIMITS:
            if host_pattern.fullmatch(host):
                return limit
        return DEFAULT_BUNDLE_ENTRIES

    @field_validator("batch_size", "workers", "max_attempts")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("max_rejected", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            RejectionLimit.parse(value)
            return value.strip()
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

    @property
    def referral_task_kinds(self) -> frozenset[str] | None:
        """The handoff kinds that get a referral Task (None: every kind)."""
        if self.referral_tasks == "all":
            return None
        return frozenset() if self.referral_tasks == "none" else frozenset(self.referral_tasks)

    def ownership_of(self, resource_type: str) -> OwnershipPolicy:
        return self.ownership.get(str(resource_type), OwnershipPolicy.CREATE_IF_ABSENT)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site_timezone)

    @property
    def rejection_limit(self) -> RejectionLimit | None:
        return RejectionLimit.parse(self.max_rejected) if self.max_rejected else None

    @classmethod
    def from_env(
        cls,
        config_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from the config file, then the FHIRPEER_* variables of `environ` (`os.environ` when None),
        then `overrides` (None values mean "not given")."""
        env = os.environ if environ is None else environ
        return _build(config_file, _from_environ(env), overrides)


_DELIMITER_NAMES = {",": ",", "comma": ",", ";": ";", "semicolon": ";", "\t": "\t", "tab": "\t"}


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the config file (if any) and explicit overrides (None = not given); no environment."""
    return _build(config_file, {}, overrides)


def _build(config_file: str | Path | None, env: dict[str, tuple[str, Any]], overrides: Mapping[str, Any]) -> Settings:
    """Merge the sources (later wins), remembering where each value came from for error messages."""
    values: dict[str, tuple[str, Any]] = {}
    if config_file is not None:
        values.update(_from_file(Path(config_file)))
    values.update(env)
    values.update({k: (f"--{k.replace('_', '-')}", v) for k, v in overrides.items() if v is not None})
    try:
        return Settings(**{k: v for k, (_, v) in values.items()})
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_input=False):
            name = str(e["loc"][0]) if e["loc"] else ""
            where = values[name][0] if name in values else "settings"
            path = ".".join(str(p) for p in e["loc"])
            text = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {path}: {text}" if path else f"{where}: {text}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


def _from_file(path: Path) -> dict[str, tuple[str, Any]]:
    """The settings of a YAML config file, each with `file:line` naming where it was set."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{yaml_position(exc)}: not valid YAML ({_yaml_problem(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}: expected settings as `name: value` lines at the top level")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return {str(k): (f"{path}:{lines.get(str(k), 1)}", v) for k, v in data.items()}


def yaml_position(exc: yaml.YAMLError) -> str:
    """`:line:column` of a YAML error (1-based), or "" when the parser gave no position."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's own description of the problem (e.g. "mapping values are not allowed here"); it names
    YAML tokens, never the file's values."""
    return str(getattr(exc, "problem", None) or "syntax error")


def _from_environ(environ: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """FHIRPEER_<SETTING> variables; dict and list settings are given as JSON (`{"CareTeam": "client_id_put"}`,
    `["%m/%d/%Y"]`)."""
    found: dict[str, tuple[str, Any]] = {}
    for name, field_info in Settings.model_fields.items():
        variable = ENV_PREFIX + name.upper()
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        value: Any = raw
        annotation = str(field_info.annotation)
        if "dict" in annotation or "list" in annotation:
            try:
                value = json.loads(raw)
            except ValueError:
                kind = "object" if "dict" in annotation else "array"
                raise ConfigError(f"{variable}: must be a JSON {kind}") from None
        found[name] = (variable, value)
    return found
