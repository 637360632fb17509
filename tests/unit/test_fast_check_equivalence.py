"""Proof that `fhirpeer.checks.check_structure` gives fhir.resources' verdicts: for every resource of a corpus of
valid resources (fhirpeer's own mapper output plus hand-written ones of all twelve emitted types) and for every
variant the mutation generator makes of them, accept/reject must equal `<Model>.model_validate`'s.

The unit run checks a seeded sample (about 5,600 variants of 26 resources, a few seconds); `-m slow` runs all
variants of all 94 resources (about 97,000, under a minute). Each primitive type is also fuzzed value by value
(about 1,600 values each), a table of edge cases covers corners the generator does not reach, and a meta-test
weakens the checker in several ways and requires the corpus to notice each time, so the proof can fail.

fhir.resources 8.3 accepts a number of things R4 forbids; the fast check matches them (equal strength, not more):
see `R4_FORBIDS_FHIR_RESOURCES_ACCEPTS` below.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from fhir.resources.R4B import fhirtypes
from pydantic import BaseModel, model_validator

from fhirpeer.checks import primitives, r4_structure, schema
from fhirpeer.checks.r4_structure import check_structure, model_class, supported_types
from tests.support.fast_check_corpus import hand_written, mapped_resources, mutations

Case = tuple[str, str, dict[str, Any]]  # (resource type, mutation label, variant)


def reference_verdict(resource_type: str, resource: dict[str, Any]) -> bool:
    """fhir.resources' verdict: True when the model validates. Any exception is a rejection (Url fields raise
    AttributeError for non-strings; unknown contained types raise KeyError)."""
    try:
        model_class(resource_type).model_validate(resource)
    except Exception:
        return False
    return True


def fast_verdict(resource: dict[str, Any]) -> bool:
    return check_structure(resource) == []


@pytest.fixture(scope="module")
def valid_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return hand_written() + mapped_resources(tmp_path_factory.mktemp("fast-check"))


def cases(corpus: list[dict[str, Any]], keep: Callable[[dict[str, Any], random.Random], bool]) -> Iterator[Case]:
    rng = random.Random(20260515)
    for resource in corpus:
        for label, variant in mutations(resource, rng):
            if keep(resource, rng):
                yield resource["resourceType"], label, variant


def sample(resource: dict[str, Any], rng: random.Random) -> bool:
    hand = resource.get("id") is not None  # the hand-written resources have ids, mapped ones do not
    return rng.random() < (0.4 if hand else 0.1)


def disagreements(
    corpus_cases: Iterator[Case], first_only: bool = False
) -> tuple[int, Counter[tuple[str, bool]], list[str]]:
    """(cases, verdict counts per type, the cases where the fast check's verdict differs)."""
    total, verdicts, differences = 0, Counter[tuple[str, bool]](), []
    for resource_type, label, variant in corpus_cases:
        total += 1
        expected = reference_verdict(resource_type, variant)
        verdicts[(resource_type, expected)] += 1
        if fast_verdict(variant) != expected:
            differences.append(f"{resource_type} {label}: fhir.resources {'accepts' if expected else 'rejects'}")
            if first_only:
                break
    return total, verdicts, differences


def test_every_valid_resource_passes_both(valid_corpus: list[dict[str, Any]]) -> None:
    assert {r["resourceType"] for r in valid_corpus} == set(supported_types())
    for resource in valid_corpus:
        assert reference_verdict(resource["resourceType"], resource), resource["resourceType"]
        assert check_structure(resource) == [], resource["resourceType"]


def test_mutations_get_fhir_resources_verdict_sample(valid_corpus: list[dict[str, Any]]) -> None:
    some_mapped = [r for i, r in enumerate(valid_corpus) if "id" in r or i % 6 == 0]
    total, verdicts, differences = disagreements(cases(some_mapped, sample))
    assert total > 5000
    for resource_type in supported_types():  # both verdicts occur for every type
        assert verdicts[(resource_type, True)] > 0 and verdicts[(resource_type, False)] > 0, resource_type
    assert differences == []


@pytest.mark.slow
def test_mutations_get_fhir_resources_verdict_all(valid_corpus: list[dict[str, Any]]) -> None:
    total, _, differences = disagreements(cases(valid_corpus, lambda r, rng: True))
    assert total > 90_000
    assert differences == []


# --- the corpus can fail: weakened checkers must be caught ---------------------------------------------------


def _lax_code(value: object) -> bool:
    return isinstance(value, str)


_BUILD_SCHEMA = schema.schema_for.__wrapped__  # type: ignore[attr-defined]


def _schema_without(attribute: str) -> Callable[[type], schema.ModelSchema]:
    @cache
    def build(model: type) -> schema.ModelSchema:
        built = _BUILD_SCHEMA(model)
        setattr(built, attribute, False if attribute == "needs_id_extension_or_comments" else ())
        return built

    return build


def _weaken_schema(attribute: str) -> Callable[[pytest.MonkeyPatch], None]:
    def weaken(mp: pytest.MonkeyPatch) -> None:
        weakened = _schema_without(attribute)
        mp.setattr(schema, "schema_for", weakened)  # nested models (FieldSpec.model_schema)
        mp.setattr(r4_structure, "schema_for", weakened)  # the resource itself

    return weaken


WEAKENINGS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "codes need only be strings": lambda mp: mp.setattr(primitives, "code", primitives.any_string),
    "dateTimes need only be strings": lambda mp: mp.setattr(primitives, "date_time", primitives.any_string),
    "integers need only be ints": lambda mp: mp.setattr(
        primitives, "integer_range", lambda low, high: lambda v: isinstance(v, int)
    ),
    "pydantic-required ignored": _weaken_schema("required"),
    "element_required ignored": _weaken_schema("element_required"),
    "choice groups ignored": _weaken_schema("choices"),
    "empty _element accepted": _weaken_schema("needs_id_extension_or_comments"),
    "lists accept anything": lambda mp: mp.setattr(
        r4_structure, "_check_list", lambda spec, value, path, problems: None
    ),
    "JSON-string objects refused": lambda mp: mp.setattr(
        r4_structure, "_object_of", lambda value: value if isinstance(value, dict) else None
    ),
    "only the walker's fast path checked": lambda mp: mp.setattr(r4_structure, "_check_member", lambda *args: None),
    "object rules skipped": lambda mp: mp.setattr(r4_structure, "_check_object_rules", lambda *args: None),
}


