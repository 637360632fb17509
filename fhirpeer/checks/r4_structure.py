"""A fast structure check of FHIR R4 resources with the verdicts of fhir.resources' R4B models.

`check_structure(resource)` returns [] exactly when `<Model>.model_validate(resource)` succeeds, for the resource
types in `supported_types()`, without building any pydantic model: it walks the JSON dict against the schema
`fhirpeer.checks.schema` derives from those same models. Problems read `"<Type>.<path>: <message>"` and never
contain a value from the resource.

Deliberate differences from `Model.model_validate`, all refusals of input fhirpeer never emits:
- the type comes from `resourceType`: a resource without one (which a chosen Model would accept) is refused;
- non-empty `contained` is refused (fhir.resources validates it as any resource type, or raises KeyError for
  an unknown one);
- only JSON values (dict, list, str, int, float, bool, None) are understood: Python objects such as datetime or
  Decimal, which pydantic would also take, are refused.

Where fhir.resources fails with an exception other than ValidationError (a number in a `url` element:
AttributeError; an unknown contained type: KeyError), this check reports an ordinary problem.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from fhir_core.fhirabstractmodel import FHIRAbstractModel

from .schema import COMPLEX, COMPLEX_LIST, PRIMITIVE, REFUSED, FieldSpec, ModelSchema, schema_for

# The resource types fhirpeer emits or plans to (issue 15), each covered by tests/unit/test_fast_check_equivalence.py.
_SUPPORTED = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Encounter",
    "Appointment",
    "CareTeam",
    "ServiceRequest",
    "Task",
    "EpisodeOfCare",
    "Provenance",
    "Device",
)


def supported_types() -> tuple[str, ...]:
    """The resource types `check_structure` checks (each proven against fhir.resources by the test-suite)."""
    return _SUPPORTED


def model_class(resource_type: str) -> type[FHIRAbstractModel]:
    """The fhir.resources R4B model class of a supported resource type."""
    if resource_type not in _SUPPORTED:
        raise KeyError(resource_type)
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


@cache
def _schema(resource_type: str) -> ModelSchema:
    return schema_for(model_class(resource_type))


def check_structure(resource: Mapping[str, Any]) -> list[str]:
    """The structure problems of one resource: [] exactly when fhir.resources' R4B model accepts it."""
    if not isinstance(resource, dict):
        return ["resource: not a JSON object"]
    resource_type = resource.get("resourceType")
    if resource_type not in _SUPPORTED:
        return ["resourceType: missing or not a type the fast check supports"]
    problems: list[str] = []
    _check_object(_schema(resource_type), resource, resource_type, problems)
    return problems


# Where a value sits: the resource type, or (parent, member name or list index). Rendered only for a problem,
# so that valid resources (nearly all) cost no string building.
Where = str | tuple[Any, str | int]


def _render(where: Where) -> str:
    steps: list[str] = []
    while isinstance(where, tuple):
        where, step = where
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return where + "".join(reversed(steps))


def _problem(problems: list[str], where: Where, message: str) -> None:
    problems.append(f"{_render(where)}: {message}")


