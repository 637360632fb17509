"""Read a program's resources back from a FHIR server (through ``fhirpeer.transport.client.FhirClient``).

What fhirpeer wrote is found by identifier system (``identifier=<system>|`` matches every value of it).
Evidence other systems wrote about the program's handoffs is found by reference searches, ~40 ids a request:
``Task?focus=``, ``Encounter?based-on=``, ``EpisodeOfCare?incoming-referral=``.

Servers differ in the search parameters they support. A search the server refuses (HTTP 400) or says it
ignored (an OperationOutcome "not-supported" in the Bundle, or the parameter missing from the Bundle's self
link — sekmet 0.1.1 has no ``incoming-referral``) falls back to a search by patient, and the references are
matched here; each fallback adds a PHI-free warning to the result (nothing is logged). Whatever the server
does, every resource is checked here against what was asked (identifier system, reference, ``_lastUpdated``), so a
server that ignores a parameter costs time, never correctness. Patient resources are never read.

Incremental reads (``since``) add ``_lastUpdated=gt<since>``; a server that refuses it is asked again without it
and what changed is picked out here by ``meta.lastUpdated``. ``FetchResult.server_time`` is the server's clock at
the first search (its Bundle's ``meta.lastUpdated``, else the response's Date header): the next run's high-water
mark, never the client's clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from ..errors import FatalError
from ..transport.client import FhirClient
from .extract import identifier_value, parse_datetime, reference_id, reference_ids
from .systems import Systems

__all__ = ["CHUNK_SIZE", "PAGE_SIZE", "FetchResult", "fetch_handoff_evidence", "fetch_program"]

CHUNK_SIZE = 40
PAGE_SIZE = 200  # _count: servers default to 10-50 a page, and a program has thousands of Encounters
_UTC = ZoneInfo("UTC")

Resource = dict[str, Any]


@dataclass
class FetchResult:
    """The resources read (any order, no duplicates) and what the reader had to work around."""

    resources: list[Resource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    searches: int = 0  # searches made (each may have read several pages)
    server_time: datetime | None = None  # the server's clock at the first search (None: it did not say)
    unread: list[str] = field(default_factory=list)  # evidence types that could not be searched at all

    @property
    def complete(self) -> bool:
        """Every kind of evidence could be searched (else some outcomes may be decided on less than there is)."""
        return not self.unread

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.get("resourceType") == resource_type]


@dataclass(frozen=True)
class _ReferenceSearch:
    """Resources of ``resource_type`` referring to ServiceRequests through ``param`` (``element`` holds it)."""

    resource_type: str
    param: str
    element: str
    fallback_param: str  # a patient search parameter of resource_type


TASKS_BY_FOCUS = _ReferenceSearch("Task", "focus", "focus", "patient")
ENCOUNTERS_BASED_ON = _ReferenceSearch("Encounter", "based-on", "basedOn", "patient")
EPISODES_BY_REFERRAL = _ReferenceSearch("EpisodeOfCare", "incoming-referral", "referralRequest", "patient")
EVIDENCE_SEARCHES = (TASKS_BY_FOCUS, ENCOUNTERS_BASED_ON, EPISODES_BY_REFERRAL)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _since_param(since: datetime | None) -> list[tuple[str, str]]:
    if since is None:
        return []
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    # milliseconds: at a precision of seconds, "gt" would skip what changed later in the same second
    instant = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [("_lastUpdated", f"gt{instant}")]


def _ignored(bundle: Mapping[str, Any], param: str) -> bool:
    """True when the first searchset Bundle of a search shows the server did not apply ``param``."""
    if not param:
        return False
    for entry in bundle.get("entry") or []:
        search = entry.get("search") if isinstance(entry, Mapping) else None
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not (isinstance(search, Mapping) and search.get("mode") == "outcome" and isinstance(resource, Mapping)):
            continue
        for issue in resource.get("issue") or []:
            if (
                isinstance(issue, Mapping)
                and issue.get("code") == "not-supported"
                and param in str(issue.get("diagnostics", ""))
            ):
                return True
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            names = {name.split(":", 1)[0] for name, _ in parse_qsl(urlsplit(link["url"]).query)}
            return bool(names) and param not in names
    return False


def _matches(bundle: Mapping[str, Any]) -> Iterator[Resource]:
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, Mapping) else None
        resource = entry.get("resource")
        if mode in (None, "match") and isinstance(resource, dict):
            yield resource


def _server_time(bundle: Mapping[str, Any], date_header: str | None) -> datetime | None:
    """When the server answered: the Bundle's meta.lastUpdated, else the HTTP Date header (None if neither)."""
    meta = bundle.get("meta")
    stamp = parse_datetime(meta.get("lastUpdated"), _UTC) if isinstance(meta, Mapping) else None
    if stamp is not None:
        return stamp
    try:
        dated = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError):
        return None
    return dated if dated is not None and dated.tzinfo is not None else None


