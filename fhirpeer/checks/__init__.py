"""Checks of the resources fhirpeer builds, before anything is sent.

- `r4_structure.check_structure`: structure and cardinality, with exactly the verdicts of the fhir.resources R4B
  models but without pydantic on the hot path (schemas derived once from the models; proven equal by a mutation
  corpus in `tests/unit/test_fast_check_equivalence.py`).
- `resource_checks.check_resource`: that, plus the required code bindings and US Core elements the models do not
  enforce — what every emitted resource passes.
"""
