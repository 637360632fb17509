"""Session fixtures shared by the whole test-suite.

* ``fhir_server`` / ``fhir_base_url`` — the FHIR R4 server the server tests talk to. Every test that uses it runs
  once per server kind the session starts on loopback: **sekmet** (sekmet-fhir, pip; CareTeam search parameters
  registered) and **hapi** (the HAPI FHIR JPA server of `tools/hapi-server`). `FHIRPEER_TEST_SERVER_KIND=sekmet`
  (or `hapi`) runs one kind only. `FHIRPEER_TEST_SERVER=URL` replaces both with any server (e.g. the public HAPI
  sandbox; credentials from the usual ``FHIRPEER_AUTH…`` variables). Without Java or Maven the hapi kind is skipped
  with one clear line — unless `CI` is set, where a missing server fails the run.
* ``embedded_server_without_careteam_params`` — a sekmet server as 0.1.1 ships, without CareTeam search parameters.
* ``test_namespace`` — a unique identifier namespace per test (``https://fhirpeer.test/<12 hex>``), so tests never
  collide on a shared server.
* cleanup — when ``$FHIRPEER_TEST_SERVER`` is set, after each test that used ``test_namespace`` every resource
  carrying an identifier of that namespace is deleted (dependants first; a server refusing DELETE with 403 or 405
  is left alone; nothing outside the namespace is touched).

Tests under ``tests/server/`` get the ``server`` marker automatically (``pytest -m "not server"`` skips them).
Tests marked ``embedded_only`` (they start, stop or restart sekmet servers of their own) are skipped when
``$FHIRPEER_TEST_SERVER`` is set.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fhirpeer.demo.embedded_server import EmbeddedServer
from tests.support.hapi import HapiServer, hapi_unavailable
from tests.support.inventory import delete_namespace

TEST_SERVER_ENV = "FHIRPEER_TEST_SERVER"
SERVER_KIND_ENV = "FHIRPEER_TEST_SERVER_KIND"
SERVER_KINDS = ("sekmet", "hapi")
SERVER_TESTS_DIR = Path(__file__).parent / "server"


def external_server() -> str | None:
    """The FHIR base URL named by ``$FHIRPEER_TEST_SERVER``, if any."""
    url = os.environ.get(TEST_SERVER_ENV, "").strip()
    return url.rstrip("/") or None


def under_ci() -> bool:
    return bool(os.environ.get("CI"))


def server_kinds() -> list[str]:
    """The server kinds this session runs the server tests against."""
    if external_server():
        return ["external"]
    chosen = [k.strip() for k in os.environ.get(SERVER_KIND_ENV, "").split(",") if k.strip()]
    unknown = [k for k in chosen if k not in SERVER_KINDS]
    if unknown:
        raise pytest.UsageError(f"{SERVER_KIND_ENV}: unknown server kind(s) {unknown}; use {', '.join(SERVER_KINDS)}")
    return chosen or list(SERVER_KINDS)


@dataclass(frozen=True)
class ServerUnderTest:
    """A FHIR server the session runs tests against."""

    kind: str  # sekmet | hapi | external
    base_url: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "embedded_only: needs embedded servers of its own (skipped when FHIRPEER_TEST_SERVER is set)",
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"fhirpeer test servers: {', '.join(server_kinds())}"]
    reason = hapi_unavailable()
    if "hapi" in server_kinds() and reason:
        verdict = "FAILS the run (CI is set)" if under_ci() else "skipped"
        lines.append(f"fhirpeer HAPI tier: {verdict} — {reason}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests under tests/server/ ``server``; skip ``embedded_only`` ones against another server."""
    external = external_server()
    for item in items:
        if item.path.is_relative_to(SERVER_TESTS_DIR):
            item.add_marker(pytest.mark.server)
        marker = item.get_closest_marker("embedded_only")
        if external and marker is not None:
            why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{TEST_SERVER_ENV} is set: this test needs embedded servers of its own"
                    + (f" ({why})" if why else "")
                )
            )


@pytest.fixture(scope="session", params=server_kinds())
def fhir_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerUnderTest]:
    """The server of one kind, started once for the session (tests are grouped by kind)."""
    kind = request.param
    if kind == "external":
        yield ServerUnderTest(kind, str(external_server()))
        return
    if kind == "sekmet":
        with EmbeddedServer(tmp_path_factory.mktemp("sekmet")) as server:
            yield ServerUnderTest(kind, server.base_url)
        return
    reason = hapi_unavailable()
    if reason:
        if under_ci():
            pytest.fail(f"HAPI tier cannot run under CI: {reason}", pytrace=False)
        pytest.skip(f"HAPI tier skipped: {reason}")
    with HapiServer(tmp_path_factory.mktemp("hapi")) as hapi:
        yield ServerUnderTest(kind, hapi.base_url)


@pytest.fixture(scope="session")
def fhir_base_url(fhir_server: ServerUnderTest) -> str:
    """FHIR base URL of the server under test."""
    return fhir_server.base_url


@pytest.fixture(scope="session")
def embedded_server_without_careteam_params(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EmbeddedServer]:
    """An embedded sekmet server without the CareTeam search parameters (sekmet 0.1.1 as shipped)."""
    if external_server():
        pytest.skip(
            f"{TEST_SERVER_ENV} is set: this test needs a second, embedded server without CareTeam search parameters"
        )
    with EmbeddedServer(tmp_path_factory.mktemp("fhir-server-plain"), careteam_search_params=False) as server:
        yield server


@pytest.fixture
def test_namespace() -> str:
    """A unique identifier-system namespace for this test, e.g. ``https://fhirpeer.test/3f2a9c01b7de``."""
    return f"https://fhirpeer.test/{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _clean_up_test_namespace(request: pytest.FixtureRequest) -> Iterator[None]:
    """Against ``$FHIRPEER_TEST_SERVER``: delete what this test wrote under its ``test_namespace``."""
    url = external_server()
    if not url or "test_namespace" not in request.fixturenames:
        yield
        return
    namespace = request.getfixturevalue("test_namespace")
    yield
    try:
        delete_namespace(url, namespace)
    except Exception as exc:  # cleanup must not turn a passing test into a failure; say what is left
        warnings.warn(f"cleanup of {namespace} on {url} incomplete: {type(exc).__name__}: {exc}", stacklevel=1)


@pytest.fixture(autouse=True)
def _restore_fhirpeer_logger() -> Iterator[None]:
    """The CLI configures the ``fhirpeer`` logger (own handler, no propagation); undo that after each test so
    later tests' ``caplog`` still sees fhirpeer's records."""
    logger = logging.getLogger("fhirpeer")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
