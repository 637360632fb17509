"""An oracle for the report: CSV exports straight into the report's model, the way the FHIR mapping sends them.

completed contact → finished Encounter (texts kept, with mode text, as if ``send_text_contacts`` were on: they
must not count either way), entered_in_error → entered-in-error Encounter, other contacts → Appointments (not
in the model); enrollment statuses planned/active/finished/withdrawn/entered_in_error → EpisodeOfCare
planned/active/finished/cancelled/entered-in-error; handoff statuses → ServiceRequest (contract.md) and, for
proposed/active/cancelled/entered_in_error, a Task draft/requested/cancelled/entered-in-error (issue 17).
Logical ids: the patient MRN, the staff id, ``sr-<handoff_id>``, ``eoc-<enrollment_id>``, ``task-<handoff_id>``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from fhirpeer.program_report.model import Contact, Episode, Handoff, Peer, ProgramData, TaskState

EPISODE_STATUS = {
    "planned": "planned",
    "active": "active",
    "finished": "finished",
    "withdrawn": "cancelled",
    "entered_in_error": "entered-in-error",
}
SERVICE_REQUEST_STATUS = {
    "proposed": "draft",
    "active": "active",
    "completed": "completed",
    "declined": "revoked",
    "cancelled": "revoked",
    "entered_in_error": "entered-in-error",
}
TASK_STATUS = {
    "proposed": "draft",
    "active": "requested",
    "cancelled": "cancelled",
    "entered_in_error": "entered-in-error",
}
ENCOUNTER_STATUS = {"completed": "finished", "entered_in_error": "entered-in-error"}


def rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _optional_date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def cohort_model(export: Path) -> ProgramData:
    """The model the report would extract after a sync of ``export``."""
    peers = {r["staff_id"]: Peer(r["staff_id"], r["staff_id"]) for r in rows(export / "staff.csv")}
    episodes = tuple(
        Episode(
            id=f"eoc-{r['enrollment_id']}",
            key=r["enrollment_id"],
            patient_id=r["patient_mrn"],
            status=EPISODE_STATUS[r["status"]],
            start=date.fromisoformat(r["start_date"]),
            end=_optional_date(r["end_date"]),
            care_manager_id=r["peer_id"] or None,
            program=r["program"] or None,
            referral_ids=(f"sr-{r['referral_handoff_id']}",) if r["referral_handoff_id"] else (),
        )
        for r in rows(export / "enrollments.csv")
    )
    contacts = tuple(
        Contact(
            id=r["contact_id"],
            key=r["contact_id"],
            patient_id=r["patient_mrn"],
            status=ENCOUNTER_STATUS[r["status"]],
            start=datetime.fromisoformat(r["start"]),
            mode=r["mode"],  # type: ignore[arg-type]  # contract values
            minutes=float(r["duration_min"]) if r["duration_min"] else None,
            based_on=(f"sr-{r['handoff_id']}",) if r.get("handoff_id") else (),
            episode_ids=(f"eoc-{r['enrollment_id']}",) if r.get("enrollment_id") else (),
        )
        for r in rows(export / "peer_contacts.csv")
        if r["status"] in ENCOUNTER_STATUS
    )
    handoff_rows = list(rows(export / "handoffs.csv"))
    handoffs = tuple(
        Handoff(
            id=f"sr-{r['handoff_id']}",
            key=r["handoff_id"],
            patient_id=r["patient_mrn"],
            kind=r["kind"],
            status=SERVICE_REQUEST_STATUS[r["status"]],
            authored_on=datetime.fromisoformat(r["requested_at"]),
        )
        for r in handoff_rows
    )
    tasks = tuple(
        TaskState(
            id=f"task-{r['handoff_id']}",
            key=r["handoff_id"],
            focus_id=f"sr-{r['handoff_id']}",
            status=TASK_STATUS[r["status"]],
            business_status=None,
            reason_code=None,
            reason_text=None,
            last_modified=datetime.fromisoformat(r["requested_at"]),
        )
        for r in handoff_rows
        if r["status"] in TASK_STATUS
    )
    return ProgramData(episodes=episodes, contacts=contacts, handoffs=handoffs, tasks=tasks, peers=peers)
