"""A FHIR R4 REST client on ``requests.Session``: reads, paged searches, writes, transactions.

Every request sends ``Accept: application/fhir+json`` and a timeout, applies :mod:`fhirpeer.transport.auth` (one
re-authentication on 401, not counted as a retry) and runs under :mod:`fhirpeer.transport.retry`. Refusals become
:class:`~fhirpeer.errors.FatalError` carrying the scrubbed OperationOutcome issues.

Nothing here logs bodies or headers. The ``fhirpeer.http`` logger gets, at DEBUG, the method, the URL path
without its query, the status, the elapsed milliseconds and the attempt number.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import orjson
import requests

from .. import errors
from .._version import __version__
from .auth import Auth, NoAuth
from .operation_outcome import parse_operation_outcome, summarize_issues
from .retry import RETRY_STATUSES, RetryBudget, RetryPolicy, Sleep, call_with_retry

__all__ = ["FHIR_JSON", "FhirClient", "WriteResult", "host_of", "parse_etag", "parse_location"]

log = logging.getLogger("fhirpeer.http")

FHIR_JSON = "application/fhir+json"
Timeout = float | tuple[float, float]
SearchParams = Sequence[tuple[str, str]] | Mapping[str, str] | None

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_LOCATION = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<version>[A-Za-z0-9\-.]{1,64}))?/?$"
)
_ETAG = re.compile(r'^\s*(?:W/)?"?(?P<version>[^"]*)"?\s*$')


@dataclass
class WriteResult:
    """What the server said about one write: status, the resource's type, id and version, and the body."""

    status: int
    resource_type: str | None
    id: str | None
    version_id: str | None
    resource: dict[str, Any] | None = None

    @property
    def created(self) -> bool:
        """True when the server created a resource (HTTP 201)."""
        return self.status == 201


def parse_location(value: str | None) -> tuple[str | None, str | None, str | None]:
    """``(type, id, version)`` from a Location such as ``http://x/fhir/Encounter/12/_history/3``."""
    if not value:
        return None, None, None
    # the path by hand (after scheme and host, before query or fragment): urlsplit ran once per Bundle entry
    text = value.strip()
    if "://" in text:
        after_host = text.find("/", text.index("://") + 3)
        text = text[after_host:] if after_host != -1 else ""
    match = _LOCATION.search(text.split("?", 1)[0].split("#", 1)[0])
    if not match:
        return None, None, None
    return match["type"], match["id"], match["version"]


def parse_etag(value: str | None) -> str | None:
    """The version in an ETag such as ``W/"3"`` (None when absent or empty)."""
    if not value:
        return None
    match = _ETAG.match(value)
    return match["version"] or None if match else None


def format_if_match(version: str) -> str:
    """``If-Match`` value for a version: ``"3"`` → ``W/"3"``; a full ETag is sent as given."""
    version = version.strip()
    if version.startswith(('W/"', '"')):
        return version
    return f'W/"{version}"'


def describe_target(path: str) -> str:
    """A PHI-free name for a request target: path kept, query values dropped (``Encounter?identifier=…``)."""
    parts = urlsplit(path)
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    query = "&".join(f"{name}=…" for name in names)
    return f"{parts.path}?{query}" if query else parts.path


