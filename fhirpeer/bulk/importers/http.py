"""HTTP for the importers: auth, retries with backoff and Retry-After, one re-authentication, PHI-free refusals.

Retries follow :mod:`fhirpeer.retry` (429, 502, 503, 504 and transport errors; ``Retry-After`` honoured and capped).
Requests that would start a second job if repeated are sent with ``idempotent=False``: they are retried only when
the server cannot have acted on them (429, connect timeouts). A target whose throttling comes back as another status
(AWS: HTTP 400 ``ThrottlingException``) passes ``is_temporary`` to have it retried the same way.

Refusal texts keep provider error codes and scrubbed messages of *start* requests only, whose bodies carry file
locations and settings but no resource content; see :func:`refusal_detail`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from ... import errors
from ..._version import __version__
from ...transport.auth import Auth, NoAuth
from ...transport.operation_outcome import parse_operation_outcome, safe_diagnostics, summarize_issues
from ...transport.retry import RetryBudget, RetryPolicy, Sleep, call_with_retry

__all__ = ["ImportHttp", "json_body", "refusal_detail"]

log = logging.getLogger("fhirpeer.bulk.import")

Timeout = float | tuple[float, float]
#: Adds headers to one attempt just before it is sent (method, url, body, headers); used for AWS SigV4.
Signer = Callable[[str, str, bytes | None, dict[str, str]], None]


class ImportHttp:
    """One session, auth scheme and retry budget shared by an importer's requests."""

    def __init__(
        self,
        *,
        auth: Auth | None = None,
        session: requests.Session | None = None,
        timeout: Timeout = (10.0, 120.0),
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        sleep: Sleep = time.sleep,
        user_agent: str | None = None,
    ) -> None:
        self.auth = auth or NoAuth()
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.budget = budget or RetryBudget(total=self.retry.total_budget)
        self.user_agent = user_agent or f"fhirpeer/{__version__}"
        self._sleep = sleep
        self.auth.bind(self.session)

    def request(
        self,
        method: str,
        url: str,
        *,
        label: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        signer: Signer | None = None,
        is_temporary: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Send with retries; one re-authentication on 401; a 401 or 403 after that raises AuthError.

        ``label`` names the call in errors and logs (``"POST $import"``) and must not carry PHI.
        """
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        base_headers = {"User-Agent": self.user_agent, **dict(headers or {})}

        def attempt(number: int) -> requests.Response:
            sent = dict(base_headers)
            self.auth.apply(sent)
            if signer is not None:
                signer(method, url, data, sent)
            started = time.monotonic()
            response = self.session.request(method, url, data=data, headers=sent, timeout=self.timeout)
            log.debug(
                "%s: HTTP %d in %.0f ms (attempt %d)",
                label,
                response.status_code,
                (time.monotonic() - started) * 1000,
                number,
            )
            if is_temporary is not None and is_temporary(response):
                status = response.status_code
                response.close()
                raise errors.TemporaryError(f"{label}: HTTP {status} (throttled)", status=status)
            return response

        def send() -> requests.Response:
            return call_with_retry(
                attempt, policy=self.retry, budget=self.budget, label=label, sleep=self._sleep, safe_only=not idempotent
            )

        response = send()
        if response.status_code == 401:
            response.close()
            self.auth.invalidate()
            log.debug("%s: HTTP 401, re-authenticating once", label)
            response = send()
        if response.status_code in (401, 403):
            status = response.status_code
            detail = refusal_detail(response)
            response.close()
            raise errors.AuthError(f"{label}: HTTP {status}{detail}", status=status)
        return response


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def refusal_detail(response: requests.Response) -> str:
    """`` (code: scrubbed message)`` from a refusal body of any provider, or ``""``.

    FHIR OperationOutcome: issue codes and HAPI message codes only (servers echo values in diagnostics).
    Google (``{"error": {"status", "message"}}``) and AWS (``{"__type", "message"}``): the error code plus the
    message scrubbed by :func:`fhirpeer.outcome.safe_diagnostics`.
    """
    body = json_body(response)
    if not isinstance(body, Mapping):
        return ""
    issues = parse_operation_outcome(body)
    if issues:
        return f" ({summarize_issues(issues)})"
    code, message = _provider_error(body)
    if not code and not message:
        return ""
    text = safe_diagnostics(message)
    return f" ({code}: {text})" if code and text else f" ({code or text})"


def _provider_error(body: Mapping[str, Any]) -> tuple[str, str]:
    google = body.get("error")
    if isinstance(google, Mapping):
        return _word(google.get("status")), str(google.get("message") or "")
    aws_type = body.get("__type")
    if isinstance(aws_type, str):
        message = body.get("message", body.get("Message"))
        return _word(aws_type.rsplit("#", 1)[-1]), str(message or "")
    return "", ""


def _word(value: object) -> str:
    """An error code: letters, digits and underscores only, at most 64 characters; anything else is dropped."""
    if isinstance(value, str) and value.replace("_", "").isalnum() and len(value) <= 64:
        return value
    return ""
