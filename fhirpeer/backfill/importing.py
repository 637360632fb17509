"""`fhirpeer import`: run a server's bulk import of an `export-bulk` folder to its end, then record it.

1. The folder is checked (manifest, every part's size and SHA-256) and must have been written for this run's
   identifier namespace (its ids and the state store's target depend on it).
2. Unless told not to, the server is asked whether it already holds any key of the export under another id
   (`server_check`): then the import is refused — nothing is sent — since it would put a second resource beside
   the EHR's (or anyone else's) one; sync links to or leaves those, by the ownership rules.
3. The import is started and polled to its end; for HAPI the parts are served over loopback by fhirpeer for the
   duration (`ExportFileServer`, with a one-time credential), one job per type in import order (`stages_by_type`);
   the cloud imports read them where the caller put them, in one job.
4. Only a complete import (done, nothing refused) is recorded in the state store (`import_state`); one with refused
   resources cannot say which, so nothing is recorded and the next sync looks every key up on the server instead.

The run is listed in `fhirpeer status` like a sync, with its counts or its error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..bulk import ExportFileServer, ImportFailed, ImportTimeout, read_manifest
from ..bulk.importers import ImportStatus, run_to_end
from ..bulk.manifest import Manifest
from ..errors import ConfigError, RunAborted
from ..mapping_files import Mappings
from ..run_report import RunReport
from ..sync_engine.server_lookup import ServerLookup
from ..sync_engine.state import StateStore
from ..transport.auth import Auth
from ..transport.client import FhirClient
from .import_state import ImportRecorder, VersionReader
from .server_check import keys_held_elsewhere
from .targets import AwsImportSettings, ImportKind, importer_for, kind_from_software, kind_from_url, needs_location

#: What `on_progress` receives after every poll.
ImportProgress = Callable[[ImportStatus], None]


@dataclass(frozen=True)
class ImportRequest:
    """One import: the folder, the kind of import (None: tell from the server), where a cloud import reads the parts,
    the AWS settings, and how long to wait."""

    directory: Path
    kind: ImportKind | None = None
    location: str | None = None
    aws: AwsImportSettings | None = None
    timeout: float = 3600.0
    poll_interval: float | None = None
    server_check: bool = True


def checked_manifest(directory: Path, mappings: Mappings) -> Manifest:
    """The folder's manifest, every file verified, written for this namespace."""
    manifest = read_manifest(directory, verify=True)
    namespace = mappings.identifiers.namespace
    if manifest.namespace.rstrip("/") != namespace.rstrip("/"):
        raise ConfigError(
            f"{directory}: written for namespace {manifest.namespace}, not {namespace}; its ids belong to that "
            "namespace — import it with that namespace, or export again with this one. Nothing was sent."
        )
    return manifest


def resolve_kind(requested: ImportKind | None, server: str, software_name: Callable[[], str | None]) -> ImportKind:
    """The import to run: as requested, else from the URL's shape, else from the server's software (asked only
    then)."""
    kind = requested or kind_from_url(server) or kind_from_software(software_name())
    if kind is None:
        raise ConfigError(
            "cannot tell which bulk import this server offers; pass --kind hapi|azure|google|aws. Nothing was sent."
        )
    return kind


def run_import(
    request: ImportRequest,
    kind: ImportKind,
    manifest: Manifest,
    client: FhirClient,
    mappings: Mappings,
    state: StateStore,
    report: RunReport,
    *,
    auth: Auth | None,
    on_progress: ImportProgress | None = None,
) -> None:
    """Check, import, poll to the end and record (see the module docstring); fills `report`."""
    if needs_location(kind) and not request.location:
        raise ConfigError(f"a {kind} import reads the parts from your storage: upload them, then pass --location")
    if request.server_check:
        _refuse_keys_held_elsewhere(client, mappings, request.directory, manifest)
    else:
        report.warn("server check skipped: keys the server holds under other ids were not looked for")
    status = _import(request, kind, manifest, client, auth, on_progress)
    for error in status.errors:
        report.warn(f"server: {error}")
    if not status.complete:
        refused = status.failed or 0
        report.exit_code = 1
        report.warn(
            f"the {kind} import finished with {refused or 'some'} resource(s) refused, without saying which: nothing "
            "was recorded in the state store, so the next sync looks every key up on the server"
        )
        return
    recorder = ImportRecorder(state, report.run_id, report, VersionReader(client) if request.server_check else None)
    recorder.record(request.directory, manifest)
    if recorder.elsewhere:
        report.warn(f"{recorder.elsewhere} resource(s) the state store knows under another id were not recorded again")
    if recorder.unversioned:
        report.warn(
            f"{recorder.unversioned} imported resource(s) without a known version: their next update is sent "
            "without If-Match"
        )


