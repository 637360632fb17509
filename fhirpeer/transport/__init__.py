"""Talking to a FHIR server: the REST client, authentication, retries, OperationOutcome parsing and what a
server's CapabilityStatement says it can do. Knows nothing of exports or mapping."""
