"""FHIR R4 JSON → the report's model. Pure functions, tolerant of whatever a server holds.

A resource without an id (or of a type the report does not read) is skipped; a missing or unreadable element
becomes None. Every omission is counted in ``ProgramData.skipped`` under a PHI-free reason naming the
resource type and the element, never a value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from .model import CONTACT_MODES, Contact, ContactMode, Episode, Handoff, Peer, ProgramData, TaskState
from .systems import Systems

SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
NPI = "http://hl7.org/fhir/sid/us-npi"

# Fallbacks for Encounters without fhirpeer's contact-mode coding. SNOMED CT codes as verified on tx.fhir.org
# (shared/reference/fhir-mapping.md §1, [TX]): 185317003 Telephone encounter, 386473003 Telephone follow-up,
# 719410009 Consultation via video conference.
_SNOMED_MODE: dict[str, ContactMode] = {"185317003": "telephone", "386473003": "telephone", "719410009": "video"}
# v3-ActCode encounter classes (terminology.hl7.org, R4 Encounter.class): AMB ambulatory, FLD field, HH home
# health, IMP inpatient encounter, EMER emergency are all face to face. VR (virtual) covers telephone, video and
# text alike, so it decides nothing on its own.
_IN_PERSON_CLASSES = frozenset({"AMB", "FLD", "HH", "IMP", "EMER"})
# UCUM units an Encounter.length may carry, in minutes.
_MINUTES_PER_UNIT = {"min": 1.0, "h": 60.0, "d": 1440.0, "s": 1 / 60}
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


# --- FHIR datatypes -----------------------------------------------------------------------------------------


def parse_datetime(value: Any, tz: ZoneInfo) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime; a date alone is midnight in ``tz``; year or month → None.

    A time without an offset (not valid FHIR, but seen) is taken in ``tz``.
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def parse_date(value: Any, tz: ZoneInfo) -> date | None:
    """A FHIR date or dateTime as a calendar date in ``tz`` (None when absent or less precise than a day)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    moment = parse_datetime(value, tz)
    return moment.astimezone(tz).date() if moment else None


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a literal reference to ``resource_type`` (``Type/id``, absolute, or with ``_history``)."""
    if not isinstance(reference, Mapping):
        return None
    value = reference.get("reference")
    if not isinstance(value, str):
        return None
    parts = value.split("?", 1)[0].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == resource_type and parts[-1]:
        return parts[-1]
    return None


def reference_ids(references: Any, resource_type: str) -> tuple[str, ...]:
    """The ids of every literal reference to ``resource_type`` in a list of references."""
    found = (reference_id(r, resource_type) for r in _as_list(references))
    return tuple(dict.fromkeys(i for i in found if i))


def identifier_value(resource: Mapping[str, Any], system: str) -> str | None:
    for ident in _as_list(resource.get("identifier")):
        if isinstance(ident, Mapping) and ident.get("system") == system and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _codings(concepts: Any) -> Iterable[Mapping[str, Any]]:
    """Every coding of a CodeableConcept or a list of them."""
    for concept in _as_list(concepts):
        if isinstance(concept, Mapping):
            yield from (c for c in _as_list(concept.get("coding")) if isinstance(c, Mapping))


def code_in(concepts: Any, system: str) -> str | None:
    """The first code of ``system`` among the codings of one or more CodeableConcepts."""
    for coding in _codings(concepts):
        if coding.get("system") == system and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- resources → model --------------------------------------------------------------------------------------


class Extractor:
    """Turns resources into model objects for one namespace and site time zone, counting what it skips."""

    def __init__(self, systems: Systems, tz: ZoneInfo) -> None:
        self.systems = systems
        self.tz = tz
        self.skipped: Counter[str] = Counter()

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def peer(self, res: Mapping[str, Any]) -> Peer | None:
        rid = _str(res.get("id"))
        if rid is None:
            self.skip("Practitioner: no id")
            return None
        key = identifier_value(res, self.systems.practitioner)
        npi = identifier_value(res, NPI)
        return Peer(rid, key or (f"npi:{npi}" if npi else f"Practitioner/{rid}"))

    def episode(self, res: Mapping[str, Any]) -> Episode | None:
        rid = _str(res.get("id"))
        if rid is None:
            self.skip("EpisodeOfCare: no id")
            return None
        period = res.get("period") if isinstance(res.get("period"), Mapping) else {}
        start = parse_date(period.get("start"), self.tz)
        if start is None:
            self.skip("EpisodeOfCare: period.start missing or imprecise")
        patient = reference_id(res.get("patient"), "Patient")
        if patient is None:
            self.skip("EpisodeOfCare: no patient reference")
        return Episode(
            id=rid,
            key=identifier_value(res, self.systems.enrollment),
            patient_id=patient,
            status=_str(res.get("status")),
            start=start,
            end=parse_date(period.get("end"), self.tz),
            care_manager_id=reference_id(res.get("careManager"), "Practitioner"),
            program=code_in(res.get("type"), self.systems.program),
            referral_ids=reference_ids(res.get("referralRequest"), "ServiceRequest"),
        )

    def contact(self, res: Mapping[str, Any]) -> Contact | None:
        rid = _str(res.get("id"))
        if rid is None:
            self.skip("Encounter: no id")
            return None
        period = res.get("period") if isinstance(res.get("period"), Mapping) else {}
        start = parse_datetime(period.get("start"), self.tz)
        if start is None:
            self.skip("Encounter: period.start missing or imprecise")
        patient = reference_id(res.get("subject"), "Patient")
        if patient is None:
            self.skip("Encounter: no patient subject")
        key = identifier_value(res, self.systems.contact)
        mode = self.contact_mode(res)
        if mode is None and key is not None:
            self.skip("Encounter: contact mode unknown")
        return Contact(
            id=rid,
            key=key,
            patient_id=patient,
            status=_str(res.get("status")),
            start=start,
            mode=mode,
            minutes=self._minutes(res.get("length")),
            based_on=reference_ids(res.get("basedOn"), "ServiceRequest"),
            episode_ids=reference_ids(res.get("episodeOfCare"), "EpisodeOfCare"),
        )

    def contact_mode(self, res: Mapping[str, Any]) -> ContactMode | None:
        """fhirpeer's contact-mode coding; else a telephone/video SNOMED type; else a face-to-face class."""
        local = code_in(res.get("type"), self.systems.contact_mode)
        for mode in CONTACT_MODES:
            if local == mode:
                return mode
        for coding in _codings(res.get("type")):
            if coding.get("system") == SNOMED and coding.get("code") in _SNOMED_MODE:
                return _SNOMED_MODE[str(coding["code"])]
        klass = res.get("class")
        if isinstance(klass, Mapping) and klass.get("system") == ACT_CODE and klass.get("code") in _IN_PERSON_CLASSES:
            return "in_person"
        return None

    def _minutes(self, length: Any) -> float | None:
        if not isinstance(length, Mapping):
            return None
        value, unit = length.get("value"), length.get("code") or length.get("unit")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            self.skip("Encounter: length value unusable")
            return None
        factor = _MINUTES_PER_UNIT.get(str(unit))
        if factor is None:
            self.skip("Encounter: length unit not a UCUM time unit")
            return None
        return float(value) * factor

    def handoff(self, res: Mapping[str, Any]) -> Handoff | None:
        rid = _str(res.get("id"))
        if rid is None:
            self.skip("ServiceRequest: no id")
            return None
        authored = parse_datetime(res.get("authoredOn"), self.tz)
        if authored is None:
            self.skip("ServiceRequest: authoredOn missing or imprecise")
        kind = code_in(res.get("code"), self.systems.handoff_kind)
        if kind is None:
            self.skip("ServiceRequest: no handoff-kind coding")
        meta = res.get("meta") if isinstance(res.get("meta"), Mapping) else {}
        return Handoff(
            id=rid,
            key=identifier_value(res, self.systems.handoff),
            patient_id=reference_id(res.get("subject"), "Patient"),
            kind=kind,
            status=_str(res.get("status")),
            authored_on=authored,
            last_updated=parse_datetime(meta.get("lastUpdated"), self.tz),
        )

    def task(self, res: Mapping[str, Any]) -> TaskState | None:
        rid = _str(res.get("id"))
        if rid is None:
            self.skip("Task: no id")
            return None
        focus = reference_id(res.get("focus"), "ServiceRequest")
        if focus is None:
            self.skip("Task: focus is not a ServiceRequest reference")
        reason = res.get("statusReason") if isinstance(res.get("statusReason"), Mapping) else {}
        business = res.get("businessStatus") if isinstance(res.get("businessStatus"), Mapping) else {}
        return TaskState(
            id=rid,
            key=identifier_value(res, self.systems.handoff),
            focus_id=focus,
            status=_str(res.get("status")),
            business_status=_first_code(business) or _str(business.get("text")),
            reason_code=_first_code(reason),
            reason_text=_str(reason.get("text")),
            last_modified=parse_datetime(res.get("lastModified"), self.tz),
            output_count=len(_as_list(res.get("output"))),
        )


