"""What the program report and the handoff outcomes need, extracted from FHIR resources.

Ids are the server's logical ids (``Encounter.basedOn`` → ``ServiceRequest/<id>`` resolves by id); keys are the
business keys fhirpeer wrote as identifier values (None for resources another system wrote). Nothing here holds
a name, a birth date, a note or an MRN: patients are known only by their FHIR id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

ContactMode = Literal["in_person", "telephone", "video", "text"]
CONTACT_MODES: tuple[ContactMode, ...] = ("in_person", "telephone", "video", "text")
COUNTED_MODES: tuple[ContactMode, ...] = ("telephone", "in_person", "video")
"""The modes that make a contact count (texts never do)."""

Outcome = Literal["linked", "in_progress", "not_linked", "pending", "retracted"]
OUTCOMES: tuple[Outcome, ...] = ("linked", "in_progress", "not_linked", "pending", "retracted")


@dataclass(frozen=True)
class Peer:
    """A Practitioner and the label the report shows for it (the staff key, else the NPI, else the reference)."""

    id: str
    key: str


@dataclass(frozen=True)
class Episode:
    """An EpisodeOfCare: one enrollment in the program."""

    id: str
    key: str | None
    patient_id: str | None
    status: str | None
    start: date | None
    end: date | None
    care_manager_id: str | None
    program: str | None
    referral_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contact:
    """An Encounter: one peer contact that happened (or was recorded by mistake)."""

    id: str
    key: str | None
    patient_id: str | None
    status: str | None
    start: datetime | None  # timezone-aware
    mode: ContactMode | None
    minutes: float | None
    based_on: tuple[str, ...] = ()
    episode_ids: tuple[str, ...] = ()

    @property
    def counts(self) -> bool:
        """A finished contact in person, by telephone or by video, with a known start."""
        return self.status == "finished" and self.mode in COUNTED_MODES and self.start is not None


@dataclass(frozen=True)
class Handoff:
    """A ServiceRequest: one warm handoff or referral."""

    id: str
    key: str | None
    patient_id: str | None
    kind: str | None
    status: str | None
    authored_on: datetime | None  # timezone-aware
    last_updated: datetime | None = None


@dataclass(frozen=True)
class TaskState:
    """Where a referral Task stands (Gravity SDOH referral management)."""

    id: str
    key: str | None
    focus_id: str | None
    status: str | None
    business_status: str | None
    reason_code: str | None
    reason_text: str | None
    last_modified: datetime | None
    output_count: int = 0


@dataclass(frozen=True)
class HandoffOutcome:
    """The decided outcome of one handoff (issue 17); keys and codes only."""

    handoff_id: str
    kind: str | None
    outcome: Outcome
    decided_at: datetime | None
    days_to_linkage: float | None
    evidence: str
    reason: str | None


@dataclass(frozen=True)
class ProgramData:
    """Everything extracted for one program: its own resources and the evidence other systems wrote."""

    episodes: tuple[Episode, ...] = ()
    contacts: tuple[Contact, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    tasks: tuple[TaskState, ...] = ()
    peers: Mapping[str, Peer] = field(default_factory=dict)
    evidence_contacts: tuple[Contact, ...] = ()
    """Encounters another system wrote that are based on one of the program's handoffs."""
    evidence_episodes: tuple[Episode, ...] = ()
    """EpisodeOfCare another system wrote that refer to one of the program's handoffs."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Resources or elements left out, by a PHI-free reason (``"Encounter: no subject"``)."""

    def peer_label(self, practitioner_id: str) -> str:
        peer = self.peers.get(practitioner_id)
        return peer.key if peer else f"Practitioner/{practitioner_id}"
