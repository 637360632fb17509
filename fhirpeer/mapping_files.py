"""Load, check and resolve the mapping files (`mappings/*.yaml`).

Every code fhirpeer emits comes from these files. They are checked once at start-up: an unknown key, a
missing file, a coding without system or code, or a contract value with no mapping is a `ConfigError`
naming the file and the key — never a surprise half-way through a run.

Resolved here, once: `{namespace}` in identifier systems; `local:<name>` code systems, which become
`<local_code_system_base>/<name>`; the CSV column of every record field (`columns.yaml` renames, the field's own
name otherwise); and the vocabulary each coded input column accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import contract, r4_value_sets
from .cell_values import DateFormats
from .domain import InputKind, ResourceType
from .errors import ConfigError
from .records import RECORD_MODELS, Vocabulary


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Strict):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None

    def as_fhir(self) -> dict[str, str]:
        """The FHIR Coding (built directly: `model_dump` costs ten times as much, on every mapped resource)."""
        coding = {"system": self.system, "code": self.code}
        if self.display is not None:
            coding["display"] = self.display
        return coding


class ClassCode(_Strict):
    code: str = Field(min_length=1)
    display: str | None = None

    def as_fhir(self, system: str) -> dict[str, str]:
        """The FHIR Coding of this class code in `system` (Encounter.class)."""
        coding = {"system": system, "code": self.code}
        if self.display is not None:
            coding["display"] = self.display
        return coding


class CodedConcept(_Strict):
    text: str = Field(min_length=1)
    codings: list[Coding] = Field(default_factory=list)


class HandoffKind(CodedConcept):
    category: list[Coding] = Field(default_factory=list)  # one ServiceRequest.category entry each, US Core's first
    performer_type: list[Coding] = Field(default_factory=list)


class Discipline(CodedConcept):
    specialty: Coding | None = None  # NUCC, when the discipline fixes the taxonomy


class IdentifierMap(_Strict):
    namespace: str
    systems: dict[str, str]
    npi_system: str
    local_code_system_base: str
    # Identifier.type per resource type (a Patient's MRN carries v2-0203 MR, as EHRs expect)
    types: dict[str, Coding] = Field(default_factory=dict)


class SecurityMap(_Strict):
    apply_to: list[str]
    labels: list[Coding]


class EncounterMap(_Strict):
    status: dict[str, str]
    send_modes: list[str]
    class_system: str
    class_by_mode: dict[str, ClassCode]
    class_by_setting: dict[str, ClassCode]
    default_setting: str
    setting_by_site_kind: dict[str, str] = Field(default_factory=dict)
    mode_system_local: str
    type_by_mode: dict[str, CodedConcept]
    setting_system_local: str
    type_by_setting: dict[str, CodedConcept] = Field(default_factory=dict)
    service_type_system_local: str
    service_type_code: str = Field(min_length=1)
    service_type: CodedConcept
    peer_participant_type: Coding
    purpose_system: str
    purposes: dict[str, CodedConcept]
    reason: CodedConcept | None = None
    length_unit: dict[str, str]


class AppointmentMap(_Strict):
    status: dict[str, str]
    participant_status: str
    slot_minutes_when_blank: int = Field(gt=0, le=1440)


class CareTeamMap(_Strict):
    category: list[Coding]
    status_when_open: str
    status_when_closed: str
    role_system_local: str
    roles: dict[str, CodedConcept]


class ServiceRequestMap(_Strict):
    intent: str
    status: dict[str, str]
    priorities: list[str]
    default_priority: str
    category_always: list[Coding] = Field(default_factory=list)
    code_system_local: str
    kinds: dict[str, HandoffKind]
    via_system: str
    via: dict[str, str]


class RosterMap(_Strict):
    genders: list[str]
    gender_when_blank: str
    data_absent_reason_url: str
    data_absent_reason: str
    discipline_system_local: str
    taxonomy_system: str
    disciplines: dict[str, Discipline]
    site_kind_system_local: str
    site_kinds: dict[str, CodedConcept]


class TaskMap(_Strict):
    status: dict[str, str]
    intent: str
    code: Coding
    status_reason_system_local: str
    status_reasons: dict[str, str] = Field(default_factory=dict)
    receiver_statuses: list[str]
    requester_overrides: list[str]


class EpisodeOfCareMap(_Strict):
    status: dict[str, str]
    type_always: list[Coding] = Field(default_factory=list)
    program_system_local: str
    programs: dict[str, CodedConcept]
    end_reason_extension_url: str
    end_reason_system_local: str
    end_reasons: dict[str, str]


class ProvenanceMap(_Strict):
    activity: dict[str, Coding]
    agent_type: Coding
    device_key: str = Field(min_length=1)
    device_name: str = Field(min_length=1)


class FileColumns(_Strict):
    """One input file's name and the CSV column of each record field (resolved: every field has one)."""

    file: str
    columns: dict[str, str]

    def column(self, field: str) -> str:
        return self.columns.get(field, field)


