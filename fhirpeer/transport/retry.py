"""Retry policy for FHIR HTTP calls, built on tenacity.

What is retried: connection errors, timeouts and broken chunked responses, and HTTP 408, 429, 502, 503
and 504. Everything else (400, 401, 403, 404, 409, 410, 412, 422, 500, ...) is handed back to the caller
after one attempt.

Waits grow exponentially with jitter (``initial_wait * 2**n + uniform(0, jitter)``, at most ``max_wait``). A
``Retry-After`` header (delta-seconds or HTTP-date) replaces the computed wait, capped at ``retry_after_cap``.

One :class:`RetryBudget` is shared by every call of a run. It is charged with the seconds slept between
attempts and the seconds spent in attempts that were then retried. A retry whose wait would not fit in what
remains of the budget is not made: the call gives up at once instead of sleeping past the budget.

Once attempts or budget are spent, network failures become :class:`~fhirpeer.errors.ServerUnreachable` and
HTTP statuses become :class:`~fhirpeer.errors.TemporaryError` carrying the status.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import tenacity
from requests.exceptions import ChunkedEncodingError, SSLError

from .. import errors

__all__ = [
    "NETWORK_ERRORS",
    "RETRY_STATUSES",
    "RetryBudget",
    "RetryPolicy",
    "backoff_wait",
    "call_with_retry",
    "describe_network_error",
    "parse_retry_after",
]

log = logging.getLogger("fhirpeer.http")

#: HTTP statuses that are worth another attempt.
RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 502, 503, 504})
#: Statuses retried even for requests that are not idempotent: the server says it did not process them.
SAFE_RETRY_STATUSES: frozenset[int] = frozenset({429})
#: Transport failures that are worth another attempt.
NETWORK_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ChunkedEncodingError,
)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one HTTP call (all durations in seconds)."""

    max_attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    retry_after_cap: float = 120.0
    total_budget: float = 900.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise errors.ConfigError("retry max_attempts must be at least 1")
        for name in ("initial_wait", "max_wait", "retry_after_cap", "total_budget", "jitter"):
            if getattr(self, name) < 0:
                raise errors.ConfigError(f"retry {name} must not be negative")


@dataclass
class RetryBudget:
    """Retry time shared by all calls of one run, plus counters for the run report.

    ``retries`` counts retries made (not first attempts, not re-authentications); ``waited`` is the seconds
    slept; ``reasons`` counts retries by cause (``"429"``, ``"503"``, ``"ConnectionError"`` ...).
    """

    total: float = 900.0
    spent: float = 0.0
    retries: int = 0
    waited: float = 0.0
    give_ups: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def remaining(self) -> float:
        """Seconds of retry time left in this run (never negative)."""
        with self._lock:
            return max(0.0, self.total - self.spent)

    def charge(self, seconds: float) -> None:
        """Use up ``seconds`` of the budget (time spent in an attempt that is going to be retried)."""
        with self._lock:
            self.spent += max(0.0, seconds)

    def record_retry(self, reason: str, wait: float) -> None:
        """Count one retry for ``reason`` that sleeps ``wait`` seconds first (charged to the budget)."""
        with self._lock:
            self.retries += 1
            self.waited += wait
            self.spent += wait
            self.reasons[reason] += 1

    def record_give_up(self) -> None:
        """Count one call that failed for good after its retries."""
        with self._lock:
            self.give_ups += 1

    def snapshot(self) -> dict[str, object]:
        """Counters as plain data for a run report."""
        with self._lock:
            return {
                "retries": self.retries,
                "waited_seconds": round(self.waited, 3),
                "budget_spent_seconds": round(self.spent, 3),
                "budget_total_seconds": self.total,
                "gave_up": self.give_ups,
                "reasons": dict(self.reasons),
            }


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or None when absent or unparsable.

    Both forms are understood: delta-seconds (``"120"``) and HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``).
    Dates in the past give 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_wait(policy: RetryPolicy, retry_number: int, rng: Callable[[float, float], float]) -> float:
    """Exponential backoff with jitter for the ``retry_number``-th retry (1-based)."""
    exponential = policy.initial_wait * (2 ** max(0, retry_number - 1))
    return min(policy.max_wait, exponential + rng(0.0, policy.jitter))


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps (causes, contexts, urllib3 reasons, exceptions among the args)."""
    found: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        nested = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in nested if isinstance(item, BaseException))
    return found


def _host_of(exc: BaseException) -> str | None:
    """host:port of the request a requests exception was about (no user info, no path, no query)."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if isinstance(url, str):
        parts = urlsplit(url)
        if parts.hostname:
            return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return None


def describe_network_error(exc: BaseException, host: str | None = None) -> str:
    """One PHI-free line naming the host and the cause: ``connection refused by 127.0.0.1:8080``,
    ``cannot resolve the host name fhir.example.org``, ``TLS certificate of fhir.example.org:443 not trusted``.

    No exception class chain and no URL (a query may carry values): only ``host`` (host:port) and the cause.
    """
    chain = _chain(exc)
    where = host or _host_of(exc) or "the server"
    name = where.rsplit(":", 1)[0] if where.count(":") == 1 else where

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} not trusted (set ca_bundle to the CA that signed it)"
    if has(SSLError, ssl.SSLError):
        return f"TLS handshake with {where} failed"
    if has(ConnectionRefusedError):
        return f"connection refused by {where}"
    if has(socket.gaierror):
        return f"cannot resolve the host name {name}"
    if has(requests.ConnectTimeout):
        return f"no connection to {where} within the connect timeout"
    if has(requests.ReadTimeout, socket.timeout, TimeoutError):
        return f"{where} did not answer within the read timeout"
    if has(ConnectionResetError):
        return f"connection reset by {where}"
    if has(ChunkedEncodingError):
        return f"{where} broke off its answer"
    if has(http.client.RemoteDisconnected, ConnectionAbortedError, BrokenPipeError):
        return f"{where} closed the connection without answering"
    os_error = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if os_error is not None:
        return f"{str(os_error.strerror).lower()} ({where})"
    return f"network error talking to {where}"


