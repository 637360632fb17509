"""What fhir.resources' R4B models accept, read once from the models themselves (not a hand-kept table).

For every model class (resources, data types, backbone elements, the `_element` primitive extension) this
module derives, on first use and then cached: every key the model accepts (field aliases and, because fhir_core
sets `populate_by_name`, the Python field names), each field's shape (single or list, whether null is allowed,
a primitive check or a nested model), the fields pydantic requires, fhir_core's `get_required_fields`
(element_required: a value or an `_element` extension) and `get_one_of_many_fields` (choice types `[x]`).

Anything in a model this module does not understand (a new validator, an unknown primitive annotation, a changed
regular expression) raises at build time, so the fast check can never silently check less than the models do.
"""

from __future__ import annotations

import re
import types
import typing
import uuid
from dataclasses import dataclass, field
from functools import cache

from annotated_types import Ge, Le, MaxLen, MinLen
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir_core import types as fhir_types
from fhir_core.fhirabstractmodel import FHIR_COMMENTS_FIELD_NAME, FHIRAbstractModel
from pydantic import AnyUrl
from pydantic.types import Base64Encoder, EncodedBytes, UuidVersion

from . import primitives as p
from .primitives import Check

# Model validators fhir_core / fhir.resources define, each reproduced by the walker in r4_structure.py.
KNOWN_MODEL_VALIDATORS = frozenset(
    {
        "reject_null_complex_elements",  # None inside a list of complex values
        "validate_after_model_construction",  # element_required and one-of-many choice groups
        "validate_extension_or_fhir_comment_required",  # FHIRPrimitiveExtension needs id, extension or comments
    }
)


# FieldSpec.shape: how the walker treats a field's value
PRIMITIVE, PRIMITIVE_LIST, COMPLEX, COMPLEX_LIST, REFUSED = range(5)


@dataclass(eq=False, slots=True)
class FieldSpec:
    """One field of a model: where it may appear, what shape and type its value must have."""

    name: str  # the Python field name (also accepted as a key)
    alias: str  # the JSON element name
    is_list: bool
    none_ok: bool  # a JSON null as the whole value
    item_none_ok: bool  # a JSON null as a list item
    check: Check | None  # primitive value check; None for a nested model
    model: type[FHIRAbstractModel] | None
    refused: str | None = None  # set for elements the fast check declines to check (contained resources)
    resolved: ModelSchema | None = None  # the nested model's schema, once `model_schema()` has resolved it
    shape: int = field(init=False)  # one of the shapes below, so that the walker branches once per value

    def __post_init__(self) -> None:
        if self.refused is not None:
            self.shape = REFUSED
        elif self.check is not None:
            self.shape = PRIMITIVE_LIST if self.is_list else PRIMITIVE
        else:
            self.shape = COMPLEX_LIST if self.is_list else COMPLEX

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.alias,) if self.alias == self.name else (self.alias, self.name)

    def model_schema(self) -> ModelSchema:
        """The nested model's schema, resolved on first use (models refer to each other in cycles)."""
        if self.resolved is None:
            self.resolved = schema_for(self.model)  # type: ignore[arg-type]
        return self.resolved


@dataclass(eq=False, slots=True)
class ModelSchema:
    """Everything the walker needs about one model class."""

    type_name: str  # the model's __resource_type__ (what a nested `resourceType` key must equal)
    fields: dict[str, FieldSpec]  # by every accepted key
    required: tuple[FieldSpec, ...]  # pydantic-required (default=...)
    element_required: tuple[tuple[FieldSpec, FieldSpec | None], ...]
    choices: tuple[tuple[str, tuple[FieldSpec, ...], bool], ...]  # (element name, members, one required)
    needs_id_extension_or_comments: bool  # FHIRPrimitiveExtension's own rule
    specs: tuple[FieldSpec, ...] = field(default=())
    has_object_rules: bool = field(init=False)  # any rule beyond the members' own (most data types have none)

    def __post_init__(self) -> None:
        self.has_object_rules = bool(
            self.required or self.element_required or self.choices or self.needs_id_extension_or_comments
        )


def _non_none(args: tuple[typing.Any, ...]) -> tuple[typing.Any, ...]:
    return tuple(a for a in args if a is not type(None))


