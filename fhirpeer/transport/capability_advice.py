"""What `check-server` (and a refused sync) tells the user about a server: why a type cannot be written,
what configuration would help, and the verdict. Plain text from capabilities; no I/O."""

from __future__ import annotations

from collections.abc import Mapping

from .capabilities import ResourceCapabilities, ServerCapabilities, StrategyPlan


def _declared(res: ResourceCapabilities) -> str:
    """What the statement declares for a type, in words (``read, search-type``)."""
    order = ["read", "vread", "search-type", "create", "update", "patch", "delete", "history-instance"]
    known = [i for i in order if i in res.interactions]
    known += sorted(i for i in res.interactions if i not in order)
    return ", ".join(known) if known else "no interaction at all"


def _why_not(res: ResourceCapabilities) -> tuple[str, bool]:
    """Why fhirpeer cannot write a type, and whether forcing a strategy in configuration could help."""
    t = res.type
    if not res.listed:
        return (
            f"{t} is not listed in the server's CapabilityStatement (no create, update or search by "
            "identifier declared)",
            True,
        )
    if not res.create and not res.update:
        return f"the server allows only {_declared(res)} on {t} — no create, no update", False
    missing = []
    if not res.conditional_update:
        missing.append("conditionalUpdate")
    if not res.identifier_search:
        missing.append(f"an identifier search parameter for {t}")
    if not res.update_create:
        missing.append("updateCreate (create on PUT with a client-assigned id)")
    return f"the server declares {_declared(res)} on {t} but not " + ", ".join(missing), res.update


def cannot_write_lines(caps: ServerCapabilities, plan: StrategyPlan, files: Mapping[str, str]) -> list[str]:
    """Plain-language lines naming each type fhirpeer cannot write here, why, and what would make it work.

    `files` maps a resource type to the input file it comes from (`input_file_of_type`)."""
    lines: list[str] = []
    for problem in plan.blocking:
        if problem.resource_type is None:
            lines.append(f"  server: {problem.message}")
    for t in [p.resource_type for p in plan.blocking if p.resource_type]:
        why, can_force = _why_not(caps.resource(t))
        lines.append(f"  {t} cannot be written: {why}.")
        if can_force:
            lines.append(
                f"    If the server does accept {t} writes, force a strategy in the --config file:\n"
                f"      strategy_per_type: {{{t}: client_id_put}}\n"
                f"    (client_id_put sends PUT {t}/<id derived from the business key> and needs the server "
                "to create on update; search_then_write is the other choice when identifier search works)."
            )
        else:
            lines.append(
                f"    No fhirpeer setting can change that: ask the server's administrator to allow {t} "
                f"create/update, or leave {files.get(t, t)} out of the export."
            )
    return lines


def verdict_lines(
    caps: ServerCapabilities,
    plan: StrategyPlan,
    types: list[str],
    forced: Mapping[str, str],
    files: Mapping[str, str],
) -> list[str]:
    """The FHIR version check, strategies forced by configuration, and whether the server can hold the export."""
    if not caps.fhir_version:
        version = "FHIR version: not stated (assuming R4)"
    elif caps.is_r4:
        version = f"FHIR version: {caps.fhir_version} (R4) — supported"
    else:
        version = f"FHIR version: {caps.fhir_version} — NOT R4 (4.0.x); fhirpeer writes R4 resources only"
    lines = ["", version]
    for t, s in forced.items():
        lines.append(f"{t}: strategy {s} forced by configuration")
    if plan.ok:
        writable = [t for t in types if plan.can_write(t)]
        lines.append(f"verdict: OK — fhirpeer can write every type it needs here ({', '.join(writable)})")
        without = [t for t in types if not plan.can_write(t)]
        if without:
            lines.append(f"  it goes on without {', '.join(without)} (the server cannot take them; see problems)")
    else:
        unwritable = [p.resource_type for p in plan.blocking if p.resource_type]
        what = ", ".join(unwritable) if unwritable else "anything"
        lines.append(f"verdict: NOT OK — this server cannot hold what fhirpeer writes: cannot write {what}")
        lines.extend(cannot_write_lines(caps, plan, files))
        lines.append("A sync to this server exits 2 and writes nothing until this is fixed.")
    return lines
