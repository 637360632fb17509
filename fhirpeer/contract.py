"""The input vocabulary fixed by the user-facing contract.

Mapping files must cover every value listed here (they may add more: a site's own handoff kinds, say).
"""

from __future__ import annotations

CONTACT_MODES = ("in_person", "telephone", "video", "text")
CONTACT_STATUSES = ("completed", "scheduled", "cancelled", "no_show", "entered_in_error")
#: Contact statuses sent as an Encounter (the contact happened, or marks one sent before as entered in error); the
#: others did not happen and are sent as an Appointment.
CONTACT_STATUSES_OF_ENCOUNTERS = ("completed", "entered_in_error")
CONTACT_SETTINGS = ("clinic", "community", "home", "hospital", "emergency_department")
CONTACT_PURPOSES = (
    "engagement", "recovery_planning", "resource_navigation", "appointment_support",
    "crisis_support", "discharge_support", "aftercare_planning", "harm_reduction",
)  # fmt: skip
CARE_TEAM_ROLES = (
    "peer", "pcp", "oversight_pcp", "champion_pcp", "lcsw", "psychiatrist", "peer_supervisor", "case_manager",
)  # fmt: skip
HANDOFF_KINDS = (
    "ed_to_peer", "aftercare_peer", "mental_health", "sud_treatment", "mutual_aid", "housing", "transportation",
    "legal", "employment", "childcare", "eldercare", "home_health", "other",
)  # fmt: skip
HANDOFF_STATUSES = ("proposed", "active", "completed", "declined", "cancelled", "entered_in_error")
HANDOFF_PRIORITIES = ("routine", "urgent", "asap", "stat")
HANDOFF_VIA = ("in_person", "warm_line", "telephone", "video")
GENDERS = ("female", "male", "other", "unknown")
DISCIPLINES = (
    "peer",
    "pcp",
    "lcsw",
    "psychiatrist",
    "peer_supervisor",
    "case_manager",
    "ed_clinician",
    "other",
)
SITE_KINDS = (
    "primary_care", "emergency_department", "hospital", "community_peer_program", "mental_health",
    "sud_treatment", "mutual_aid", "housing", "transportation", "legal", "employment", "childcare",
    "eldercare", "home_health", "other",
)  # fmt: skip
ENROLLMENT_STATUSES = ("planned", "active", "finished", "withdrawn", "entered_in_error")
ENROLLMENT_END_REASONS = ("completed_program", "transferred_to_community", "lost_to_follow_up", "withdrew", "other")
#: Program kinds the shipped mappings define; a site may add its own in `episodeofcare.yaml`.
PROGRAMS = ("primary_care_peer", "ed_peer_recovery")