@dataclass
class _Call:
    """State of one retried call: the wait chosen per retry and the time of the current attempt."""

    policy: RetryPolicy
    budget: RetryBudget
    safe_only: bool
    clock: Clock
    rng: Callable[[float, float], float]
    attempt: int = 0
    attempt_seconds: float = 0.0
    waits: dict[int, float] = field(default_factory=dict)

    def is_retryable(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            if self.safe_only:
                return isinstance(exc, requests.ConnectTimeout)
            if isinstance(exc, SSLError):
                return False
            if isinstance(exc, errors.TemporaryError):
                return True
            return isinstance(exc, NETWORK_ERRORS)
        statuses = SAFE_RETRY_STATUSES if self.safe_only else RETRY_STATUSES
        return outcome.result().status_code in statuses

    def wait_for(self, state: tenacity.RetryCallState) -> float:
        """The wait before the next attempt: Retry-After (capped) when given, backoff otherwise."""
        number = state.attempt_number
        if number not in self.waits:
            retry_after = _retry_after_of(state)
            if retry_after is not None:
                self.waits[number] = min(retry_after, self.policy.retry_after_cap)
            else:
                self.waits[number] = backoff_wait(self.policy, number, self.rng)
        return self.waits[number]

    def should_stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        self.budget.charge(self.attempt_seconds)
        return self.wait_for(state) > self.budget.remaining()

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        wait = self.wait_for(state)
        reason = _reason_of(state)
        self.budget.record_retry(reason, wait)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            outcome.result().close()
        log.debug("retry %d after %s, waiting %.2fs", state.attempt_number, reason, wait)

    def timed(self, attempt: Callable[[int], requests.Response]) -> Callable[[], requests.Response]:
        def run() -> requests.Response:
            self.attempt += 1
            started = self.clock()
            try:
                return attempt(self.attempt)
            finally:
                self.attempt_seconds = self.clock() - started

        return run


def _retry_after_of(state: tenacity.RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    return parse_retry_after(outcome.result().headers.get("Retry-After"))


def _reason_of(state: tenacity.RetryCallState) -> str:
    outcome = state.outcome
    if outcome is None:
        return "unknown"
    if outcome.failed:
        exc = outcome.exception()
        if isinstance(exc, errors.ServerError) and exc.status is not None:
            return str(exc.status)
        return type(exc).__name__
    return str(outcome.result().status_code)


def call_with_retry(
    attempt: Callable[[int], requests.Response],
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    label: str = "request",
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    rng: Callable[[float, float], float] = random.uniform,
    safe_only: bool = False,
    host: str | None = None,
) -> requests.Response:
    """Run ``attempt(attempt_number)`` until it gives a final response, retrying per ``policy``.

    Returns the last response when its status is not retryable (the caller handles 4xx/5xx). ``safe_only``
    limits retries to what cannot have reached the server (connect timeouts, 429) for non-idempotent requests.
    ``label`` (e.g. ``"PUT Encounter"``) names the call in error messages; it must not carry PHI. ``host``
    (host:port) names the server in network error messages.

    Raises:
        ServerUnreachable: transport failures outlived the attempts or the budget.
        TemporaryError: a retryable HTTP status outlived the attempts or the budget.
    """
    call = _Call(policy=policy, budget=budget, safe_only=safe_only, clock=clock, rng=rng)
    retrying = tenacity.Retrying(
        retry=call.is_retryable,
        stop=call.should_stop,
        wait=call.wait_for,
        sleep=sleep,
        before_sleep=call.before_sleep,
        retry_error_callback=lambda state: state.outcome,
        reraise=True,
    )
    try:
        result = retrying(call.timed(attempt))
    except NETWORK_ERRORS as exc:  # includes SSLError, never retried
        raise errors.ServerUnreachable(f"{label}: {describe_network_error(exc, host)} (not retried)") from None
    except requests.RequestException as exc:
        raise errors.ServerError(f"{label}: {describe_network_error(exc, host)}") from None
    if isinstance(result, requests.Response):
        return result
    return _give_up(result, call, label, host)


def _give_up(future: tenacity.Future, call: _Call, label: str, host: str | None) -> requests.Response:
    """Turn the last outcome of an exhausted call into the matching error (never returns)."""
    call.budget.record_give_up()
    tries = f"after {call.attempt} attempt{'s' if call.attempt != 1 else ''}"
    if call.attempt < call.policy.max_attempts:
        tries += " (retry budget spent)"
    exc = future.exception() if future.failed else None
    if isinstance(exc, errors.ServerError):
        raise exc
    if exc is not None:
        raise errors.ServerUnreachable(f"{label}: {describe_network_error(exc, host)} {tries}") from None
    response = future.result()
    status = response.status_code
    response.close()
    raise errors.TemporaryError(f"{label}: HTTP {status} {tries}", status=status)
