"""What a FHIR server says it can do, and how fhirpeer will write to it. Pure functions, no HTTP.

    caps = parse_capability_statement(client.capabilities(), client.smart_configuration())
    plan = choose_strategy(caps, ["Patient", "Encounter", "CareTeam"])
    plan.overall                  # "transaction" when every type can use it, else None
    plan.strategy_for("CareTeam")  # per-type strategy, None when fhirpeer cannot write the type

Write strategies, most preferred first (see `writer.py` for how each is sent):

=====================  ===================================================================================
``transaction``        transaction Bundles of conditional PUTs ``PUT Type?identifier=sys|val``
``batch``              batch Bundles of the same conditional PUTs (entries succeed or fail one by one)
``conditional_put``    one conditional PUT per resource
``search_then_write``  ``GET Type?identifier=sys|val``, then ``PUT Type/id`` or ``POST Type``
``client_id_put``      ``PUT Type/<id derived from the key>`` (update-as-create, no identifier search)
=====================  ===================================================================================

Rules: conditional PUT needs ``update`` + ``conditionalUpdate`` + an ``identifier`` search parameter for the
type, and transaction/batch need the system interaction too; search_then_write needs ``search-type`` +
``identifier`` + ``create`` (without ``update`` it is create-only); client_id_put needs ``update`` +
``updateCreate``.

Only what the CapabilityStatement declares counts: a type the statement does not list cannot be written
unless the caller forces a strategy for it (``overrides``), with a warning.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..domain import WriteStrategy

SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
R4_VERSION_PREFIX = "4.0."


#: Strategies that send conditional PUTs by identifier.
CONDITIONAL_STRATEGIES = frozenset({WriteStrategy.TRANSACTION, WriteStrategy.BATCH, WriteStrategy.CONDITIONAL_PUT})


# ----------------------------------------------------------------------------------------------------------
# Parsed capabilities


@dataclass(frozen=True)
class ResourceCapabilities:
    """What the server declares for one resource type (``rest.resource``)."""

    type: str
    listed: bool = True
    interactions: frozenset[str] = frozenset()
    conditional_create: bool = False
    conditional_update: bool = False
    update_create: bool = False
    search_params: frozenset[str] = frozenset()

    @classmethod
    def unlisted(cls, resource_type: str) -> ResourceCapabilities:
        """A type the statement does not mention: nothing is declared for it."""
        return cls(type=resource_type, listed=False)

    @property
    def read(self) -> bool:
        return "read" in self.interactions

    @property
    def create(self) -> bool:
        return "create" in self.interactions

    @property
    def update(self) -> bool:
        return "update" in self.interactions

    @property
    def patch(self) -> bool:
        return "patch" in self.interactions

    @property
    def delete(self) -> bool:
        return "delete" in self.interactions

    @property
    def search_type(self) -> bool:
        return "search-type" in self.interactions

    @property
    def identifier_search(self) -> bool:
        """``identifier`` is a listed search parameter (needed to match by business key)."""
        return "identifier" in self.search_params


@dataclass(frozen=True)
class ServerCapabilities:
    """The parts of a CapabilityStatement (and SMART configuration) fhirpeer decides with."""

    fhir_version: str | None = None
    software_name: str | None = None
    software_version: str | None = None
    has_server_rest: bool = False
    system_interactions: frozenset[str] = frozenset()
    resources: Mapping[str, ResourceCapabilities] = field(default_factory=dict)
    smart_token_endpoint: str | None = None

    @property
    def transaction(self) -> bool:
        return "transaction" in self.system_interactions

    @property
    def batch(self) -> bool:
        return "batch" in self.system_interactions

    @property
    def is_r4(self) -> bool:
        """fhirVersion is 4.0.x (R4; 4.3.0 is R4B, 3.0.x STU3, 5.0.x R5)."""
        return bool(self.fhir_version) and str(self.fhir_version).startswith(R4_VERSION_PREFIX)

    def resource(self, resource_type: str) -> ResourceCapabilities:
        """The declared capabilities of one type (an unlisted, empty entry when the statement lacks it)."""
        return self.resources.get(resource_type) or ResourceCapabilities.unlisted(resource_type)


def _as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list (statements in the wild omit or mistype fields)."""
    return value if isinstance(value, list) else []


def _codes(entries: Any) -> frozenset[str]:
    """The ``code`` of each ``interaction`` entry."""
    return frozenset(e["code"] for e in _as_list(entries) if isinstance(e, dict) and isinstance(e.get("code"), str))


def _names(entries: Any) -> frozenset[str]:
    """The ``name`` of each ``searchParam`` entry."""
    return frozenset(e["name"] for e in _as_list(entries) if isinstance(e, dict) and isinstance(e.get("name"), str))