class Mappings(_Strict):
    """All mapping files, checked and with systems resolved."""

    identifiers: IdentifierMap
    security: SecurityMap
    encounter: EncounterMap
    appointment: AppointmentMap
    careteam: CareTeamMap
    servicerequest: ServiceRequestMap
    roster: RosterMap
    provenance: ProvenanceMap
    task: TaskMap
    episodeofcare: EpisodeOfCareMap
    columns: dict[InputKind, FileColumns]
    source: str = ""

    def system_for(self, resource_type: str) -> str:
        return self.identifiers.systems[resource_type]

    def vocabulary(self, tz: ZoneInfo, date_formats: Iterable[str] = ()) -> Vocabulary:
        """How this site's cells are read: the values each coded input column accepts, the site time zone for
        naive timestamps and the site's date layouts (strptime patterns tried after ISO 8601)."""
        return Vocabulary(
            modes=frozenset(self.encounter.type_by_mode),
            contact_statuses=frozenset(self.encounter.status) | frozenset(self.appointment.status),
            settings=frozenset(self.encounter.class_by_setting),
            purposes=frozenset(self.encounter.purposes),
            roles=frozenset(self.careteam.roles),
            kinds=frozenset(self.servicerequest.kinds),
            handoff_statuses=frozenset(self.servicerequest.status),
            priorities=frozenset(self.servicerequest.priorities),
            via=frozenset(self.servicerequest.via),
            genders=frozenset(self.roster.genders),
            disciplines=frozenset(self.roster.disciplines),
            site_kinds=frozenset(self.roster.site_kinds),
            enrollment_statuses=frozenset(self.episodeofcare.status),
            programs=frozenset(self.episodeofcare.programs),
            end_reasons=frozenset(self.episodeofcare.end_reasons),
            tz=tz,
            date_formats=DateFormats.of(date_formats),
        )

    def input_files(self) -> dict[InputKind, str]:
        """The file name of each input kind, as this site names it."""
        return {kind: cols.file for kind, cols in self.columns.items()}


_FILES: dict[str, type[BaseModel]] = {
    "identifiers": IdentifierMap,
    "security": SecurityMap,
    "encounter": EncounterMap,
    "appointment": AppointmentMap,
    "careteam": CareTeamMap,
    "servicerequest": ServiceRequestMap,
    "roster": RosterMap,
    "provenance": ProvenanceMap,
    "task": TaskMap,
    "episodeofcare": EpisodeOfCareMap,
}

M = TypeVar("M", bound=BaseModel)


def default_mappings_dir() -> Path:
    """The mapping files shipped in the package (wheel) or, in a source checkout, `mappings/` at the root."""
    packaged = resources.files("fhirpeer") / "_mappings"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "mappings"