def _refuse_keys_held_elsewhere(client: FhirClient, mappings: Mappings, directory: Path, manifest: Manifest) -> None:
    held = keys_held_elsewhere(ServerLookup(client), mappings, directory, manifest)
    if held:
        examples = ", ".join(f"{h.resource_type} {h.key} (id {h.server_id})" for h in held[:5])
        raise ConfigError(
            f"the server already holds keys of this export under other ids, e.g. {examples}: a bulk import would "
            "put second copies beside them. Nothing was sent. Use `fhirpeer sync` for this export (it links to the "
            "EHR's records and leaves others' alone), or import into a server without them."
        )


def _import(
    request: ImportRequest,
    kind: ImportKind,
    manifest: Manifest,
    client: FhirClient,
    auth: Auth | None,
    on_progress: ImportProgress | None,
) -> ImportStatus:
    deadline = time.monotonic() + request.timeout

    def to_end(files_credential: str | None, location: str, part: Manifest) -> ImportStatus:
        importer = importer_for(kind, client.base_url, auth=auth, file_credential=files_credential, aws=request.aws)
        job = importer.start(part, location)
        try:
            return run_to_end(
                importer, job, poll_interval=request.poll_interval, timeout=max(deadline - time.monotonic(), 1.0),
                on_progress=on_progress,
            )  # fmt: skip
        except (ImportFailed, ImportTimeout) as exc:  # started: the server may hold part of the export now
            raise RunAborted(
                f"{exc}; nothing was recorded in the state store",
                cause=exc,
                advice="a rerun of the import (the same ids) or a sync finishes the job",
            ) from exc

    if kind is ImportKind.HAPI:
        with ExportFileServer(request.directory, verify=False) as files:  # verified already
            statuses: list[ImportStatus] = []
            for stage in stages_by_type(manifest):
                statuses.append(to_end(files.basic_credential, files.url, stage))
                if not statuses[-1].complete:  # dependants of refused resources would be refused too
                    break
            return merged(statuses)
    assert request.location is not None
    return to_end(None, request.location, manifest)


def stages_by_type(manifest: Manifest) -> list[Manifest]:
    """One manifest per type, in import order. HAPI's $import writes the chunks of one job in parallel and checks
    referential integrity on each write, so an Encounter can be written before the Patient it points at (20k
    contacts: every Encounter refused, HAPI-1094); a job per type, each run to its end before the next, keeps the
    targets of every reference ahead of it."""
    return [
        replace(manifest, outputs=tuple(o for o in manifest.outputs if o.type == rtype))
        for rtype in manifest.import_order
        if any(o.type == rtype for o in manifest.outputs)
    ]


def merged(statuses: list[ImportStatus]) -> ImportStatus:
    """The statuses of consecutive jobs as one: the last job's state and id, counts and errors summed."""
    last = statuses[-1]
    by_type: dict[str, int] = {}
    for status in statuses:
        for rtype, count in status.imported_by_type.items():
            by_type[rtype] = by_type.get(rtype, 0) + count
    imported = [s.imported for s in statuses]
    failed = [s.failed for s in statuses]
    return replace(
        last,
        imported=None if None in imported else sum(i or 0 for i in imported),
        failed=None if all(f is None for f in failed) else sum(f or 0 for f in failed),
        imported_by_type=by_type,
        errors=tuple(e for s in statuses for e in s.errors),
    )
