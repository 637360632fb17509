"""fhirpeer: peer recovery program exports to FHIR R4, kept in sync."""

__version__ = "0.1.0"