class FhirClient:
    """A FHIR R4 client bound to one base URL; use it as a context manager to close its session.

    ``retry`` and ``budget`` default to :class:`RetryPolicy` and a fresh :class:`RetryBudget`; pass the run's
    budget to share it between clients. ``verify`` is a bool or a CA bundle path. ``sleep`` is injectable for
    tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: Timeout = (5.0, 60.0),
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        verify: bool | str = True,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.base_url = _normalise_base(base_url)
        self.host = host_of(self.base_url)
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self.retry_policy = retry or RetryPolicy()
        self.budget = budget or RetryBudget(total=self.retry_policy.total_budget)
        self.user_agent = user_agent or f"fhirpeer/{__version__}"
        self.reauthentications = 0
        #: the Date header of the last response (the server's clock, e.g. for `_lastUpdated` high-water marks)
        self.last_response_date: str | None = None
        self._sleep = sleep
        self._owns_session = session is None
        self.session = session or requests.Session()
        if self._owns_session or verify is not True:
            self.session.verify = verify
        self.auth.bind(self.session)

    # --- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r}, auth={self.auth!r})"

    def stats(self) -> dict[str, object]:
        """Retry and re-authentication counters for a run report."""
        return {**self.budget.snapshot(), "reauthentications": self.reauthentications}

    # --- reads ------------------------------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement (``GET metadata``)."""
        response = self._request("GET", "metadata")
        return self._resource_body(response, "GET metadata", expected="CapabilityStatement")

    def smart_configuration(self) -> dict[str, Any] | None:
        """``.well-known/smart-configuration`` as a dict, or None when the server has none."""
        label = "GET .well-known/smart-configuration"
        response = self._request(
            "GET",
            ".well-known/smart-configuration",
            headers={"Accept": "application/json"},
            authenticate=False,
        )
        body = _json_body(response) if response.status_code == 200 else None
        response.close()
        if body is None:
            log.debug("%s: none (HTTP %d)", label, response.status_code)
        return body

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """``GET Type/id``; None when the resource does not exist (404) or was deleted (410)."""
        path = f"{_check_type(resource_type)}/{_check_id(resource_id)}"
        label = f"GET {path}"
        response = self._request("GET", path, label=label)
        if response.status_code in (404, 410):
            response.close()
            return None
        return self._resource_body(response, label, expected=resource_type)

    def search(
        self,
        resource_type: str,
        params: SearchParams = None,
        *,
        no_cache: bool = True,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Resources matching a search, across all pages (``include``/``outcome`` entries are skipped)."""
        for bundle in self.search_bundles(resource_type, params, no_cache=no_cache, page_size=page_size):
            yield from _match_resources(bundle)

    def search_bundles(
        self,
        resource_type: str,
        params: SearchParams = None,
        *,
        no_cache: bool = True,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The searchset Bundles of a search, one per page.

        Next links are followed verbatim (HAPI: ``base?_getpages=…``). Paging stops when a page has no next
        link, has no entries, or links to a page already fetched.
        """
        query = _as_pairs(params)
        if page_size is not None:
            query.append(("_count", str(int(page_size))))
        headers = {"Cache-Control": "no-cache"} if no_cache else {}
        label = f"GET {_check_type(resource_type)} search"
        target: str = resource_type
        request_params: list[tuple[str, str]] | None = query
        seen: set[str] = set()
        while True:
            response = self._request("GET", target, params=request_params, headers=headers, label=label)
            seen.add(response.url)
            bundle = self._resource_body(response, label, expected="Bundle")
            yield bundle
            next_url = self._next_page(bundle, seen, label)
            if next_url is None:
                return
            seen.add(next_url)
            target, request_params = next_url, None

    # --- writes -----------------------------------------------------------------------------------------

    def transaction(
        self, bundle: dict[str, Any], *, idempotent: bool = True, return_minimal: bool = False
    ) -> dict[str, Any]:
        """POST a transaction Bundle to the base URL; returns the transaction-response Bundle.

        ``return_minimal`` asks for entries without the stored resources (``Prefer: return=minimal``): status,
        location and etag say what a writer needs, and the server neither renders nor sends 500 resources back."""
        return self._post_bundle(bundle, "transaction", idempotent=idempotent, return_minimal=return_minimal)

    def batch(self, bundle: dict[str, Any], *, idempotent: bool = True, return_minimal: bool = False) -> dict[str, Any]:
        """POST a batch Bundle to the base URL; returns the batch-response Bundle (check entry statuses)."""
        return self._post_bundle(bundle, "batch", idempotent=idempotent, return_minimal=return_minimal)

    def put(self, url_path: str, resource: dict[str, Any], *, if_match: str | None = None) -> WriteResult:
        """Update (or conditionally update or create) at ``url_path``, e.g. ``Encounter?identifier=…``.

        ``url_path`` must already be URL-encoded. ``if_match`` is a version (``"3"``) or an ETag (``W/"3"``).
        """
        headers = {"If-Match": format_if_match(if_match)} if if_match else {}
        label = f"PUT {describe_target(url_path)}"
        response = self._request("PUT", url_path, body=resource, headers=headers, label=label)
        return self._write_result(response, label)

    def post(
        self,
        resource_type: str,
        resource: dict[str, Any],
        *,
        if_none_exist: str | None = None,
        idempotent: bool | None = None,
    ) -> WriteResult:
        """Create a resource; ``if_none_exist`` (``identifier=s|v``, encoded) makes it a conditional create.

        A plain create is not retried after the request may have reached the server (it could create twice);
        a conditional create is. ``idempotent`` overrides that choice.
        """
        headers: dict[str, str] = {}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist.split("?", 1)[-1]
        if idempotent is None:
            idempotent = bool(if_none_exist)
        label = f"POST {_check_type(resource_type)}"
        response = self._request(
            "POST", resource_type, body=resource, headers=headers, label=label, idempotent=idempotent
        )
        return self._write_result(response, label)

    def delete(self, url_path: str) -> int:
        """Delete at ``url_path`` (``Type/id`` or a conditional ``Type?…``); returns the HTTP status.

        404 and 410 (already gone) are returned, not raised.
        """
        label = f"DELETE {describe_target(url_path)}"
        response = self._request("DELETE", url_path, label=label)
        status = response.status_code
        if status in (404, 410) or status < 300:
            response.close()
            return status
        self._raise_refusal(response, label)
        return status  # pragma: no cover - _raise_refusal always raises

    # --- plumbing ---------------------------------------------------------------------------------------

    def _url(self, target: str) -> str:
        if target.startswith(("https://", "http://")):
            return target
        target = target.lstrip("/")
        return f"{self.base_url}/{target}" if target else self.base_url

    def _request(
        self,
        method: str,
        target: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        label: str | None = None,
        idempotent: bool = True,
        authenticate: bool = True,
    ) -> requests.Response:
        """Send with retries and one re-authentication on 401; 403 and a second 401 raise AuthError."""
        label = label or f"{method} {describe_target(target)}"
        # orjson: the same compact UTF-8 JSON as json.dumps(ensure_ascii=False, separators=(",", ":")), ~10x faster
        # (a 500-entry Bundle is encoded while the server waits for it)
        data = None if body is None else orjson.dumps(body)
        attempt = partial(self._send, method, self._url(target), params, data, dict(headers or {}), authenticate)
        response = self._with_retry(attempt, label, idempotent)
        if response.status_code == 401 and authenticate:
            response.close()
            self.auth.invalidate()
            self.reauthentications += 1
            log.debug("%s: HTTP 401, re-authenticating once", label)
            response = self._with_retry(attempt, label, idempotent)
        if authenticate and response.status_code in (401, 403):
            self._raise_auth_error(response, label)
        return response

    def _with_retry(
        self, attempt: Callable[[int], requests.Response], label: str, idempotent: bool
    ) -> requests.Response:
        return call_with_retry(
            attempt,
            policy=self.retry_policy,
            budget=self.budget,
            label=label,
            sleep=self._sleep,
            safe_only=not idempotent,
            host=self.host,
        )

    def _send(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]] | None,
        data: bytes | None,
        extra_headers: dict[str, str],
        authenticate: bool,
        attempt: int,
    ) -> requests.Response:
        """One HTTP attempt (called by the retry loop)."""
        headers = {"Accept": FHIR_JSON, "User-Agent": self.user_agent}
        if data is not None:
            headers["Content-Type"] = FHIR_JSON
        headers.update(extra_headers)
        if authenticate:
            self.auth.apply(headers)
        path = urlsplit(url).path
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, params=params, data=data, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            elapsed = (time.monotonic() - started) * 1000
            log.debug(
                "%s %s failed: %s after %.0f ms (attempt %d)",
                method,
                path,
                type(exc).__name__,
                elapsed,
                attempt,
            )
            raise
        elapsed = (time.monotonic() - started) * 1000
        log.debug("%s %s -> %d in %.0f ms (attempt %d)", method, path, response.status_code, elapsed, attempt)
        self.last_response_date = response.headers.get("Date") or self.last_response_date
        return response

    def _raise_auth_error(self, response: requests.Response, label: str) -> None:
        status = response.status_code
        issues = parse_operation_outcome(_json_body(response))
        response.close()
        reason = "after re-authentication" if status == 401 else "forbidden"
        summary = summarize_issues(issues)
        detail = f" ({summary})" if summary else ""
        raise errors.AuthError(f"{label} refused: HTTP {status} {reason}{detail}", status=status, issues=issues)

    def _raise_refusal(self, response: requests.Response, label: str) -> None:
        """Raise FatalError for a final non-success response (TemporaryError for an unretried 429/5xx)."""
        status = response.status_code
        issues = parse_operation_outcome(_json_body(response))
        response.close()
        summary = summarize_issues(issues)
        detail = f" ({summary})" if summary else ""
        if status in RETRY_STATUSES:  # only reaches here when the request was not safe to retry
            raise errors.TemporaryError(f"{label} failed: HTTP {status} (not retried)", status=status, issues=issues)
        verb = "refused" if status < 500 else "failed"
        raise errors.FatalError(f"{label} {verb}: HTTP {status}{detail}", status=status, issues=issues)

    def _resource_body(self, response: requests.Response, label: str, *, expected: str) -> dict[str, Any]:
        if response.status_code != 200:
            self._raise_refusal(response, label)
        body = _json_body(response)
        if body is None or body.get("resourceType") != expected:
            raise errors.ServerError(f"{label}: HTTP 200 but the body is not a {expected}", status=200)
        return body

    def _write_result(self, response: requests.Response, label: str) -> WriteResult:
        if response.status_code not in (200, 201, 202):
            self._raise_refusal(response, label)
        return _write_result_of(response)

    def _post_bundle(
        self, bundle: dict[str, Any], kind: str, *, idempotent: bool, return_minimal: bool
    ) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise ValueError(f"expected a Bundle of type {kind}")
        label = f"POST {kind} ({len(bundle.get('entry') or [])} entries)"
        # RFC 7240 Prefer return=minimal, as FHIR R4 http.html#ops names it for writes
        headers = {"Prefer": "return=minimal"} if return_minimal else None
        response = self._request("POST", "", body=bundle, headers=headers, label=label, idempotent=idempotent)
        return self._resource_body(response, label, expected="Bundle")

    def _next_page(self, bundle: dict[str, Any], seen: set[str], label: str) -> str | None:
        if not bundle.get("entry"):
            return None
        link = _next_link(bundle)
        if link is None:
            return None
        url = link if link.startswith(("https://", "http://")) else urljoin(f"{self.base_url}/", link)
        if _origin(url) != _origin(self.base_url):
            raise errors.ServerError(
                f"{label}: the server's next link points to {_origin(url)}, not {_origin(self.base_url)}; "
                "fix the server's public base URL or use the base URL it advertises"
            )
        if url in seen:
            log.warning("%s: next link repeats a page already fetched; stopping", label)
            return None
        return url