def _no_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _object_of(value: Any) -> dict[str, Any] | None:
    """A complex value as fhir_core reads it: a dict, or a string holding a JSON object (model_validate_json)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _check_object(schema: ModelSchema, data: dict[str, Any], where: Where, problems: list[str]) -> None:
    fields = schema.fields
    # FHIRAbstractModel.__init__ pops both spellings; `resourceType` wins over `resource_type`
    claimed = data["resourceType"] if "resourceType" in data else data.get("resource_type")
    if claimed is not None and claimed != schema.type_name:
        _problem(problems, (where, "resourceType"), "does not match the element type")
    for key, value in data.items():
        spec = fields.get(key)
        # the common case first, a non-null value under its element name, one branch per shape; anything else
        # (unknown keys, nulls, Python field names, contained resources) takes the general path
        if spec is None or value is None or key != spec.alias:
            _check_member(spec, key, value, data, where, problems)
            continue
        shape = spec.shape
        if shape == PRIMITIVE:
            if not spec.check(value):  # type: ignore[misc]
                _problem(problems, (where, key), "not a valid value of its FHIR type")
        elif shape == COMPLEX:
            if type(value) is dict:
                _check_object(spec.resolved or spec.model_schema(), value, (where, key), problems)
            else:
                _check_complex(spec, value, (where, key), problems)
        elif shape == REFUSED:
            _check_member(spec, key, value, data, where, problems)
        else:
            _check_list(spec, value, (where, key), problems)
    if schema.has_object_rules:
        _check_object_rules(schema, data, where, problems)


def _check_member(
    spec: FieldSpec | None, key: str, value: Any, data: dict[str, Any], where: Where, problems: list[str]
) -> None:
    """One member of an object, every case (the general path of `_check_object`)."""
    if spec is None:
        if key != "resourceType" and key != "resource_type":
            _problem(problems, (where, key), "unknown element")
    elif key != spec.alias and spec.alias in data:
        _problem(problems, (where, spec.alias), "given twice (element name and field name)")
    elif value is None:
        if not spec.none_ok:
            _problem(problems, (where, key), "null is not allowed")
    elif spec.is_list:
        _check_list(spec, value, (where, key), problems)
    elif spec.check is not None:
        if not spec.check(value):
            _problem(problems, (where, key), "not a valid value of its FHIR type")
    else:
        _check_complex(spec, value, (where, key), problems)


def _check_object_rules(schema: ModelSchema, data: dict[str, Any], where: Where, problems: list[str]) -> None:
    for spec in schema.required:
        if spec.alias not in data and spec.name not in data:
            _problem(problems, (where, spec.alias), "required")
    if schema.needs_id_extension_or_comments and all(data.get(k) is None for k in ("id", "extension", "fhir_comments")):
        _problem(problems, where, "a primitive extension needs an id, an extension or comments")
    if schema.element_required:
        _check_element_required(schema, data, where, problems)
    if schema.choices:
        _check_choices(schema, data, where, problems)


def _check_list(spec: FieldSpec, value: Any, where: Where, problems: list[str]) -> None:
    if not isinstance(value, list):
        _problem(problems, where, "must be a list")
        return
    check = spec.check
    if spec.shape == COMPLEX_LIST:
        schema = spec.resolved or spec.model_schema()
        for i, item in enumerate(value):
            if type(item) is dict:
                _check_object(schema, item, (where, i), problems)
            elif item is None:
                if not spec.item_none_ok:
                    _problem(problems, (where, i), "null is not allowed")
            else:
                _check_complex(spec, item, (where, i), problems)
        return
    for i, item in enumerate(value):
        if item is None:
            if not spec.item_none_ok:
                _problem(problems, (where, i), "null is not allowed")
        elif check is not None:
            if not check(item):
                _problem(problems, (where, i), "not a valid value of its FHIR type")
        else:
            _check_complex(spec, item, (where, i), problems)


def _check_complex(spec: FieldSpec, value: Any, where: Where, problems: list[str]) -> None:
    if spec.refused is not None:
        _problem(problems, where, f"{spec.refused} are not supported by the fast check")
        return
    obj = value if type(value) is dict else _object_of(value)
    if obj is None:
        _problem(problems, where, "must be a JSON object")
        return
    _check_object(spec.model_schema(), obj, where, problems)


def _value_of(spec: FieldSpec, data: dict[str, Any]) -> Any:
    return data[spec.alias] if spec.alias in data else data.get(spec.name)


def _check_element_required(schema: ModelSchema, data: dict[str, Any], where: Where, problems: list[str]) -> None:
    for spec, ext_spec in schema.element_required:
        if _value_of(spec, data) is not None:
            continue
        ext = _object_of(_value_of(ext_spec, data)) if ext_spec is not None else None
        if not (ext and ext.get("extension")):
            _problem(problems, (where, spec.alias), "required")


def _check_choices(schema: ModelSchema, data: dict[str, Any], where: Where, problems: list[str]) -> None:
    for element, members, required in schema.choices:
        given = sum(1 for spec in members if _value_of(spec, data) is not None)
        if given > 1:
            _problem(problems, (where, element), "more than one type given")
        elif required and given == 0:
            _problem(problems, (where, element), "required")
