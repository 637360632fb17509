"""The US Core elements every resource fhirpeer emits must carry, per resource type, as data.

Two reasons put an element here: US Core requires it (min ≥ 1 or an invariant, in every version from 6.1.0 to
8.0.0 unless noted), or it is Must Support and fhirpeer always has the data, so leaving it out would be a regression
an EHR team would send back. Source: HL7/US-Core input/resources-yaml/StructureDefinition-us-core-*.yml at the
6.1.0, 7.0.0 and 8.0.0 tags.

A Python table rather than a file in `mappings/`: these are facts of the profiles, not a site's choices, and a site
editing its mapping files must not be able to switch a conformance check off.

Not checked because fhirpeer cannot meet it from an export: US Core PractitionerRole pd-1 (telecom or endpoint) —
the staff file holds no contact details. Appointment has no US Core profile (its R4 minimums are in the R4 models).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MustHave:
    """`element` (a dotted path from the resource; each step may be a list) must be present wherever its parent
    is; with `any_of`, each instance of `element` must hold at least one of those children instead."""

    element: str
    why: str
    any_of: tuple[str, ...] = ()


_REQUIRED = "US Core min 1"
_MUST_SUPPORT = "US Core Must Support, always sent by fhirpeer"

US_CORE_MUST_HAVES: dict[str, tuple[MustHave, ...]] = {
    "Patient": (
        MustHave("identifier", _REQUIRED),
        MustHave("identifier.system", _REQUIRED),
        MustHave("identifier.value", _REQUIRED),
        MustHave("name", _REQUIRED),
        # us-core-6: a family or given name, or the data-absent-reason extension
        MustHave("name", "US Core us-core-6", any_of=("family", "given", "extension")),
        MustHave("gender", "US Core 6.1 and 7.0 min 1 (Must Support in 8.0)"),
    ),
    "Practitioner": (
        MustHave("identifier", _REQUIRED),
        MustHave("identifier.system", _REQUIRED),
        MustHave("identifier.value", _REQUIRED),
        MustHave("name", _REQUIRED),
        MustHave("name.family", _REQUIRED),
    ),
    "PractitionerRole": (
        # us-core-13 asks for one of practitioner, organization, healthcareService, location: fhirpeer has both
        MustHave("practitioner", _MUST_SUPPORT),
        MustHave("organization", _MUST_SUPPORT),
    ),
    "Organization": (
        MustHave("active", _REQUIRED),
        MustHave("name", _REQUIRED),
    ),
    "Encounter": (
        MustHave("identifier.system", _REQUIRED),
        MustHave("identifier.value", _REQUIRED),
        MustHave("status", _REQUIRED),
        MustHave("class", _REQUIRED),
        MustHave("type", _REQUIRED),
        MustHave("subject", _REQUIRED),
        MustHave("participant", _MUST_SUPPORT),
        MustHave("participant.type", _MUST_SUPPORT),
        MustHave("participant.period", _MUST_SUPPORT),
        MustHave("participant.individual", _MUST_SUPPORT),
        MustHave("period", _MUST_SUPPORT),
    ),
    "CareTeam": (
        MustHave("status", _MUST_SUPPORT),
        MustHave("subject", _REQUIRED),
        MustHave("participant", _REQUIRED),
        MustHave("participant.role", _REQUIRED),
        MustHave("participant.member", _REQUIRED),
    ),
    "ServiceRequest": (
        MustHave("status", _REQUIRED),
        MustHave("intent", _REQUIRED),
        MustHave("category", _MUST_SUPPORT),
        MustHave("code", _REQUIRED),
        MustHave("code.text", "US Core 8.0 Must Support, always sent by fhirpeer"),
        MustHave("subject", _REQUIRED),
        MustHave("authoredOn", _MUST_SUPPORT),
    ),
}
