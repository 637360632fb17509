"""Session fixtures shared by the whole test-suite.

* ``fhir_base_url`` — the FHIR R4 base URL the server tests talk to: ``$FHIRPEER_TEST_SERVER`` when set (any
  server, e.g. the public HAPI sandbox; credentials come from the usual ``FHIRPEER_AUTH…`` variables),
  otherwise one embedded sekmet server (CareTeam search parameters registered) started in a temporary
  directory for the whole session and stopped at its end.
* ``embedded_server_without_careteam_params`` — a second embedded server (an ``EmbeddedServer``), as
  sekmet 0.1.1 ships, without CareTeam search parameters; tests using it are skipped when
  ``$FHIRPEER_TEST_SERVER`` is set.
* ``test_namespace`` — a unique identifier namespace per test (``https://fhirpeer.test/<12 hex>``), so
  tests never collide on a shared server.
* cleanup — when ``$FHIRPEER_TEST_SERVER`` is set, after each test that used ``test_namespace`` every resource
  carrying an identifier of that namespace is deleted (dependants first; a server refusing DELETE with 403
  or 405 is left alone; nothing outside the namespace is touched).

Tests under ``tests/server/`` get the ``server`` marker automatically (``pytest -m "not server"`` skips them).
Tests marked ``embedded_only`` (they start, stop or restart embedded servers of their own) are skipped when
``$FHIRPEER_TEST_SERVER`` is set.

Against another server (credentials, if any, from ``FHIRPEER_AUTH…``)::

    FHIRPEER_TEST_SERVER=https://hapi.fhir.org/baseR4 pytest -m server
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirpeer.embedded_server import EmbeddedServer
from tests.support.inventory import delete_namespace

TEST_SERVER_ENV = "FHIRPEER_TEST_SERVER"
SERVER_TESTS_DIR = Path(__file__).parent / "server"


def external_server() -> str | None:
    """The FHIR base URL named by ``$FHIRPEER_TEST_SERVER``, if any."""
    url = os.environ.get(TEST_SERVER_ENV, "").strip()
    return url.rstrip("/") or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "embedded_only: needs embedded servers of its own (skipped when FHIRPEER_TEST_SERVER is set)",
    )


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


@pytest.fixture(scope="session")
def fhir_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """FHIR base URL for server tests: ``$FHIRPEER_TEST_SERVER`` or a session-wide embedded server."""
    url = external_server()
    if url:
        yield url
        return
    with EmbeddedServer(tmp_path_factory.mktemp("fhir-server")) as server:
        yield server.base_url


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
    """Commands configure the ``fhirpeer`` logger (own handler, no propagation); undo that after each test
    so later tests' ``caplog`` still sees fhirpeer's records."""
    logger = logging.getLogger("fhirpeer")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
