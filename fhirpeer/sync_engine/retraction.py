"""What a run does about records an earlier run synced and this export lacks: a warning per file, and — only when
the site declares a full export and sets `retract_absent` — each absent clinical record marked entered-in-error.

Retraction is a read, a status change and a PUT with If-Match on the version fhirpeer wrote, so a record someone
changed on the server since is a conflict, left alone. Patients, staff and sites are never retracted, and nothing
is retracted from a file with no records (a failed export looks like that), nor for a file missing from the export.
"""

from __future__ import annotations

from typing import Any

from ..domain import ConflictPolicy, InputKind, Outcome, ResourceType
from ..errors import FatalError
from ..input.folder import InputFolder
from ..mappers.common import identifier_token
from ..mapping_files import Mappings
from ..run_report import Absent, Conflict, RunReport
from ..transport.client import FhirClient
from .coverage import ExportCoverage, types_of_kind
from .state import OWNER_FHIRPEER, RETRACTED_HASH, AbsentRow, StateStore, Written
from .strategies.base import VERSION_CONFLICT_STATUSES

#: The status that retracts a record. It is in the FHIR R4 (4.0.1) required status value set of each type:
#: encounter-status, care-team-status, request-status (ServiceRequest), appointmentstatus, task-status and
#: episode-of-care-status (hl7.org/fhir/R4/valueset-<name>.html).
ENTERED_IN_ERROR = "entered-in-error"
RETRACTABLE: frozenset[ResourceType] = frozenset(
    {
        ResourceType.ENCOUNTER,
        ResourceType.CARE_TEAM,
        ResourceType.SERVICE_REQUEST,
        ResourceType.APPOINTMENT,
        ResourceType.TASK,
        ResourceType.EPISODE_OF_CARE,
    }
)


_NOT_RETRACTED = {
    "conflict": "absent from the full export, but changed on the server since fhirpeer wrote it: not retracted",
    "refused": "absent from the full export, but the server refused to mark it entered-in-error",
}


class Retractor:
    """Marks one synced record entered-in-error on the server and records that in the state store."""

    def __init__(
        self,
        client: FhirClient,
        state: StateStore,
        mappings: Mappings,
        *,
        conflict_policy: ConflictPolicy,
        dry_run: bool,
        run_id: str,
    ):
        self.client, self.state, self.mappings = client, state, mappings
        self.conflict_policy, self.dry_run, self.run_id = conflict_policy, dry_run, run_id

    def retract(self, kind: InputKind, resource_type: ResourceType, row: AbsentRow) -> str:
        """What happened: retracted, would retract (dry run), conflict, gone or refused."""
        if self.dry_run:
            return "would retract"
        key, version = row.key, row.version_id
        resource = self._current(resource_type, key, row.server_id)
        if resource is None:
            return "gone"
        current = (resource.get("meta") or {}).get("versionId")
        if_match: str | None = None
        if self.conflict_policy is ConflictPolicy.SKIP:
            if version and current and current != version:
                return "conflict"
            if_match = version or current
        new_version = current
        if resource.get("status") != ENTERED_IN_ERROR:
            resource["status"] = ENTERED_IN_ERROR
            try:
                result = self.client.put(f"{resource_type}/{resource['id']}", resource, if_match=if_match)
            except FatalError as exc:
                return "conflict" if exc.status in VERSION_CONFLICT_STATUSES else "refused"
            new_version = result.version_id
        written = Written(str(resource_type), key, RETRACTED_HASH, resource["id"], new_version)
        self.state.record_written([written], self.run_id)
        self.state.forget_records(kind.value, [key])  # if the record comes back, it is mapped and written again
        return "retracted"

    def _current(self, resource_type: ResourceType, key: str, server_id: str | None) -> dict[str, Any] | None:
        if server_id:
            return self.client.read(str(resource_type), server_id)
        system = self.mappings.system_for(str(resource_type))
        for found in self.client.search(str(resource_type), [("identifier", identifier_token(system, key))]):
            if any(i.get("system") == system and i.get("value") == key for i in found.get("identifier", [])):
                return found
        return None


def settle_absent(
    folder: InputFolder, coverage: ExportCoverage, report: RunReport, retractor: Retractor | None, *, full: bool
) -> None:
    """Warn per file about the records an earlier run synced that this export lacks; with a declared full
    export list them, and retract them when `retractor` is given."""
    present = set(folder.check())
    for kind in InputKind:
        file = folder.path(kind).name
        for resource_type in types_of_kind(kind):
            if kind not in present:
                _missing_file(report, file, resource_type, coverage.before.get(str(resource_type), 0))
                continue
            absent = coverage.absent_count(resource_type)
            if not absent:
                continue
            if not full:
                report.warn(
                    f"{absent} {resource_type} record(s) that an earlier run synced are not in this export (or "
                    "rejected in it); they stay on the server (fhirpeer never deletes). If the export is complete, "
                    "--full-export lists them",
                    file,
                )
                continue
            summary = folder.summary(kind)
            records = summary.records if summary else 0
            _full_export_absent(report, coverage, retractor, kind, file, resource_type, records)


def _missing_file(report: RunReport, file: str, resource_type: ResourceType, synced: int) -> None:
    if synced:
        report.warn(
            f"not in this export: the {synced} {resource_type} record(s) an earlier run synced from it were not "
            "compared with it",
            file,
        )


def _full_export_absent(
    report: RunReport,
    coverage: ExportCoverage,
    retractor: Retractor | None,
    kind: InputKind,
    file: str,
    resource_type: ResourceType,
    records: int,
) -> None:
    rows = coverage.absent(resource_type)
    if retractor is None or resource_type not in RETRACTABLE or not records:
        for row in rows:
            report.absent.append(Absent(file, str(resource_type), row.key, "reported"))
        why = (
            "patients, staff and sites are never retracted"
            if resource_type not in RETRACTABLE
            else "the file has no records, which looks like a failed export: nothing retracted"
            if retractor is not None
            else "set retract_absent: true to mark them entered-in-error"
        )
        report.warn(
            f"{len(rows)} {resource_type} record(s) that an earlier run synced are not in this full export "
            f"(listed under absent in the report); they stay on the server ({why})",
            file,
        )
        return
    actions: dict[str, int] = {}
    for row in rows:
        action = retractor.retract(kind, resource_type, row) if row.owner == OWNER_FHIRPEER else "reported"
        actions[action] = actions.get(action, 0) + 1
        report.absent.append(Absent(file, str(resource_type), row.key, action))
        if action in ("retracted", "would retract"):
            report.count(resource_type, Outcome.RETRACTED)
        elif action in _NOT_RETRACTED:
            report.conflicts.append(Conflict(str(resource_type), row.key, _NOT_RETRACTED[action]))
    done = ", ".join(f"{n} {action}" for action, n in sorted(actions.items()))
    report.warn(f"{len(rows)} {resource_type} record(s) absent from this full export: {done}", file)