def _first_code(concept: Mapping[str, Any]) -> str | None:
    for coding in _codings(concept):
        if isinstance(coding.get("code"), str) and coding["code"]:
            return str(coding["code"])
    return None


def extract_program(resources: Iterable[Mapping[str, Any]], systems: Systems, tz: ZoneInfo) -> ProgramData:
    """Sort resources into the program's own (by identifier system) and other systems' evidence.

    Encounters and EpisodeOfCare without fhirpeer's identifier are evidence only (they never count as peer
    contacts or enrollments); ServiceRequests without it are not the program's and are skipped. The same
    resource seen twice (two searches found it) is read once.
    """
    ex = Extractor(systems, tz)
    episodes: dict[str, Episode] = {}
    contacts: dict[str, Contact] = {}
    handoffs: dict[str, Handoff] = {}
    tasks: dict[str, TaskState] = {}
    peers: dict[str, Peer] = {}
    evidence_contacts: dict[str, Contact] = {}
    evidence_episodes: dict[str, Episode] = {}
    seen: set[tuple[str, str]] = set()
    for res in resources:
        rtype, rid = res.get("resourceType"), res.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            if (rtype, rid) in seen:
                continue
            seen.add((rtype, rid))
        if rtype == "Encounter":
            if (contact := ex.contact(res)) is not None:
                (contacts if contact.key is not None else evidence_contacts)[contact.id] = contact
        elif rtype == "EpisodeOfCare":
            if (episode := ex.episode(res)) is not None:
                (episodes if episode.key is not None else evidence_episodes)[episode.id] = episode
        elif rtype == "ServiceRequest":
            if identifier_value(res, systems.handoff) is None:
                ex.skip("ServiceRequest: not written by the program")
            elif (handoff := ex.handoff(res)) is not None:
                handoffs[handoff.id] = handoff
        elif rtype == "Task":
            if (task := ex.task(res)) is not None:
                tasks[task.id] = task
        elif rtype == "Practitioner":
            if (peer := ex.peer(res)) is not None:
                peers[peer.id] = peer
        else:
            name = rtype if isinstance(rtype, str) and _RESOURCE_TYPE.fullmatch(rtype) else "resource"
            ex.skip(f"{name}: not read by the report")
    return ProgramData(
        episodes=tuple(episodes.values()),
        contacts=tuple(contacts.values()),
        handoffs=tuple(handoffs.values()),
        tasks=tuple(tasks.values()),
        peers=peers,
        evidence_contacts=tuple(evidence_contacts.values()),
        evidence_episodes=tuple(evidence_episodes.values()),
        skipped=ex.skipped,
    )
