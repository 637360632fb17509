"""FHIR R4 (4.0.1) required value sets of the elements fhirpeer fills (hl7.org/fhir/R4 valueset pages).

The R4B models fhirpeer builds with do not enforce required code bindings, so fhirpeer checks these itself: the
mapping files at load time, every emitted resource before it is sent.
"""

from __future__ import annotations

R4_ENCOUNTER_STATUS = (
    "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown",
)  # fmt: skip
R4_APPOINTMENT_STATUS = (
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error", "checked-in",
    "waitlist",
)  # fmt: skip
R4_PARTICIPATION_STATUS = ("accepted", "declined", "tentative", "needs-action")
R4_CARETEAM_STATUS = ("proposed", "active", "suspended", "inactive", "entered-in-error")
R4_SERVICEREQUEST_STATUS = (
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
)
R4_SERVICEREQUEST_INTENT = (
    "proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order",
    "option",
)  # fmt: skip
R4_REQUEST_PRIORITY = ("routine", "urgent", "asap", "stat")
R4_ADMINISTRATIVE_GENDER = ("male", "female", "other", "unknown")
R4_TASK_STATUS = (
    "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold", "failed",
    "completed", "entered-in-error",
)  # fmt: skip
R4_TASK_INTENT = (
    "unknown", "proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order",
    "option",
)  # fmt: skip
R4_EPISODE_OF_CARE_STATUS = ("planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error")