@pytest.fixture
def fresh_schemas() -> Iterator[None]:
    """Weakened primitives are bound when a schema is built: build from scratch, and forget them afterwards."""
    schema.schema_for.cache_clear()
    r4_structure._schema.cache_clear()
    yield
    schema.schema_for.cache_clear()  # the real one may hold lax primitive checks built during the test
    r4_structure._schema.cache_clear()


@pytest.mark.parametrize("weakening", sorted(WEAKENINGS))
def test_the_corpus_catches_a_weakened_check(
    weakening: str, monkeypatch: pytest.MonkeyPatch, fresh_schemas: None
) -> None:
    WEAKENINGS[weakening](monkeypatch)
    _, _, differences = disagreements(cases(hand_written(), lambda r, rng: rng.random() < 0.3), first_only=True)
    assert differences, f"no variant tells a checker whose {weakening} from fhir.resources"


# --- primitives, value by value ------------------------------------------------------------------------------

PRIMITIVE_TYPES = [
    "BooleanType", "StringType", "CodeType", "IdType", "UriType", "CanonicalType", "OidType", "UuidType", "UrlType",
    "MarkdownType", "XhtmlType", "DateType", "DateTimeType", "InstantType", "TimeType", "DecimalType", "IntegerType",
    "UnsignedIntType", "PositiveIntType", "Base64BinaryType",
]  # fmt: skip
SEED_STRINGS = [
    "2024", "2024-03", "2024-03-01", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123-05:00",
    "2024-02-29T23:59:60+14:00", "10:00:00", "23:59:60.5", "1", "-0", "12.50", "1e3", "0", "+1", " 7 ", "1_000", "0_1",
    "true", "no", "urn:oid:1.2.840",
    "c757873d-ec9a-4326-a141-556f43239520", "{c757873d-ec9a-4326-a141-556f43239520}", "aGVsbG8=", "abc def", "a.b-C",
    "http://x/y", "",
]  # fmt: skip
ALPHABET = [*"0123456789-:T Z+._eE\t\n\x0b\x1c\xa0aAfnoxy{}=/", "\u3000", "\u2028"]
NUMBERS: list[Any] = [
    True, False, 0, 1, -1, 2, 1.0, 0.0, -0.0, 1.5, -0.5, 1e-7, 5e-7, 86399, 86400, 86399.9999996, 86399.9999994,
    86400.0, 172800, 2e10, 20000000001, -2e10, -20000000001, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, 1e300,
    float("inf"), float("nan"), 253402300799999, 253402300800000, -62135596800000, -62135596800001, 8640000000000,
    8640000000001, 1700000000, 1700000000.25, 4294967296, 10**30, -719162 * 86400000, -719163 * 86400000,
]  # fmt: skip


