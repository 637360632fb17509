"""The identifier and local code systems by which the report recognises what fhirpeer wrote.

Every system hangs off the site's namespace (``mappings/identifiers.yaml``), e.g. ``https://fhir.example.org``:
identifiers under ``NS/sid/<name>``, local code systems under ``NS/CodeSystem/<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mapping_files import Mappings


@dataclass(frozen=True)
class Systems:
    """Identifier systems of fhirpeer's resources and the local code systems the report reads."""

    namespace: str
    patient: str
    practitioner: str
    organization: str
    contact: str  # Encounter and Appointment
    care_team: str
    handoff: str  # ServiceRequest and Task
    enrollment: str  # EpisodeOfCare
    contact_mode: str
    handoff_kind: str
    program: str

    @classmethod
    def for_namespace(cls, namespace: str, *, patient_system: str | None = None) -> Systems:
        """The systems under ``namespace``; ``patient_system`` is the EHR's MRN system when a site sets one."""
        ns = namespace.rstrip("/")
        if not ns.startswith(("http://", "https://", "urn:")):
            raise ValueError("namespace must be an absolute URI (https://… or urn:…)")
        sid, codes = f"{ns}/sid", f"{ns}/CodeSystem"
        return cls(
            namespace=ns,
            patient=patient_system or f"{sid}/patient-mrn",
            practitioner=f"{sid}/staff-id",
            organization=f"{sid}/site-id",
            contact=f"{sid}/peer-contact",
            care_team=f"{sid}/care-team",
            handoff=f"{sid}/handoff",
            enrollment=f"{sid}/enrollment",
            contact_mode=f"{codes}/peer-contact-mode",
            handoff_kind=f"{codes}/handoff-kind",
            program=f"{codes}/peer-program",
        )

    @classmethod
    def from_mappings(cls, m: Mappings) -> Systems:
        """The systems a site's mapping files give (its namespace, MRN system and edited systems)."""
        ids = m.identifiers
        sid = f"{ids.namespace}/sid"
        return cls(
            namespace=ids.namespace,
            patient=m.system_for("Patient"),
            practitioner=m.system_for("Practitioner"),
            organization=m.system_for("Organization"),
            contact=m.system_for("Encounter"),
            care_team=m.system_for("CareTeam"),
            handoff=m.system_for("ServiceRequest"),
            enrollment=ids.systems.get("EpisodeOfCare", f"{sid}/enrollment"),
            contact_mode=m.encounter.mode_system_local,
            handoff_kind=m.servicerequest.code_system_local,
            program=f"{ids.local_code_system_base}/peer-program",
        )
