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

Tests under ``tests/server/`` get the ``server`` marker automatically (``pytest -m "not server"`` skips them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirpeer.embedded_server import EmbeddedServer

TEST_SERVER_ENV = "FHIRPEER_TEST_SERVER"
SERVER_TESTS_DIR = Path(__file__).parent / "server"


def external_server() -> str | None:
    """The FHIR base URL named by ``$FHIRPEER_TEST_SERVER``, if any."""
    url = os.environ.get(TEST_SERVER_ENV, "").strip()
    return url.rstrip("/") or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/server/ with ``server``."""
    for item in items:
        if item.path.is_relative_to(SERVER_TESTS_DIR):
            item.add_marker(pytest.mark.server)


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
        pytest.skip(f"{TEST_SERVER_ENV} is set: the embedded servers are not used")
    with EmbeddedServer(tmp_path_factory.mktemp("fhir-server-plain"), careteam_search_params=False) as server:
        yield server


@pytest.fixture
def test_namespace() -> str:
    """A unique identifier-system namespace for this test, e.g. ``https://fhirpeer.test/3f2a9c01b7de``."""
    return f"https://fhirpeer.test/{uuid.uuid4().hex[:12]}"
