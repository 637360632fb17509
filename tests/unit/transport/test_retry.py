"""The retry policy: what is retried, how long it waits, and what it raises when it gives up."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from requests.exceptions import ChunkedEncodingError, SSLError

from fhirpeer import errors
from fhirpeer.transport.retry import (
    RetryBudget,
    RetryPolicy,
    backoff_wait,
    call_with_retry,
    describe_network_error,
    parse_retry_after,
)

NO_JITTER = RetryPolicy(jitter=0.0)


def response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result.headers.update(headers or {})
    result._content = b""
    result._content_consumed = True
    return result


def script(
    *outcomes: int | Exception | requests.Response,
) -> tuple[Callable[[int], requests.Response], list[int]]:
    """An attempt callable that plays ``outcomes`` in order and records the attempt numbers it saw."""
    seen: list[int] = []
    queue = list(outcomes)

    def attempt(number: int) -> requests.Response:
        seen.append(number)
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome if isinstance(outcome, requests.Response) else response(outcome)

    return attempt, seen


def run(
    attempt: Callable[[int], requests.Response],
    policy: RetryPolicy = NO_JITTER,
    budget: RetryBudget | None = None,
    **kwargs: object,
) -> tuple[requests.Response, list[float]]:
    sleeps: list[float] = []
    result = call_with_retry(
        attempt,
        policy=policy,
        budget=budget or RetryBudget(total=policy.total_budget),
        label="GET Encounter",
        sleep=sleeps.append,
        **kwargs,  # type: ignore[arg-type]
    )
    return result, sleeps


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_temporary_statuses_are_retried(status: int) -> None:
    attempt, seen = script(status, status, 200)

    result, sleeps = run(attempt)

    assert result.status_code == 200
    assert seen == [1, 2, 3]
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [200, 201, 400, 401, 403, 404, 409, 410, 412, 422, 500, 501])
def test_other_statuses_are_returned_after_one_attempt(status: int) -> None:
    attempt, seen = script(status, 200)

    result, sleeps = run(attempt)

    assert result.status_code == status
    assert seen == [1]
    assert sleeps == []


def test_retry_after_seconds_replaces_backoff() -> None:
    attempt, _ = script(response(429, {"Retry-After": "2"}), 200)

    _, sleeps = run(attempt)

    assert sleeps == [2.0]


def test_retry_after_is_capped() -> None:
    attempt, _ = script(response(503, {"Retry-After": "3600"}), 200)

    _, sleeps = run(attempt)

    assert sleeps == [120.0]


def test_retry_after_never_exceeds_the_remaining_budget() -> None:
    attempt, seen = script(response(429, {"Retry-After": "100"}), 200)

    with pytest.raises(errors.TemporaryError) as info:
        run(attempt, budget=RetryBudget(total=60))

    assert info.value.status == 429
    assert seen == [1]


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    attempt, _ = script(response(503, {"Retry-After": format_datetime(when, usegmt=True)}), 200)

    _, sleeps = run(attempt)

    assert 28.0 <= sleeps[0] <= 30.0


def test_backoff_grows_and_is_capped_at_max_wait() -> None:
    policy = RetryPolicy(max_attempts=7, initial_wait=1.0, max_wait=10.0, jitter=0.0)
    attempt, _ = script(503)
    sleeps: list[float] = []

    with pytest.raises(errors.TemporaryError):
        call_with_retry(attempt, policy=policy, budget=RetryBudget(), sleep=sleeps.append)

    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_values() -> None:
    policy = RetryPolicy(initial_wait=1.0, max_wait=10.0, jitter=0.5)

    waits = [backoff_wait(policy, n, lambda low, high: high) for n in range(1, 7)]

    assert waits == [1.5, 2.5, 4.5, 8.5, 10.0, 10.0]


def test_attempts_exhausted_raise_temporary_error_with_status() -> None:
    attempt, seen = script(503)
    budget = RetryBudget()

    with pytest.raises(errors.TemporaryError) as info:
        run(attempt, budget=budget)

    assert info.value.status == 503
    assert "GET Encounter: HTTP 503 after 6 attempts" in str(info.value)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert budget.retries == 5
    assert budget.give_ups == 1


def test_503_storm_stops_when_the_budget_is_spent() -> None:
    policy = RetryPolicy(max_attempts=100, initial_wait=1.0, max_wait=30.0, jitter=0.0, total_budget=10.0)
    budget = RetryBudget(total=10.0)
    attempt, seen = script(503)
    sleeps: list[float] = []

    with pytest.raises(errors.TemporaryError) as info:
        call_with_retry(attempt, policy=policy, budget=budget, sleep=sleeps.append, clock=lambda: 0.0)

    assert info.value.status == 503
    assert "budget" in str(info.value)
    assert sleeps == [1.0, 2.0, 4.0]  # the next wait (8 s) would not fit in the 3 s left
    assert len(seen) == 4
    assert sum(sleeps) <= budget.total


def test_budget_is_shared_between_calls() -> None:
    policy = RetryPolicy(max_attempts=10, initial_wait=4.0, jitter=0.0)
    budget = RetryBudget(total=10.0)

    first, _ = script(503, 200)
    run(first, policy=policy, budget=budget, clock=lambda: 0.0)
    assert budget.remaining() == pytest.approx(6.0)
    second, seen = script(503)

    with pytest.raises(errors.TemporaryError):
        run(second, policy=policy, budget=budget, clock=lambda: 0.0)

    assert seen == [1, 2]  # waits 4 (fits, 2 s left), then 8 does not fit
    assert budget.remaining() == pytest.approx(2.0)


def test_time_spent_in_failed_attempts_is_charged() -> None:
    ticks = iter(range(0, 1000, 5))
    budget = RetryBudget(total=100.0)
    attempt, _ = script(requests.Timeout("read timed out"), 200)

    run(attempt, budget=budget, clock=lambda: float(next(ticks)))

    assert budget.spent == pytest.approx(5.0 + 0.5)


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("refused"),
        requests.ConnectTimeout("connect"),
        requests.ReadTimeout("read"),
        ChunkedEncodingError("broken"),
    ],
)
def test_network_errors_are_retried(exc: Exception) -> None:
    attempt, seen = script(exc, 200)

    result, _ = run(attempt)

    assert result.status_code == 200
    assert seen == [1, 2]


def test_network_errors_that_persist_become_server_unreachable() -> None:
    attempt, seen = script(requests.ConnectionError("http://x/fhir/Patient?name=Smith refused"))

    with pytest.raises(errors.ServerUnreachable) as info:
        run(attempt)

    assert len(seen) == 6
    assert str(info.value) == "GET Encounter: network error talking to the server after 6 attempts"
    assert "Smith" not in str(info.value)
    assert info.value.__cause__ is None


def test_tls_failures_are_not_retried() -> None:
    attempt, seen = script(SSLError("certificate verify failed"))

    with pytest.raises(errors.ServerUnreachable, match="TLS"):
        run(attempt)

    assert seen == [1]


def test_temporary_error_raised_by_the_attempt_is_retried_then_reraised() -> None:
    attempt, seen = script(errors.TemporaryError("token endpoint failed: HTTP 503", status=503))

    with pytest.raises(errors.TemporaryError, match="token endpoint"):
        run(attempt)

    assert len(seen) == 6


def test_safe_only_retries_429_and_connect_timeouts_only() -> None:
    for outcome, calls in [(429, 2), (503, 1), (requests.ConnectTimeout("c"), 2)]:
        attempt, seen = script(outcome, 200)
        run(attempt, safe_only=True)
        assert len(seen) == calls

    attempt, seen = script(requests.ReadTimeout("r"), 200)
    with pytest.raises(errors.ServerUnreachable):
        run(attempt, safe_only=True)
    assert seen == [1]


def test_counters_for_the_run_report() -> None:
    budget = RetryBudget()
    attempt, _ = script(429, requests.ConnectionError("x"), 503, 200)

    run(attempt, budget=budget)

    snapshot = budget.snapshot()
    assert snapshot["retries"] == 3
    assert snapshot["reasons"] == {"429": 1, "ConnectionError": 1, "503": 1}
    assert snapshot["waited_seconds"] == pytest.approx(0.5 + 1 + 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (" 0 ", 0.0), ("", None), (None, None), ("soon", None), ("-5", None), ("1.5", None)],
)
def test_parse_retry_after_delta_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)

    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(errors.ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(errors.ConfigError):
        RetryPolicy(max_wait=-1)


def _raised(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as caught:
            raise outer from caught
    except BaseException as exc:
        return exc


def test_describe_network_error_names_host_and_cause_without_urls_or_class_names() -> None:
    exc = _raised(
        requests.ConnectionError("GET http://h/fhir/Patient?name=Smith"), ConnectionRefusedError(111, "refused")
    )
    assert describe_network_error(exc, "127.0.0.1:8080") == "connection refused by 127.0.0.1:8080"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_raised(requests.ConnectionError("x"), socket.gaierror(-2, "Name or service not known")),
         "cannot resolve the host name fhir.example.org"),
        (requests.ConnectTimeout("x"), "no connection to fhir.example.org:443 within the connect timeout"),
        (requests.ReadTimeout("x"), "fhir.example.org:443 did not answer within the read timeout"),
        (_raised(requests.ConnectionError("x"), ConnectionResetError(104, "Connection reset by peer")),
         "connection reset by fhir.example.org:443"),
        (SSLError("certificate verify failed"), "TLS handshake with fhir.example.org:443 failed"),
        (_raised(requests.ConnectionError("x"), ssl.SSLCertVerificationError(1, "self-signed")),
         "TLS certificate of fhir.example.org:443 not trusted (set ca_bundle to the CA that signed it)"),
        (_raised(requests.ConnectionError("x"), OSError(101, "Network is unreachable")),
         "network is unreachable (fhir.example.org:443)"),
    ],
)  # fmt: skip
def test_describe_network_error_says_what_happened(exc: BaseException, expected: str) -> None:
    assert describe_network_error(exc, "fhir.example.org:443") == expected


def test_describe_network_error_finds_the_host_in_the_request_when_not_given() -> None:
    request = requests.Request("GET", "https://user:pw@fhir.example.org:8443/fhir/Patient?name=Smith").prepare()
    exc = _raised(requests.ConnectionError("x", request=request), ConnectionRefusedError(111, "refused"))
    text = describe_network_error(exc)
    assert text == "connection refused by fhir.example.org:8443"
    assert "pw" not in text and "Smith" not in text