class _Reader:
    def __init__(self, client: FhirClient, result: FetchResult) -> None:
        self.client = client
        self.result = result
        self._seen: set[tuple[str, str]] = set()
        self._no_since: set[str] = set()  # types whose _lastUpdated search the server refused

    def keep(self, resources: Iterable[Resource]) -> list[Resource]:
        """Add resources not seen before to the result; return those added."""
        added = []
        for res in resources:
            key = (str(res.get("resourceType")), str(res.get("id")))
            if key not in self._seen:
                self._seen.add(key)
                self.result.resources.append(res)
                added.append(res)
        return added

    def search(
        self, resource_type: str, params: list[tuple[str, str]], applied: str, since: datetime | None = None
    ) -> list[Resource] | None:
        """Every match of a search across pages (changed after ``since``, when given); None when the server
        refuses or ignores ``applied``."""
        since_params = [] if resource_type in self._no_since else _since_param(since)
        found = self._pages(resource_type, [*params, *since_params], applied)
        if found is None and since_params:
            found = self._pages(resource_type, params, applied)
            if found is not None:
                # it was _lastUpdated the server refused: read without it from now on, pick out the changes here
                self._no_since.add(resource_type)
                self.result.warn(
                    f"{resource_type}: the server refused search by _lastUpdated; read in full and picked out "
                    "what changed here"
                )
        if found is None or since is None:
            return found
        return [r for r in found if _updated_after(r, since)]

    def _pages(self, resource_type: str, params: list[tuple[str, str]], applied: str) -> list[Resource] | None:
        found: list[Resource] = []
        self.result.searches += 1
        try:
            pages = self.client.search_bundles(resource_type, params, page_size=PAGE_SIZE)
            for page, bundle in enumerate(pages):
                if self.result.server_time is None:
                    self.result.server_time = _server_time(bundle, self.client.last_response_date)
                # later pages' self links are the server's paging URLs, not the query
                if page == 0 and _ignored(bundle, applied):
                    return None
                found.extend(_matches(bundle))
        except FatalError as exc:
            if exc.status == 400:
                return None
            raise
        return found

    def by_system(self, resource_type: str, system: str, since: datetime | None = None) -> list[Resource]:
        found = self.search(resource_type, [("identifier", f"{system}|")], "identifier", since)
        if found is None:
            # read the whole type (changed since, when the server can say) and keep the program's here
            found = self.search(resource_type, [], "", since) or []
            self.result.warn(
                f"{resource_type}: the server does not support search by identifier system; read every "
                f"{resource_type} and kept the program's here"
            )
        return [r for r in found if identifier_value(r, system) is not None]

    def by_keys(self, resource_type: str, system: str, keys: Iterable[str]) -> list[Resource]:
        """The resources carrying ``system|key`` for any of ``keys`` (keys hold no ``|``, ``,``, ``$`` or ``\\``)."""
        wanted = sorted(set(keys))
        found: list[Resource] = []
        for chunk in _chunks(wanted, CHUNK_SIZE):
            page = self.search(resource_type, [("identifier", ",".join(f"{system}|{k}" for k in chunk))], "identifier")
            if page is None:  # no identifier search: whatever by_system can do, once
                return [r for r in self.by_system(resource_type, system) if identifier_value(r, system) in wanted]
            found += [r for r in page if identifier_value(r, system) in chunk]
        return found

    def by_id(self, resource_type: str, ids: Sequence[str]) -> list[Resource]:
        found: list[Resource] = []
        for chunk in _chunks(sorted(set(ids)), CHUNK_SIZE):
            page = self.search(resource_type, [("_id", ",".join(chunk))], "_id") or []
            found += [r for r in page if r.get("id") in chunk]
        return found

    def referring(
        self,
        how: _ReferenceSearch,
        handoff_ids: Sequence[str],
        patient_of: Mapping[str, str],
        since: datetime | None = None,
    ) -> list[Resource]:
        """Resources referring to any of ``handoff_ids`` (ServiceRequest ids) through ``how``."""
        wanted = set(handoff_ids)

        def refers(res: Resource) -> bool:
            return bool(wanted.intersection(reference_ids(res.get(how.element), "ServiceRequest")))

        direct = self._chunked(how.resource_type, how.param, "ServiceRequest", sorted(wanted), since)
        if direct is not None:
            return [r for r in direct if refers(r)]
        patients = sorted({patient_of[i] for i in wanted if i in patient_of})
        by_patient = self._chunked(how.resource_type, how.fallback_param, "Patient", patients, since)
        if by_patient is None:
            own = " (fhirpeer's own Tasks are read by identifier)" if how is TASKS_BY_FOCUS else ""
            self.result.warn(
                f"{how.resource_type}: the server supports search by neither {how.param} nor "
                f"{how.fallback_param}; evidence other systems recorded there was not read{own}"
            )
            if how.resource_type not in self.result.unread:
                self.result.unread.append(how.resource_type)
            return []
        self.result.warn(
            f"{how.resource_type}: the server does not support search by {how.param}; searched by "
            f"{how.fallback_param} and matched {how.element} here"
        )
        return [r for r in by_patient if refers(r)]

    def _chunked(
        self, resource_type: str, param: str, target: str, ids: Sequence[str], since: datetime | None
    ) -> list[Resource] | None:
        found: list[Resource] = []
        for chunk in _chunks(ids, CHUNK_SIZE):
            page = self.search(resource_type, [(param, ",".join(f"{target}/{i}" for i in chunk))], param, since)
            if page is None:
                return None
            found += page
        return found