def load_mappings(
    directory: Path | None = None, *, namespace: str | None = None, mrn_system: str | None = None
) -> Mappings:
    """Read every mapping file from `directory` (default: the shipped ones), check it, resolve systems.

    `namespace` overrides identifiers.yaml's; `mrn_system` is the EHR's own MRN identifier system for Patients
    (often an OID URN), which otherwise lives under the namespace."""
    folder = Path(directory) if directory else default_mappings_dir()
    if not folder.is_dir():
        raise ConfigError(f"mappings folder not found: {folder}")
    raw = {name: _read_yaml(folder / f"{name}.yaml") for name in _FILES}
    ns = (namespace or raw["identifiers"].get("namespace") or "").rstrip("/")
    if not ns.startswith(("http://", "https://", "urn:")):
        raise ConfigError("identifiers.yaml: namespace must be an absolute URI (https://… or urn:…)")
    local_base = str(raw["identifiers"].get("local_code_system_base", "")).replace("{namespace}", ns).rstrip("/")
    resolved = _resolve(raw, ns, local_base)
    resolved["identifiers"]["namespace"] = ns
    resolved["identifiers"]["local_code_system_base"] = local_base
    if mrn_system:
        if not mrn_system.startswith(("http://", "https://", "urn:")):
            raise ConfigError("mrn_system must be an absolute URI (https://… or urn:oid:…)")
        resolved["identifiers"].setdefault("systems", {})["Patient"] = mrn_system
    models = {name: _validate(folder / f"{name}.yaml", model, resolved[name]) for name, model in _FILES.items()}
    columns = _resolve_columns(_read_yaml(folder / "columns.yaml"))
    mappings = Mappings(**models, columns=columns, source=str(folder))
    _check_complete(mappings)
    return mappings


def _resolve_columns(raw: dict[str, Any]) -> dict[InputKind, FileColumns]:
    """Every input kind's file name and the column of every one of its record fields.

    A field `columns.yaml` does not rename is read from the column of its own name, so a site file that lists
    only the renamed columns still reads every field."""
    known = {kind.value for kind in InputKind}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"columns.yaml: unknown input kind(s): {', '.join(unknown)} (known: {', '.join(known)})")
    resolved: dict[InputKind, FileColumns] = {}
    for kind in InputKind:
        entry = raw.get(kind.value)
        if entry is None:
            raise ConfigError(f"columns.yaml: no entry for {kind.value}")
        given = _validate(Path("columns.yaml"), FileColumns, entry)
        fields = RECORD_MODELS[kind].model_fields
        extra = [f for f in given.columns if f not in fields]
        if extra:
            raise ConfigError(f"columns.yaml: {kind.value}.columns has unknown field(s): {', '.join(extra)}")
        resolved[kind] = FileColumns(file=given.file, columns={f: given.columns.get(f, f) for f in fields})
    return resolved


#: libyaml's safe loader when PyYAML was built with it (its wheels are): the same documents, ~8x faster than the pure
#: Python one — the mapping files are read at the start of every run, a third of a no-op rerun of 5k contacts
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"mapping file missing: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping at the top level")
    return data


def _resolve(value: Any, namespace: str, local_base: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, namespace, local_base) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, namespace, local_base) for v in value]
    if isinstance(value, str):
        value = value.replace("{namespace}", namespace)
        if value.startswith("local:"):
            return f"{local_base}/{value[len('local:') :]}"
    return value


