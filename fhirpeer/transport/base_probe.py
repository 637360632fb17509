"""Is the configured URL a FHIR base? When `GET metadata` answers, but with no CapabilityStatement (a 404 from a
web server's root, an HTML page), look for the base the user probably meant and say so (exit 2, nothing written).

The paths tried are the common FHIR base paths: HAPI FHIR JPA's `/fhir`, the public HAPI sandbox's `/baseR4`,
and the versioned `/fhir/R4` and `/R4` of several vendors. Each is tried once, without retries.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from .. import errors
from .client import FhirClient
from .retry import RetryBudget, RetryPolicy

log = logging.getLogger("fhirpeer.http")

CANDIDATE_PATHS: tuple[str, ...] = ("fhir", "baseR4", "fhir/R4", "R4")
#: The statuses of a `GET metadata` that mean "something answers here, but it is not a FHIR base".
NOT_A_BASE_STATUSES: frozenset[int] = frozenset({200, 400, 404, 405, 406, 410})


def candidate_bases(base_url: str) -> list[str]:
    """Likely FHIR bases near `base_url`: below it, then below the server's root (never `base_url` itself)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if path.endswith("/metadata"):
        path = path[: -len("/metadata")]
    roots = [origin + path, origin] if path else [origin]
    found: list[str] = []
    for root in roots:
        for candidate in (root, *(f"{root}/{p}" for p in CANDIDATE_PATHS)):
            if candidate.rstrip("/") != base_url.rstrip("/") and candidate not in found:
                found.append(candidate)
    return found


def answers_capability_statement(client: FhirClient, base_url: str) -> bool:
    """True when `base_url/metadata` answers a CapabilityStatement (one attempt, the client's session)."""
    probe = FhirClient(
        base_url, auth=client.auth, session=client.session, timeout=client.timeout,
        retry=RetryPolicy(max_attempts=1, total_budget=0), budget=RetryBudget(total=0),
    )  # fmt: skip
    try:
        probe.capabilities()
    except errors.FhirpeerError:
        return False
    return True


def read_capability_statement(client: FhirClient) -> dict[str, Any]:
    """`client.capabilities()`, or `NotFhirBase` naming the URL and the base it probably should be."""
    try:
        return client.capabilities()
    except errors.ServerError as exc:
        if isinstance(exc, errors.AuthError | errors.ServerUnreachable | errors.TemporaryError):
            raise
        if exc.status not in NOT_A_BASE_STATUSES:
            raise
        answer = "no CapabilityStatement" if exc.status == 200 else f"HTTP {exc.status}"
        candidates = candidate_bases(client.base_url)
        suggestion = next((c for c in candidates if answers_capability_statement(client, c)), None)
        log.debug("GET metadata: %s; suggested base: %s", answer, suggestion or "none")
        hint = (
            f"did you mean {suggestion} ?"
            if suggestion
            else "use the server's FHIR base URL (it often ends in /fhir, /baseR4 or /fhir/R4)"
        )
        raise errors.NotFhirBase(
            f"{client.base_url} answers, but is not a FHIR base URL (GET metadata: {answer}); {hint}",
            suggestion=suggestion,
        ) from None