def _server_rest(cs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``rest`` entry with mode=server (or, failing that, the first one without a mode)."""
    rests = [r for r in _as_list(cs.get("rest")) if isinstance(r, dict)]
    for wanted in ("server", None):
        for rest in rests:
            if rest.get("mode") == wanted:
                return rest
    return None


def _parse_resource(entry: Mapping[str, Any], shared_params: frozenset[str]) -> ResourceCapabilities:
    """One ``rest.resource`` entry; rest-level search parameters apply to every type."""
    return ResourceCapabilities(
        type=str(entry["type"]),
        interactions=_codes(entry.get("interaction")),
        conditional_create=entry.get("conditionalCreate") is True,
        conditional_update=entry.get("conditionalUpdate") is True,
        update_create=entry.get("updateCreate") is True,
        search_params=_names(entry.get("searchParam")) | shared_params,
    )


def _parse_resources(rest: Mapping[str, Any]) -> dict[str, ResourceCapabilities]:
    """Every ``rest.resource`` entry that names a type, by type."""
    shared = _names(rest.get("searchParam"))
    entries = [e for e in _as_list(rest.get("resource")) if isinstance(e, dict) and isinstance(e.get("type"), str)]
    return {e["type"]: _parse_resource(e, shared) for e in entries}


def _oauth_token_uri(rest: Mapping[str, Any] | None) -> str | None:
    """The SMART ``token`` URI from ``rest.security`` (oauth-uris extension), if declared."""
    security = rest.get("security") if rest else None
    if not isinstance(security, dict):
        return None
    for ext in _as_list(security.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == SMART_OAUTH_URIS:
            for sub in _as_list(ext.get("extension")):
                if isinstance(sub, dict) and sub.get("url") == "token" and isinstance(sub.get("valueUri"), str):
                    return sub["valueUri"]
    return None


def _token_endpoint(smart_config: Mapping[str, Any] | None, rest: Mapping[str, Any] | None) -> str | None:
    """``token_endpoint`` from .well-known/smart-configuration, else the statement's oauth-uris."""
    if smart_config and isinstance(smart_config.get("token_endpoint"), str):
        return smart_config["token_endpoint"]
    return _oauth_token_uri(rest)


def _text(value: Any) -> str | None:
    """``value`` as a non-empty string, else None."""
    return str(value) if isinstance(value, str | int | float) and str(value) else None


def parse_capability_statement(
    cs: Mapping[str, Any], smart_config: Mapping[str, Any] | None = None
) -> ServerCapabilities:
    """Parse a CapabilityStatement dict (``GET metadata``) and an optional SMART configuration.

    Tolerant of real-world statements: missing fields count as "not declared", the ``rest`` entry with
    mode=server is used (several ``rest`` entries are fine) and a statement without one yields capabilities
    with no resources. Raises ``ValueError`` only when ``cs`` is not a JSON object.
    """
    if not isinstance(cs, Mapping):
        raise ValueError(f"a CapabilityStatement must be a JSON object, not {type(cs).__name__}")
    software = cs.get("software") if isinstance(cs.get("software"), dict) else {}
    rest = _server_rest(cs)
    return ServerCapabilities(
        fhir_version=_text(cs.get("fhirVersion")),
        software_name=_text(software.get("name")),
        software_version=_text(software.get("version")),
        has_server_rest=rest is not None,
        system_interactions=_codes(rest.get("interaction")) if rest else frozenset(),
        resources=_parse_resources(rest) if rest else {},
        smart_token_endpoint=_token_endpoint(smart_config, rest),
    )


# ----------------------------------------------------------------------------------------------------------
# Strategy choice


@dataclass(frozen=True)
class Problem:
    """Something fhirpeer cannot do on this server (``blocking``) or does in a lesser way (a warning)."""

    message: str
    resource_type: str | None = None
    blocking: bool = False

    @property
    def severity(self) -> str:
        return "error" if self.blocking else "warning"

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass(frozen=True)
class StrategyPlan:
    """The write strategy per resource type, plus the problems found on the way.

    ``overall`` is set when every writable type uses the same strategy; otherwise it is None and callers
    should use :meth:`strategy_for` per type, or ``common`` — the most preferred strategy every writable
    type allows — when they can only use one strategy for everything. ``updates`` says per type whether
    records already on the server can be changed (False: create-only, e.g. a server offering ``create``
    and ``patch`` but no ``update``).
    """

    strategies: Mapping[str, WriteStrategy | None]
    overall: WriteStrategy | None = None
    common: WriteStrategy | None = None
    updates: Mapping[str, bool] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def strategy_for(self, resource_type: str) -> WriteStrategy | None:
        """The strategy for ``resource_type``; None when fhirpeer cannot write it (or was not asked to)."""
        return self.strategies.get(resource_type)

    def can_write(self, resource_type: str) -> bool:
        """Whether fhirpeer can write ``resource_type`` to this server at all."""
        return self.strategy_for(resource_type) is not None

    def can_update(self, resource_type: str) -> bool:
        """Whether fhirpeer can also change records of this type that are already on the server."""
        return self.can_write(resource_type) and self.updates.get(resource_type, False)

    @property
    def blocking(self) -> list[Problem]:
        """The problems that stop fhirpeer from writing something it was asked to write."""
        return [p for p in self.problems if p.blocking]

    @property
    def ok(self) -> bool:
        """No blocking problem."""
        return not self.blocking


def _conditional_put_ok(res: ResourceCapabilities) -> bool:
    """``PUT Type?identifier=`` is declared: update, conditionalUpdate and an identifier search parameter."""
    return res.update and res.conditional_update and res.identifier_search


def _search_then_write_ok(res: ResourceCapabilities) -> bool:
    """Records can be found by identifier and at least created."""
    return res.search_type and res.identifier_search and res.create


def feasible_strategies(
    caps: ServerCapabilities, res: ResourceCapabilities, *, accepts_client_ids: bool = False
) -> list[WriteStrategy]:
    """Every strategy the statement allows for one type, most preferred first. `accepts_client_ids`: the server
    is known to create on `PUT Type/id` though its statement does not declare updateCreate (HAPI FHIR)."""
    found: list[WriteStrategy] = []
    if _conditional_put_ok(res):
        if caps.transaction:
            found.append(WriteStrategy.TRANSACTION)
        if caps.batch:
            found.append(WriteStrategy.BATCH)
        found.append(WriteStrategy.CONDITIONAL_PUT)
    if _search_then_write_ok(res):
        found.append(WriteStrategy.SEARCH_THEN_WRITE)
    if res.update and (res.update_create or accepts_client_ids):
        found.append(WriteStrategy.CLIENT_ID_PUT)
    return found


def _updates(strategy: WriteStrategy | None, res: ResourceCapabilities) -> bool:
    """Whether ``strategy`` can change an existing record (search_then_write needs ``update`` for that)."""
    if strategy is None:
        return False
    return res.update if strategy is WriteStrategy.SEARCH_THEN_WRITE else True


def _common_strategy(options: Mapping[str, list[WriteStrategy]]) -> WriteStrategy | None:
    """The most preferred strategy every writable type allows, if any."""
    allowed = [set(opts) for opts in options.values() if opts]
    shared = set.intersection(*allowed) if allowed else set()
    return next((s for s in WriteStrategy if s in shared), None)


def _missing_for_conditional_put(res: ResourceCapabilities) -> str:
    """Why conditional PUT by identifier is not declared for a type, in words."""
    missing = []
    if not res.update:
        missing.append("no update interaction")
    if not res.conditional_update:
        missing.append("conditionalUpdate not declared")
    if not res.identifier_search:
        missing.append("identifier is not a listed search parameter")
    return ", ".join(missing)


def _unwritable_problem(res: ResourceCapabilities) -> Problem:
    """The blocking problem for a type fhirpeer cannot write at all."""
    t = res.type
    if not res.listed:
        text = (
            f"{t}: not listed in the server's CapabilityStatement — fhirpeer cannot write it "
            "(if the server does accept it, force a strategy for this type)"
        )
    elif not res.create and not res.update:
        extra = " (it offers patch only, which fhirpeer does not use)" if res.patch else ""
        text = f"{t}: server allows neither create nor update{extra} — fhirpeer cannot write it"
    else:
        text = (
            f"{t}: no way to find records fhirpeer wrote before — {_missing_for_conditional_put(res)}, "
            "and no update-as-create (updateCreate) for client-assigned ids — fhirpeer cannot write it"
        )
    return Problem(text, t, blocking=True)


def _fallback_problem(res: ResourceCapabilities, strategy: WriteStrategy) -> Problem:
    """The warning for a type that cannot use conditional PUTs by identifier."""
    t = res.type
    why = _missing_for_conditional_put(res)
    if strategy is WriteStrategy.SEARCH_THEN_WRITE:
        how = f"searches {t}?identifier= and then writes by id (two requests per record, not atomic)"
    else:
        how = (
            f"writes PUT {t}/<id derived from the key>; a {t} created by someone else with the same "
            "identifier is not found"
        )
    return Problem(f"{t}: no conditional update by identifier ({why}) — falls back to {strategy}: fhirpeer {how}", t)


def _create_only_problem(res: ResourceCapabilities) -> Problem:
    """The warning for a type that can be created but not updated."""
    extra = " (the server offers patch, which fhirpeer does not use)" if res.patch else ""
    return Problem(
        f"{res.type}: no update interaction{extra} — fhirpeer creates new {res.type} resources but cannot "
        "change ones already on the server",
        res.type,
    )


def _forced_problem(
    res: ResourceCapabilities, strategy: WriteStrategy, feasible: list[WriteStrategy]
) -> Problem | None:
    """A warning when a forced strategy is not one the statement declares."""
    if strategy in feasible:
        return None
    return Problem(
        f"{res.type}: strategy {strategy} is forced although the CapabilityStatement does not declare it — "
        "writes may be refused",
        res.type,
    )


def _server_problems(caps: ServerCapabilities) -> list[Problem]:
    """Problems of the server as a whole: FHIR version, no server rest entry, no transaction/batch."""
    problems: list[Problem] = []
    if not caps.fhir_version:
        problems.append(Problem("the CapabilityStatement does not state a fhirVersion — assuming R4"))
    elif not caps.is_r4:
        problems.append(Problem(f"fhirVersion {caps.fhir_version} is not R4 (4.0.x)", blocking=True))
    if not caps.has_server_rest:
        problems.append(
            Problem(
                "the CapabilityStatement has no rest entry with mode=server — nothing is declared",
                blocking=True,
            )
        )
    elif not caps.transaction:
        tail = "one request per resource" if not caps.batch else "batch Bundles at best"
        problems.append(Problem(f"server does not support transaction Bundles — writes are not atomic ({tail})"))
    return problems


def _type_problems(res: ResourceCapabilities, strategy: WriteStrategy | None, updates: bool) -> list[Problem]:
    """Problems of one type under its chosen strategy."""
    if strategy is None:
        return [_unwritable_problem(res)]
    problems: list[Problem] = []
    if strategy not in CONDITIONAL_STRATEGIES and res.listed:
        problems.append(_fallback_problem(res, strategy))
    if not updates:
        problems.append(_create_only_problem(res))
    return problems


def _choose(
    options: Mapping[str, list[WriteStrategy]], forced: Mapping[str, WriteStrategy]
) -> dict[str, WriteStrategy | None]:
    """Per type: the forced strategy, else the type's own first choice, else None (cannot write)."""
    return {t: forced.get(t) or (opts[0] if opts else None) for t, opts in options.items()}


def _overall(chosen: Mapping[str, WriteStrategy | None]) -> WriteStrategy | None:
    """The strategy when every writable type uses the same one."""
    used = {s for s in chosen.values() if s is not None}
    return used.pop() if len(used) == 1 else None


def choose_strategy(
    caps: ServerCapabilities,
    resource_types: Iterable[str],
    overrides: Mapping[str, WriteStrategy | str] | None = None,
    *,
    client_id_types: Collection[str] = (),
) -> StrategyPlan:
    """Choose how to write each of ``resource_types`` (see the module docstring for the strategies).

    Each type gets the most preferred strategy it allows, so one type lacking conditional update by
    identifier falls back alone; ``overall`` is set when all writable types end up with the same strategy
    (e.g. ``transaction`` on HAPI), and ``common`` names the best strategy all of them allow (for writers
    that use one strategy for everything). A type that cannot be written has strategy None and a blocking
    problem; a type that falls back from conditional PUTs gets a warning. ``overrides`` forces a strategy
    per type (for servers whose statement under-declares), with a warning when the statement does not
    declare it. ``client_id_types`` are the types the server is known to create by ``PUT Type/id`` whatever
    its statement says.
    """
    types = list(dict.fromkeys(resource_types))
    forced = {t: WriteStrategy(s) for t, s in (overrides or {}).items() if t in types}
    options = {t: feasible_strategies(caps, caps.resource(t), accepts_client_ids=t in client_id_types) for t in types}
    chosen = _choose(options, forced)
    updates = {t: _updates(chosen[t], caps.resource(t)) for t in types}
    problems = _server_problems(caps)
    for t in types:
        res = caps.resource(t)
        if t in forced:
            problems.extend(p for p in [_forced_problem(res, forced[t], options[t])] if p)
        else:
            problems.extend(_type_problems(res, chosen[t], updates[t]))
    return StrategyPlan(
        strategies=chosen,
        overall=_overall(chosen),
        common=_common_strategy({t: [forced[t]] if t in forced else o for t, o in options.items()}),
        updates=updates,
        problems=tuple(problems),
    )