def _patients_of(service_requests: Iterable[Resource]) -> dict[str, str]:
    patients: dict[str, str] = {}
    for sr in service_requests:
        patient = reference_id(sr.get("subject"), "Patient")
        if isinstance(sr.get("id"), str) and patient:
            patients[sr["id"]] = patient
    return patients


def _evidence(reader: _Reader, service_requests: Sequence[Resource], since: datetime | None = None) -> list[Resource]:
    ids = [sr["id"] for sr in service_requests if isinstance(sr.get("id"), str)]
    patients = _patients_of(service_requests)
    found: list[Resource] = []
    for how in EVIDENCE_SEARCHES:
        found += reader.referring(how, ids, patients, since)
    return found


def fetch_program(client: FhirClient, systems: Systems) -> FetchResult:
    """Everything the program report needs: the program's own Practitioners, EpisodeOfCare, Encounters,
    ServiceRequests and Tasks, plus the Tasks, Encounters and EpisodeOfCare any system wrote about its handoffs,
    and the Practitioners its episodes name as care manager (for their NPI when they carry no staff key)."""
    result = FetchResult()
    reader = _Reader(client, result)
    reader.keep(reader.by_system("Practitioner", systems.practitioner))
    episodes = reader.keep(reader.by_system("EpisodeOfCare", systems.enrollment))
    reader.keep(reader.by_system("Encounter", systems.contact))
    service_requests = reader.keep(reader.by_system("ServiceRequest", systems.handoff))
    reader.keep(reader.by_system("Task", systems.handoff))
    reader.keep(_evidence(reader, service_requests))
    known = {r.get("id") for r in result.of_type("Practitioner")}
    managers = {reference_id(e.get("careManager"), "Practitioner") for e in episodes}
    missing = sorted(m for m in managers if m and m not in known)
    reader.keep(reader.by_id("Practitioner", missing))
    return result


def fetch_handoff_evidence(
    client: FhirClient,
    systems: Systems,
    *,
    since: datetime | None = None,
    known: Mapping[str, str | None] | None = None,
) -> FetchResult:
    """The program's ServiceRequests with their Tasks and the evidence referring to them (for the outcomes).

    With ``since``, only handoffs where something changed after it are returned — the ServiceRequest itself,
    or a Task, Encounter or EpisodeOfCare referring to it (``_lastUpdated=gt``) — each with all its evidence,
    old and new, so its outcome is decided on the whole record. ``known`` (ServiceRequest id → its patient's id,
    from an earlier run) spares reading every ServiceRequest to learn their ids: only those changed since are
    searched for, and the evidence searches cover the known ones too. Without ``known`` every ServiceRequest is
    read and the touched ones kept.
    """
    result = FetchResult()
    reader = _Reader(client, result)
    if since is None:
        service_requests = reader.keep(reader.by_system("ServiceRequest", systems.handoff))
        wanted = {sr.get("id") for sr in service_requests}
        tasks = reader.by_system("Task", systems.handoff)
        reader.keep(t for t in tasks if reference_id(t.get("focus"), "ServiceRequest") in wanted)
        reader.keep(_evidence(reader, service_requests))
        return result
    if known is None:
        every = reader.by_system("ServiceRequest", systems.handoff)
        changed = [sr for sr in every if _updated_after(sr, since)]
        candidates = _patients_of(every)
    else:
        changed = reader.by_system("ServiceRequest", systems.handoff, since)
        candidates = {**known, **_patients_of(changed)}
    touched = {sr["id"] for sr in changed if isinstance(sr.get("id"), str)}
    ours = reader.by_system("Task", systems.handoff, since)
    touched |= {i for t in ours if (i := reference_id(t.get("focus"), "ServiceRequest"))}
    patients = {i: p for i, p in candidates.items() if p}
    for how in EVIDENCE_SEARCHES:
        for res in reader.referring(how, sorted(candidates), patients, since):
            touched.update(i for i in reference_ids(res.get(how.element), "ServiceRequest") if i in candidates)
    service_requests = [sr for sr in changed if sr.get("id") in touched]
    unread = sorted(touched - {sr.get("id") for sr in service_requests})
    service_requests += [
        sr for sr in reader.by_id("ServiceRequest", unread) if identifier_value(sr, systems.handoff) is not None
    ]
    reader.keep(service_requests)
    wanted = {sr.get("id") for sr in service_requests}
    keys = [k for sr in service_requests if (k := identifier_value(sr, systems.handoff))]
    tasks = reader.by_keys("Task", systems.handoff, keys)
    reader.keep(t for t in tasks if reference_id(t.get("focus"), "ServiceRequest") in wanted)
    reader.keep(_evidence(reader, service_requests))
    return result


def _updated_after(resource: Resource, since: datetime) -> bool:
    meta = resource.get("meta")
    updated = parse_datetime(meta.get("lastUpdated"), _UTC) if isinstance(meta, Mapping) else None
    return updated is None or updated > since