def primitive_values(rng: random.Random, count: int) -> list[Any]:
    def edited(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.4 and chars:
                chars[rng.randrange(len(chars))] = rng.choice(ALPHABET)
            elif roll < 0.7:
                chars.insert(rng.randint(0, len(chars)), rng.choice(ALPHABET))
            elif chars:
                del chars[rng.randrange(len(chars))]
        return "".join(chars)

    values: list[Any] = [*NUMBERS, *SEED_STRINGS, [], {}, ["a"], {"a": 1}]
    for _ in range(count):
        if rng.random() < 0.6:
            values.append(edited(rng.choice(SEED_STRINGS)))
        else:
            values.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8))))
    return values


@pytest.mark.parametrize("type_name", PRIMITIVE_TYPES)
def test_primitive_checks_agree_with_fhir_core(type_name: str) -> None:
    annotation = getattr(fhirtypes, type_name)
    holder = type(type_name, (BaseModel,), {"__annotations__": {"v": annotation | None}})
    check = schema.primitive_check(annotation)
    differences = []
    for value in primitive_values(random.Random(type_name), 1500):
        try:
            holder.model_validate({"v": value})
            expected = True
        except Exception:
            expected = False
        if check(value) != expected:
            differences.append(repr(value))
    assert differences == []


# --- documented behaviour ------------------------------------------------------------------------------------

ENCOUNTER: dict[str, Any] = {
    "resourceType": "Encounter",
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
}
R4_FORBIDS_FHIR_RESOURCES_ACCEPTS: dict[str, dict[str, Any]] = {
    "empty object": {**ENCOUNTER, "subject": {}},
    "empty array": {**ENCOUNTER, "identifier": []},
    "empty uri": {**ENCOUNTER, "implicitRules": ""},
    "object given as a JSON string": {**ENCOUNTER, "class": json.dumps(ENCOUNTER["class"])},
    "number as a dateTime": {**ENCOUNTER, "period": {"start": 1700000000}},
    "boolean as a word": {**ENCOUNTER, "class": {**ENCOUNTER["class"], "userSelected": "yes"}},
    "integers as strings or floats": {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"status": "accepted"}],
        "priority": 3.0,
        "minutesDuration": " 30 ",
    },
    "null for a required object": {**ENCOUNTER, "class": None},
    "null members": {**ENCOUNTER, "subject": None, "identifier": None},
    "resourceType on a data type": {**ENCOUNTER, "class": {**ENCOUNTER["class"], "resourceType": "Coding"}},
    "Python field names as keys": {"resourceType": "Encounter", "status": "finished", "class_fhir": {"code": "AMB"}},
    "fhir_comments": {**ENCOUNTER, "fhir_comments": ["generated"]},
    "strings of spaces": {**ENCOUNTER, "class": {**ENCOUNTER["class"], "display": "  "}},
}


