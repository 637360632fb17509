"""Checks of the resources fhirpeer builds, before anything is sent: R4 structure and the code bindings and
US Core elements the models do not enforce."""
