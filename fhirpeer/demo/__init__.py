"""The demo, the sample program generator and the embedded FHIR server (sekmet-fhir, the `server` extra).

Nothing in the rest of fhirpeer imports this package; the CLI does, for `fhirpeer demo` and `fhirpeer sample`.
"""