def _split_optional(annotation: typing.Any) -> tuple[typing.Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = _non_none(args)
        if len(rest) == 1:
            return rest[0], len(rest) < len(args)
        return typing.Union[rest], len(rest) < len(args)  # noqa: UP007 - rebuilding a runtime union
    return annotation, False


def _metadata(annotation: typing.Any) -> tuple[typing.Any, tuple[typing.Any, ...]]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return base, tuple(meta)
    return annotation, ()


def _pattern_of(constraint: typing.Any) -> str:
    [general] = list(constraint)
    return vars(general)["pattern"]


def _integer_check(meta: typing.Any) -> Check:
    bounds = list(meta)
    low = next(b.ge for b in bounds if isinstance(b, Ge))
    high = next(b.le for b in bounds if isinstance(b, Le))
    return p.integer_range(low, high)


def _id_check(meta: typing.Any) -> Check:
    """id: the length limits and pattern fhir_core's Id yields (from fhir_core.constraints, possibly patched)."""
    parts = list(meta)
    lows = [c.min_length for c in parts if isinstance(c, MinLen)]
    highs = [c.max_length for c in parts if isinstance(c, MaxLen)]
    patterns = [vars(c)["pattern"] for c in parts if not isinstance(c, MinLen | MaxLen)]
    return p.fhir_id(lows[0] if lows else 0, highs[0] if highs else None, patterns[0] if patterns else None)


def _pattern_check(meta: typing.Any) -> Check:
    """uri, canonical, oid, markdown: pydantic-core searches the pattern; one matching "" accepts any string."""
    pattern = _pattern_of(meta)
    if re.compile(pattern).search("") is not None:
        return p.any_string
    return p.anchored_ascii(pattern)


def primitive_check(annotation: typing.Any) -> Check:
    """The check for one primitive annotation of fhir.resources (`bool` or `Annotated[base, fhir_core type]`)."""
    if annotation is bool:
        return p.boolean
    base, meta = _metadata(annotation)
    kinds = [m for m in meta if not isinstance(m, EncodedBytes)]
    if base is bytes and any(isinstance(m, EncodedBytes) and m.encoder is Base64Encoder for m in meta):
        return p.base64_binary
    if base is uuid.UUID and len(meta) == 1 and isinstance(meta[0], UuidVersion) and meta[0].uuid_version == 4:
        return p.uuid4
    if len(kinds) != 1:
        raise RuntimeError(f"unexpected primitive annotation {annotation!r}")
    kind = kinds[0]
    exact = type(kind)
    if exact is fhir_types.String:
        p.expect_pattern(_pattern_of(kind), "[ \r\n\t\\S]+", "string")
        return p.string
    if exact is fhir_types.Code:
        p.expect_pattern(_pattern_of(kind), r"^[^\s]+(\s[^\s]+)*$", "code")
        return p.code
    if exact is fhir_types.Id:
        return _id_check(kind)
    if exact in (fhir_types.Uri, fhir_types.Canonical, fhir_types.Oid, fhir_types.Markdown):
        return _pattern_check(kind)
    if exact is fhir_types.Url and base == typing.Union[AnyUrl, str]:  # noqa: UP007
        return p.any_string  # str_schema inside: any string; fhir.resources raises AttributeError on others
    if exact is fhir_types.Xhtml:
        return p.any_string  # Xhtml carries no schema of its own: a plain str
    if exact in (fhir_types.Integer, fhir_types.UnsignedInt, fhir_types.PositiveInt, fhir_types.Integer64):
        return _integer_check(kind)
    simple: dict[type, Check] = {
        fhir_types.Decimal: p.decimal,
        fhir_types.Date: p.date,
        fhir_types.DateTime: p.date_time,
        fhir_types.Instant: p.instant,
        fhir_types.Time: p.time,
    }
    if exact in simple:
        return simple[exact]
    raise RuntimeError(f"unexpected primitive annotation {annotation!r}")


def _is_comments(annotation: typing.Any) -> bool:
    return annotation == typing.Union[str, list[str]] or annotation == typing.Union[str, typing.List[str]]  # noqa: UP006, UP007


def _field_spec(name: str, info: typing.Any) -> FieldSpec:
    alias = info.alias or name
    inner, none_ok = _split_optional(info.annotation)
    if name == FHIR_COMMENTS_FIELD_NAME and _is_comments(inner):
        return FieldSpec(name, alias, False, none_ok, False, p.fhir_comments, None)
    is_list = typing.get_origin(inner) is list
    item_none_ok = False
    if is_list:
        [item] = typing.get_args(inner)
        inner, item_none_ok = _split_optional(item)
    if isinstance(inner, type) and issubclass(inner, fhir_types.FhirElementOrResourceBase):
        return FieldSpec(name, alias, is_list, none_ok, item_none_ok, None, None, refused="contained resources")
    if isinstance(inner, type) and issubclass(inner, fhir_types.FhirBase):
        model = inner.get_model_klass()
        # a null complex value passes fhir_core's wrap validator; in a list only the `_element` extension lists
        # may hold one (reject_null_complex_elements)
        return FieldSpec(name, alias, is_list, none_ok or not is_list, name.endswith("__ext"), None, model)
    return FieldSpec(name, alias, is_list, none_ok, item_none_ok, primitive_check(inner), None)


def _guard_validators(model: type[FHIRAbstractModel]) -> None:
    decorators = model.__pydantic_decorators__
    unknown = set(decorators.model_validators) - KNOWN_MODEL_VALIDATORS
    if unknown or decorators.field_validators or decorators.root_validators:
        raise RuntimeError(f"{model.__name__} has validators the fast check does not reproduce: {sorted(unknown)}")


@cache
def schema_for(model: type[FHIRAbstractModel]) -> ModelSchema:
    """The (cached) schema of one fhir.resources model class."""
    _guard_validators(model)
    by_name = {name: _field_spec(name, info) for name, info in model.model_fields.items()}
    fields = {key: spec for spec in by_name.values() for key in spec.keys}
    required = tuple(by_name[name] for name, info in model.model_fields.items() if info.is_required())
    aliases = {spec.alias: spec for spec in by_name.values()}
    element_required = tuple(
        (aliases[element], by_name[ext] if ext else None)
        for element, ext in model.get_required_fields(None)  # type: ignore[arg-type]
    )
    choices = tuple(
        (
            f"{prefix}[x]",
            tuple(by_name[name] for name in members),
            (model.model_fields[members[0]].json_schema_extra or {}).get("one_of_many_required") is True,  # type: ignore[union-attr]
        )
        for prefix, members in model.get_one_of_many_fields(None).items()  # type: ignore[arg-type]
    )
    return ModelSchema(
        type_name=model.get_resource_type(),
        fields=fields,
        required=required,
        element_required=element_required,
        choices=choices,
        needs_id_extension_or_comments=issubclass(model, FHIRPrimitiveExtension),
        specs=tuple(by_name.values()),
    )
