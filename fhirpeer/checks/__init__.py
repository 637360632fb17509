"""Checks of the resources fhirpeer builds, before anything is sent.

- `r4_structure.check_structure`: structure and cardinality, with exactly the verdicts of the fhir.resources R4B
  models but without pydantic on the hot path (schemas derived once from the models; proven equal by a mutation
  corpus in `tests/unit/test_fast_check_equivalence.py`).
- `us_core_checks.us_core_problems`: the US Core must-have elements per type, a table in `us_core_must_haves`.
- `resource_checks.check_resource`: structure, plus the required code bindings and R4 invariants the models do not
  enforce, plus the US Core must-haves — what every emitted resource passes.
"""