def _validate(path: Path, model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigError(f"{path.name}: {problems}") from None


def _require(file: str, section: str, present: object, needed: tuple[str, ...]) -> None:
    missing = [v for v in needed if v not in present]  # type: ignore[operator]
    if missing:
        raise ConfigError(f"{file}: {section} has no mapping for {', '.join(missing)}")


def _require_in(file: str, section: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{file}: {section} '{value}' is not an allowed FHIR R4 code ({', '.join(allowed)})")


def _check_complete(m: Mappings) -> None:
    """Every contract value has a mapping, and every mapped status/intent is a valid R4 code."""
    _require("identifiers.yaml", "systems", m.identifiers.systems, tuple(ResourceType))
    enc, appt = m.encounter, m.appointment
    _require("encounter.yaml", "status", enc.status, contract.CONTACT_STATUSES_OF_ENCOUNTERS)
    for key, code in enc.status.items():
        _require_in("encounter.yaml", f"status.{key}", code, r4_value_sets.R4_ENCOUNTER_STATUS)
    _require("appointment.yaml", "status", appt.status, contract.CONTACT_STATUSES)
    for key, code in appt.status.items():
        _require_in("appointment.yaml", f"status.{key}", code, r4_value_sets.R4_APPOINTMENT_STATUS)
    participation = r4_value_sets.R4_PARTICIPATION_STATUS
    _require_in("appointment.yaml", "participant_status", appt.participant_status, participation)
    _require("encounter.yaml", "class_by_setting", enc.class_by_setting, contract.CONTACT_SETTINGS)
    _require("encounter.yaml", "type_by_mode", enc.type_by_mode, contract.CONTACT_MODES)
    _require("encounter.yaml", "purposes", enc.purposes, contract.CONTACT_PURPOSES)
    _require("encounter.yaml", "default_setting", enc.class_by_setting, (enc.default_setting,))
    for kind, setting in enc.setting_by_site_kind.items():
        _require("encounter.yaml", f"setting_by_site_kind.{kind}", enc.class_by_setting, (setting,))
    for mode in contract.CONTACT_MODES:
        if mode != "in_person" and mode not in enc.class_by_mode:
            raise ConfigError(f"encounter.yaml: class_by_mode has no mapping for {mode}")
    _require("encounter.yaml", "send_modes", contract.CONTACT_MODES, tuple(enc.send_modes))
    ct = m.careteam
    _require("careteam.yaml", "roles", ct.roles, contract.CARE_TEAM_ROLES)
    for key in ("status_when_open", "status_when_closed"):
        _require_in("careteam.yaml", key, getattr(ct, key), r4_value_sets.R4_CARETEAM_STATUS)
    sr = m.servicerequest
    _require("servicerequest.yaml", "status", sr.status, contract.HANDOFF_STATUSES)
    for key, code in sr.status.items():
        _require_in("servicerequest.yaml", f"status.{key}", code, r4_value_sets.R4_SERVICEREQUEST_STATUS)
    _require_in("servicerequest.yaml", "intent", sr.intent, r4_value_sets.R4_SERVICEREQUEST_INTENT)
    _require("servicerequest.yaml", "kinds", sr.kinds, contract.HANDOFF_KINDS)
    _require("servicerequest.yaml", "priorities", sr.priorities, contract.HANDOFF_PRIORITIES)
    for p in sr.priorities:
        _require_in("servicerequest.yaml", "priorities", p, r4_value_sets.R4_REQUEST_PRIORITY)
    _require("servicerequest.yaml", "default_priority", sr.priorities, (sr.default_priority,))
    _require("servicerequest.yaml", "via", sr.via, contract.HANDOFF_VIA)
    ro = m.roster
    _require("provenance.yaml", "activity", m.provenance.activity, ("create", "update"))
    tk = m.task
    _require("task.yaml", "status", tk.status, contract.HANDOFF_STATUSES)
    for key, code in tk.status.items():
        _require_in("task.yaml", f"status.{key}", code, r4_value_sets.R4_TASK_STATUS)
    _require_in("task.yaml", "intent", tk.intent, r4_value_sets.R4_TASK_INTENT)
    for code in (*tk.receiver_statuses, *tk.requester_overrides):
        _require_in("task.yaml", "receiver_statuses/requester_overrides", code, r4_value_sets.R4_TASK_STATUS)
    eoc = m.episodeofcare
    _require("episodeofcare.yaml", "status", eoc.status, contract.ENROLLMENT_STATUSES)
    for key, code in eoc.status.items():
        _require_in("episodeofcare.yaml", f"status.{key}", code, r4_value_sets.R4_EPISODE_OF_CARE_STATUS)
    _require("episodeofcare.yaml", "programs", eoc.programs, contract.PROGRAMS)
    _require("episodeofcare.yaml", "end_reasons", eoc.end_reasons, contract.ENROLLMENT_END_REASONS)
    _require("roster.yaml", "genders", ro.genders, contract.GENDERS)
    _require_in("roster.yaml", "gender_when_blank", ro.gender_when_blank, r4_value_sets.R4_ADMINISTRATIVE_GENDER)
    for g in ro.genders:
        _require_in("roster.yaml", "genders", g, r4_value_sets.R4_ADMINISTRATIVE_GENDER)
    _require("roster.yaml", "disciplines", ro.disciplines, contract.DISCIPLINES)
    _require("roster.yaml", "site_kinds", ro.site_kinds, contract.SITE_KINDS)
    _require("encounter.yaml", "setting_by_site_kind", ro.site_kinds, tuple(enc.setting_by_site_kind))
    confidentiality = [c for c in m.security.labels if c.system.endswith("/v3-Confidentiality")]
    if m.security.labels and len(confidentiality) != 1:
        raise ConfigError("security.yaml: labels must hold exactly one v3-Confidentiality label")
