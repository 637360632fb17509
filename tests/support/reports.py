"""Run reports as the tests read them: parsed from `--report-json` and checked against the shipped JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from fhirpeer import report_schema


def assert_valid_report(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` satisfies fhirpeer/run_report.schema.json (raises jsonschema.ValidationError otherwise)."""
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    return doc


def read_report(path: Path) -> dict[str, Any]:
    """The report at `path`, checked against the schema."""
    return assert_valid_report(json.loads(path.read_text(encoding="utf-8")))