EXTENSION_URL = "https://fhir.example.org/StructureDefinition/x"
EDGE_CASES: dict[str, dict[str, Any]] = {  # corners the mutation generator does not reach; verdicts must agree
    "NaN inside a JSON-string object": {**ENCOUNTER, "length": '{"value": NaN}'},
    "1E400 inside a JSON-string object": {**ENCOUNTER, "length": '{"value": 1E400}'},
    "JSON-string object with spaces around": {**ENCOUNTER, "length": '  {"value": 1}  '},
    "JSON-string object with a duplicate key": {**ENCOUNTER, "length": '{"value": "x", "value": 1}'},
    "JSON-string object with a trailing comma": {**ENCOUNTER, "length": '{"value": 1,}'},
    "JSON string in a list of objects": {**ENCOUNTER, "episodeOfCare": ['{"reference": "EpisodeOfCare/1"}']},
    "plain string in a list of objects": {**ENCOUNTER, "episodeOfCare": ["EpisodeOfCare/1"]},
    "resource_type on a data type": {**ENCOUNTER, "class": {"code": "AMB", "resource_type": "Coding"}},
    "wrong resource_type on a data type": {**ENCOUNTER, "class": {"code": "AMB", "resource_type": "Quantity"}},
    "resourceType that is not a string": {**ENCOUNTER, "class": {"code": "AMB", "resourceType": 5}},
    "valueUrl that is a number": {**ENCOUNTER, "extension": [{"url": EXTENSION_URL, "valueUrl": 5}]},
    "valueUrl that is empty": {**ENCOUNTER, "extension": [{"url": EXTENSION_URL, "valueUrl": ""}]},
    "valueUuid as a URN": {
        **ENCOUNTER,
        "extension": [{"url": EXTENSION_URL, "valueUuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}],
    },
    "_element for a complex element": {**ENCOUNTER, "_class": {"id": "a"}},
    "_element as a list": {**ENCOUNTER, "_status": [{"id": "a"}]},
    "required div given only as _div": {
        **ENCOUNTER,
        "text": {"status": "generated", "_div": {"extension": [{"url": EXTENSION_URL}]}},
    },
    "Extension.url given only as _url": {**ENCOUNTER, "extension": [{"_url": {"extension": [{"url": "u"}]}}]},
    "_status with an empty extension list": {"resourceType": "Encounter", "class": {}, "_status": {"extension": []}},
    "_status as a JSON string": {"resourceType": "Encounter", "class": {}, "_status": '{"extension": [{"url": "u"}]}'},
    "null fhir_comments item": {**ENCOUNTER, "fhir_comments": [None]},
    "null Python-name duplicate": {**ENCOUNTER, "class_fhir": None},
    # the walker's fast path takes non-null values under their element name; these take its general path
    "null item in a list of objects": {**ENCOUNTER, "type": [{"text": "x"}, None]},
    "null extension list on a data type": {**ENCOUNTER, "class": {**ENCOUNTER["class"], "extension": None}},
    "contained as null": {**ENCOUNTER, "contained": None},
    "contained as an object": {**ENCOUNTER, "contained": {"resourceType": "Patient", "id": "p"}},
    "Python field name with an invalid value": {"resourceType": "Encounter", "status": "finished", "class_fhir": 5},
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_get_fhir_resources_verdict(case: str) -> None:
    resource = EDGE_CASES[case]
    assert fast_verdict(resource) == reference_verdict("Encounter", resource)


@pytest.mark.parametrize("case", sorted(R4_FORBIDS_FHIR_RESOURCES_ACCEPTS))
def test_what_fhir_resources_accepts_beyond_r4_is_matched(case: str) -> None:
    resource = R4_FORBIDS_FHIR_RESOURCES_ACCEPTS[case]
    assert reference_verdict(resource["resourceType"], resource)
    assert check_structure(resource) == []


def test_refusals_are_documented_and_clear() -> None:
    without_type = {k: v for k, v in ENCOUNTER.items() if k != "resourceType"}
    assert check_structure(without_type) == ["resourceType: missing or not a type the fast check supports"]
    assert check_structure({**ENCOUNTER, "resourceType": "Basic"}) == [
        "resourceType: missing or not a type the fast check supports"
    ]
    contained = {**ENCOUNTER, "contained": [{"resourceType": "Patient", "id": "p"}]}
    assert check_structure(contained) == [
        "Encounter.contained[0]: contained resources are not supported by the fast check"
    ]
    assert check_structure({**ENCOUNTER, "contained": []}) == []


def test_problems_name_paths_never_values() -> None:
    phi = "Jose Nunez 1988-07-14 relapsed"
    resource = {
        **ENCOUNTER,
        "status": phi,
        "subject": {"reference": 5, "display": [phi]},
        "period": {"start": phi},
        "reasonCode": [{"text": phi, "coding": phi}],
        "class": phi,
    }
    problems = check_structure(resource)
    assert problems and not reference_verdict("Encounter", resource)
    assert all("Jose" not in p and "1988" not in p and "relapsed" not in p for p in problems)
    assert "Encounter.period.start: not a valid value of its FHIR type" in problems
    assert "Encounter.reasonCode[0].coding: must be a list" in problems


def test_schema_is_derived_once_per_model() -> None:
    first = schema.schema_for(model_class("Encounter"))
    assert schema.schema_for(model_class("Encounter")) is first
    assert first.fields["class"] is first.fields["class_fhir"]
    assert {spec.alias for spec in first.required} == {"class"}
    assert [spec.alias for spec, _ in first.element_required] == ["status"]


def test_unsupported_validators_stop_the_build() -> None:
    class Stricter(model_class("Device")):  # type: ignore[misc, valid-type]
        @model_validator(mode="after")
        def extra_rule(self) -> Stricter:
            return self

    with pytest.raises(RuntimeError, match="validators the fast check does not reproduce"):
        schema.schema_for(Stricter)