def _normalise_base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise errors.ConfigError("the FHIR base URL must be an http(s) URL without query or fragment")
    return base


def host_of(url: str) -> str:
    """``host:port`` of a URL (the scheme's default port when none is given), without user info."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_type(resource_type: str) -> str:
    if not re.fullmatch(r"[A-Z][A-Za-z]{1,63}", resource_type):
        raise ValueError("not a FHIR resource type name")
    return resource_type


def _check_id(resource_id: str) -> str:
    if not _FHIR_ID.fullmatch(resource_id):
        raise ValueError("not a FHIR id")
    return resource_id


def _as_pairs(params: SearchParams) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params.items()]
    return [(str(k), str(v)) for k, v in params]


def _json_body(response: requests.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when empty or not a JSON object."""
    if not response.content or not response.content.strip():
        return None
    try:
        body = orjson.loads(response.content)  # a transaction-response Bundle is decoded while the server waits
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return None
    return body if isinstance(body, dict) else None


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _match_resources(bundle: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, Mapping):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, Mapping) else None
        resource = entry.get("resource")
        if mode in (None, "match") and isinstance(resource, dict):
            yield resource


def _write_result_of(response: requests.Response) -> WriteResult:
    """Merge what the body, Location/Content-Location and ETag say (body first, then headers)."""
    body = _json_body(response)
    response.close()
    resource = body if body and body.get("resourceType") not in (None, "OperationOutcome") else None
    loc_type, loc_id, loc_version = parse_location(
        response.headers.get("Location") or response.headers.get("Content-Location")
    )
    meta = resource.get("meta") if resource else None
    body_version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return WriteResult(
        status=response.status_code,
        resource_type=(resource or {}).get("resourceType") or loc_type,
        id=(resource or {}).get("id") or loc_id,
        version_id=body_version or loc_version or parse_etag(response.headers.get("ETag")),
        resource=resource,
    )
